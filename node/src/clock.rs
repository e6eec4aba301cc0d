//! The wall clock, in the milliseconds every record and message carries.

use std::time::{SystemTime, UNIX_EPOCH};

/// A length of time as a person reads it: `45 s`, `12 min`, `6 h 5 min`,
/// `3 d 2 h`.
pub fn span_text(ms: i64) -> String {
    let s = ms.max(0) / 1000;
    let (d, h, m) = (s / 86_400, s % 86_400 / 3600, s % 3600 / 60);
    match (d, h, m) {
        (0, 0, 0) => format!("{s} s"),
        (0, 0, m) => format!("{m} min"),
        (0, h, 0) => format!("{h} h"),
        (0, h, m) => format!("{h} h {m} min"),
        (d, 0, _) => format!("{d} d"),
        (d, h, _) => format!("{d} d {h} h"),
    }
}

/// Milliseconds since the Unix epoch (0 if the clock is before it).
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

#[cfg(test)]
mod tests {
    #[test]
    fn spans_read_as_a_person_says_them() {
        let min = 60_000;
        let cases = [
            (1_500, "1 s"),
            (12 * min, "12 min"),
            (6 * 60 * min, "6 h"),
            (6 * 60 * min + 5 * min, "6 h 5 min"),
            (2 * 1440 * min, "2 d"),
            (3 * 1440 * min + 2 * 60 * min + 7 * min, "3 d 2 h"),
            (-5, "0 s"),
        ];
        for (ms, text) in cases {
            assert_eq!(super::span_text(ms), text);
        }
    }
}
