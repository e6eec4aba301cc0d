//! How the command line shows things to people (records, members, sharing
//! policies, times, progress bars) and, with `--json`, to scripts (one JSON
//! value per line). Commands decide what to show; this decides how.

use std::io::IsTerminal;

use serde_json::Value;

/// One line per member: connected or last seen, how far behind, its
/// address and the last error talking to it.
pub fn print_members(s: &Value) {
    let members = s["members"].as_array().cloned().unwrap_or_default();
    if !members.is_empty() {
        println!("members:");
    }
    for m in members {
        let state = if m["connected"] == true {
            "connected".to_string()
        } else {
            match m["last_seen_ms"].as_i64() {
                Some(t) => format!("last seen {}", format_time(t)),
                None => "not connected".into(),
            }
        };
        println!(
            "  {} {:<24} {:<32} behind {:<6} {}{}",
            cell(&m["company"]),
            clean(m["name"].as_str().unwrap_or("")),
            state,
            m["behind"].as_u64().unwrap_or(0),
            clean(m["address"].as_str().unwrap_or("")),
            m["last_error"]
                .as_str()
                .map(|e| format!("  error: {}", clean(e)))
                .unwrap_or_default()
        );
    }
}

/// Text as one table cell: control characters (a newline in a name, a
/// tab, an escape sequence) shown escaped, so that a row stays one line
/// and a value cannot move the terminal's cursor.
pub fn clean(text: &str) -> String {
    if !text.chars().any(char::is_control) {
        return text.to_string();
    }
    text.chars()
        .map(|c| {
            if c.is_control() {
                c.escape_default().to_string()
            } else {
                c.to_string()
            }
        })
        .collect()
}

/// A JSON value as one table cell: text cleaned, numbers as they are,
/// nothing as `-`. A string, so that column widths apply (a `Value`'s
/// `Display` ignores them).
pub fn cell(v: &Value) -> String {
    match v {
        Value::String(s) => clean(s),
        Value::Null => "-".to_string(),
        other => clean(&other.to_string()),
    }
}

pub fn progress_bar(hidden: bool, message: &str) -> indicatif::ProgressBar {
    if hidden || !std::io::stderr().is_terminal() {
        return indicatif::ProgressBar::hidden();
    }
    let bar = indicatif::ProgressBar::new(0);
    bar.set_style(
        indicatif::ProgressStyle::with_template("{spinner} {msg} [{bar:30}] {pos}/{len}")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    bar.set_message(message.to_string());
    bar
}

pub fn print_json(v: &Value) {
    println!("{v}");
}

pub fn show_record(r: &Value, json_out: bool) {
    if json_out {
        print_json(r);
    } else {
        println!("{}", serde_json::to_string_pretty(r).unwrap_or_default());
    }
}

/// A record's name or description, as one table cell.
pub fn title(r: &Value) -> String {
    clean(
        r["name"]
            .as_str()
            .or_else(|| r["description"].as_str())
            .unwrap_or(""),
    )
}

pub fn format_time(ms: i64) -> String {
    let secs = ms.div_euclid(1000);
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02} UTC",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// Days since 1970-01-01 to a calendar date (proleptic Gregorian).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

/// Prints a company's sharing policy.
pub fn show_policy(p: &Value, json_out: bool) {
    if json_out {
        print_json(p);
        return;
    }
    let text = |v: &Value| clean(v.as_str().unwrap_or("?"));
    println!("sends:      {}", text(&p["sends"]));
    println!("receives:   {}", text(&p["receives"]));
    let list = |v: &Value| v.as_array().cloned().unwrap_or_default();
    let restricted: Vec<String> = list(&p["restricted"]).iter().map(text).collect();
    println!(
        "restricted: {}",
        if restricted.is_empty() {
            "none".to_string()
        } else {
            restricted.join(",")
        }
    );
    println!("receives from:");
    for a in list(&p["authorized"]) {
        println!(
            "  {} {} ({})",
            text(&a["company"]),
            text(&a["name"]),
            text(&a["categories"])
        );
    }
    print_pending(&p["pending"]);
}

/// Members waiting for this company's authorisation.
/// The records members hold back because this company keeps their creators
/// out, and what to do.
pub fn print_withheld(withheld: &Value) {
    let Some(list) = withheld.as_array().filter(|l| !l.is_empty()) else {
        return;
    };
    println!("withheld (members hold these records back from this company):");
    for w in list {
        println!(
            "  {} records created by {} {}: {}",
            cell(&w["records"]),
            cell(&w["company"]),
            cell(&w["name"]),
            cell(&w["what_to_do"]),
        );
    }
}

pub fn print_pending(pending: &Value) {
    let Some(list) = pending.as_array().filter(|l| !l.is_empty()) else {
        return;
    };
    println!("pending (they send, this company has not authorised them):");
    for p in list {
        println!(
            "  {} {} offers {}: elo authorize --from {}",
            cell(&p["company"]),
            cell(&p["name"]),
            cell(&p["categories"]),
            cell(&p["company"]),
        );
    }
}
