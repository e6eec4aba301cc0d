//! The records PouchDB, Redis and automerge-repo were measured with, in
//! elo's schema, so elo's figures compare with theirs: record `i` is the
//! same JSON (fields, values) as `peer_records.py` makes for `i` (a
//! deterministic mulberry32 stream per record, a fixed word list). Two
//! thirds customers (CNPJ, address, two phones, tags, a credit limit), one
//! third products (SKU, unit, price, NCM, suppliers), each with 70–190
//! words of notes; fields elo has no column for go to `extra`.

use serde_json::{Value, json};

const WORDS: &str = "alpha beta gamma delta rua avenida centro norte sul leste oeste loja filial matriz \
cliente produto estoque preco fiscal nota pedido entrega cobranca boleto pix cartao credito \
debito parcela desconto promocao caixa balcao gerente vendedor fornecedor transporte frete \
armazem prateleira codigo barras unidade pacote caixa litro quilo metro servico garantia \
sao paulo rio janeiro belo horizonte curitiba porto alegre recife salvador fortaleza manaus \
goiania campinas santos londrina joinville blumenau maringa uberlandia sorocaba ribeirao";

/// mulberry32: the generator the peers' records were drawn from.
struct Draw {
    state: u32,
    words: Vec<&'static str>,
}

impl Draw {
    fn new(i: u64) -> Draw {
        Draw {
            state: (i.wrapping_mul(2_654_435_761).wrapping_add(12_345)) as u32,
            words: WORDS.split(' ').collect(),
        }
    }

    /// The next number in [0, 1).
    fn next(&mut self) -> f64 {
        self.state = self.state.wrapping_add(0x6D2B_79F5);
        let mut t = self.state;
        t = (t ^ (t >> 15)).wrapping_mul(t | 1);
        t ^= t.wrapping_add((t ^ (t >> 7)).wrapping_mul(t | 61));
        f64::from(t ^ (t >> 14)) / 4_294_967_296.0
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() * n as f64) as usize
    }

    fn words(&mut self, n: usize) -> String {
        let picked: Vec<&str> = (0..n)
            .map(|_| {
                let at = self.below(self.words.len());
                self.words[at]
            })
            .collect();
        picked.join(" ")
    }

    fn digits(&mut self, n: usize) -> String {
        (0..n)
            .map(|_| char::from(b'0' + self.below(10) as u8))
            .collect()
    }

    /// A money amount of up to `scale / 100` with two places, rounded as
    /// Python's `round` does (half to even).
    fn amount(&mut self, scale: f64) -> String {
        format!("{:.2}", (self.next() * scale).round_ties_even() / 100.0)
    }
}

/// A CNPJ's 14 digits from its first 12 (the two check digits appended).
fn cnpj_from(first12: &str) -> String {
    let mut d: Vec<u32> = first12.chars().filter_map(|c| c.to_digit(10)).collect();
    for weights in [
        &[5, 4, 3, 2, 9, 8, 7, 6, 5, 4, 3, 2][..],
        &[6, 5, 4, 3, 2, 9, 8, 7, 6, 5, 4, 3, 2][..],
    ] {
        let sum: u32 = d.iter().zip(weights).map(|(x, w)| x * w).sum();
        let r = sum % 11;
        d.push(if r < 2 { 0 } else { 11 - r });
    }
    d.iter().map(|x| char::from(b'0' + *x as u8)).collect()
}

/// `YYYY-MM-DDTHH:MM:SS.mmmZ` of milliseconds since 1970 (UTC).
fn iso(ms: u64) -> String {
    let secs = ms / 1000;
    let days = (secs / 86_400) as i64;
    let (h, m, s) = (secs % 86_400 / 3600, secs % 3600 / 60, secs % 60);
    // Days to a civil date (proleptic Gregorian), after H. Hinnant.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{h:02}:{m:02}:{s:02}.{:03}Z",
        ms % 1000
    )
}

/// Record `i`: its kind (`customer` or `product`) and its JSON.
pub fn record(i: u64) -> (&'static str, Value) {
    let mut r = Draw::new(i);
    let is_customer = !i.is_multiple_of(3);
    let name = r.words(3);
    let created = iso(1_700_000_000_000 + i * 1000);
    let balance = r.amount(1e6);
    let mut extra = json!({
        "record_id": format!("rec-{i:08}"), "company": format!("grp-{}", i % 7),
        "branch": format!("br-{}", i % 23), "created_at": created,
        "updated_at": created, "balance": balance,
    });
    let (kind, mut rec) = if is_customer {
        let tax = r.digits(14);
        let email = format!("{}.{}@example.com", r.words(1), r.digits(4));
        let phones = [r.digits(11), r.digits(11)];
        let (street, number, city, zip) = (r.words(3), r.digits(4), r.words(2), r.digits(8));
        extra["tags"] = Value::String(r.words(6).replace(' ', ","));
        let credit = r.amount(1e7);
        let rec = json!({
            "cnpj": cnpj_from(&format!("{i:08}{}", &tax[8..12])), "name": name,
            "email": email, "mobile_phone": phones[0], "business_phone": phones[1],
            "street": street, "number": number, "city": city, "state": "SP",
            "zip_code": zip, "credit_limit": credit,
        });
        ("customer", rec)
    } else {
        let sku = r.digits(13);
        let unit = ["UN", "KG", "LT", "CX"][r.below(4)];
        let price = r.amount(1e5);
        extra["stock"] = Value::String(r.below(10_000).to_string());
        let ncm = r.digits(8);
        let suppliers = [r.words(2), r.words(2)];
        extra["suppliers"] = Value::String(suppliers.join(";"));
        let rec = json!({
            "sku": format!("P{i:08}-{sku}"), "description": name, "unit": unit,
            "sale_price": price, "ncm": ncm,
        });
        ("product", rec)
    };
    let notes = 70 + r.below(120);
    rec["notes"] = Value::String(r.words(notes));
    rec["extra"] = extra;
    (kind, rec)
}

/// Record `i`'s key as elo names it in a path (`cnpj:…` or `sku:…`) and
/// its document id.
pub fn key(i: u64) -> (&'static str, String) {
    let (kind, rec) = record(i);
    let key = match kind {
        "customer" => format!("cnpj:{}", rec["cnpj"].as_str().unwrap_or_default()),
        _ => format!("sku:{}", rec["sku"].as_str().unwrap_or_default()),
    };
    (kind, key)
}

/// Writes records `from..to` of each kind as JSON lines in `dir`, for `elo
/// import`; the paths of the customers' file and the products' file.
pub fn write_jsonl(dir: &std::path::Path, from: u64, to: u64) -> (String, String) {
    use std::io::Write;
    let paths = (dir.join("customers.jsonl"), dir.join("products.jsonl"));
    let open = |p: &std::path::Path| {
        std::io::BufWriter::new(std::fs::File::create(p).expect("create a records file"))
    };
    let (mut c, mut p) = (open(&paths.0), open(&paths.1));
    for i in from..to {
        let (kind, rec) = record(i);
        let w = if kind == "customer" { &mut c } else { &mut p };
        writeln!(w, "{rec}").expect("write a records file");
    }
    c.flush().expect("flush a records file");
    p.flush().expect("flush a records file");
    let s = |p: &std::path::Path| p.to_string_lossy().to_string();
    (s(&paths.0), s(&paths.1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_and_check_digits_are_those_of_the_generator() {
        assert_eq!(iso(1_700_000_000_000), "2023-11-14T22:13:20.000Z");
        assert_eq!(iso(951_782_400_000), "2000-02-29T00:00:00.000Z");
        // 11.222.333/0001-81 is a valid CNPJ.
        assert_eq!(cnpj_from("112223330001"), "11222333000181");
    }

    #[test]
    fn records_have_the_peers_shape() {
        let (kind, c) = record(1);
        assert_eq!(kind, "customer");
        assert_eq!(c["cnpj"].as_str().map(str::len), Some(14));
        assert!(c["extra"]["tags"].as_str().is_some_and(|t| t.contains(',')));
        let (kind, p) = record(3);
        assert_eq!(kind, "product");
        assert!(
            p["sku"]
                .as_str()
                .is_some_and(|s| s.starts_with("P00000003-"))
        );
        let bytes: usize = (0..300).map(|i| record(i).1.to_string().len()).sum();
        assert!((1300..1700).contains(&(bytes / 300)), "{} B", bytes / 300);
    }
}
