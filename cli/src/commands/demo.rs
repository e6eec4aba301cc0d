//! `elo demo`: three companies (a matriz and two filiais) as real `elo node`
//! processes in temporary directories on 127.0.0.1. It shows the main job:
//! a customer created at the matriz appears at both filiais; one filial
//! stops; both sides edit the same customer (different fields) and add
//! records; the filial restarts and catches up; all three print the same
//! record. Prints what happens and how long each step took, cleans up.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use elo_crdt::Kind;
use elo_node::DataDir;
use elo_node::credit::CreditChange;
use serde_json::{Value, json};

use crate::api;
use crate::client::Client;

const WAIT: Duration = Duration::from_secs(30);

struct DemoNode {
    name: &'static str,
    data: DataDir,
    child: Option<Child>,
    api: Option<Client>,
}

impl DemoNode {
    fn new(name: &'static str, data: DataDir) -> DemoNode {
        DemoNode {
            name,
            data,
            child: None,
            api: None,
        }
    }

    fn start(&mut self) -> Result<()> {
        let exe = std::env::current_exe().context("finding the elo executable")?;
        let mut child = Command::new(exe)
            .arg("--data")
            .arg(self.data.root())
            .args([
                "--json",
                "node",
                "--api",
                "127.0.0.1:0",
                "--listen",
                "/ip4/127.0.0.1/tcp/0",
                "--no-mdns",
            ])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .context("starting elo node")?;
        let stdout = child.stdout.take().context("node output")?;
        let mut line = String::new();
        BufReader::new(stdout).read_line(&mut line)?;
        let v: Value = serde_json::from_str(&line)
            .with_context(|| format!("{} printed {line:?}", self.name))?;
        let api = v["api"].as_str().context("node address")?;
        self.api = Some(Client::connect(api, self.data.api_token()?));
        self.child = Some(child);
        Ok(())
    }

    fn stop(&mut self) -> Result<()> {
        self.api = None;
        if let Some(mut child) = self.child.take() {
            let _ = Command::new("kill")
                .arg("-TERM")
                .arg(child.id().to_string())
                .status();
            let deadline = Instant::now() + Duration::from_secs(10);
            while child.try_wait()?.is_none() {
                if Instant::now() > deadline {
                    let _ = child.kill();
                    break;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = child.wait();
        }
        Ok(())
    }

    fn api(&self) -> Result<&Client> {
        self.api.as_ref().context("node not running")
    }
}

impl Drop for DemoNode {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

fn wait_for(
    what: &str,
    started: Instant,
    mut ok: impl FnMut() -> Result<bool>,
) -> Result<Duration> {
    loop {
        if ok()? {
            return Ok(started.elapsed());
        }
        if started.elapsed() > WAIT {
            bail!("{what}: not done after {} s", WAIT.as_secs());
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

fn ms(d: Duration) -> String {
    format!("{:.0} ms", d.as_secs_f64() * 1e3)
}

const CPF: &str = "529.982.247-25";

/// `elo demo`: in a temporary folder removed at the end, or with
/// `--data DIR` in DIR (new or empty), kept for a look afterwards.
pub fn run(kept_in: Option<std::path::PathBuf>, json_out: bool) -> Result<()> {
    let Some(dir) = kept_in else {
        let dir = tempfile_dir()?;
        let result = demo(dir.path(), json_out);
        drop(dir);
        return result;
    };
    let empty = match std::fs::read_dir(&dir) {
        Ok(mut entries) => entries.next().is_none(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => true,
        Err(e) => {
            return Err(anyhow::Error::new(e).context(format!("reading {}", dir.display())));
        }
    };
    if !empty {
        bail!(
            "--data {}: the demo makes its three companies in a new or empty folder, and this one holds files",
            dir.display()
        );
    }
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    demo(&dir, json_out)?;
    if !json_out {
        println!(
            "the demo's companies are kept in {} (matriz, filial1, filial2): try `elo --data {}/matriz status`",
            dir.display(),
            dir.display()
        );
    }
    Ok(())
}

fn tempfile_dir() -> Result<TempDir> {
    let base = std::env::temp_dir().join(format!("elo-demo-{}", std::process::id()));
    std::fs::create_dir_all(&base)?;
    Ok(TempDir(base))
}

/// A folder removed on drop.
struct TempDir(std::path::PathBuf);

impl TempDir {
    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The three companies of the demo and how to tell what happens.
struct Demo {
    json_out: bool,
    matriz: DemoNode,
    filiais: Vec<DemoNode>,
}

impl Demo {
    fn say(&self, s: String) {
        if !self.json_out {
            println!("{s}");
        }
    }

    fn all(&self) -> impl Iterator<Item = &DemoNode> {
        std::iter::once(&self.matriz).chain(self.filiais.iter())
    }
}

fn demo(dir: &Path, json_out: bool) -> Result<()> {
    let total = Instant::now();
    let mut demo = start_group(dir, json_out)?;
    customer_reaches_filiais(&demo)?;
    codes_from_blocks(&demo)?;
    edit_while_apart(&mut demo)?;
    catch_up(&mut demo)?;
    credit_and_stock(&demo)?;
    order_comes_back_invoiced(&demo)?;
    all_agree(&demo, total)?;
    demo.matriz.stop()?;
    for f in &mut demo.filiais {
        f.stop()?;
    }
    Ok(())
}

/// The matriz founds the group; two filiais join with one-line invites.
fn start_group(dir: &Path, json_out: bool) -> Result<Demo> {
    let rt = tokio::runtime::Runtime::new()?;
    let mut matriz = DemoNode::new("matriz", DataDir::new(dir.join("matriz")));
    matriz
        .data
        .init("11.222.333/0001-81", "Matriz Comércio Ltda")?;
    matriz.start()?;
    let mut demo = Demo {
        json_out,
        matriz,
        filiais: Vec::new(),
    };
    demo.say(format!(
        "matriz   11.222.333/0001-81 running in {}",
        demo.matriz.data.root().display()
    ));
    for (name, cnpj, label) in [
        ("filial 1", "11.444.777/0001-61", "Filial Recife"),
        ("filial 2", "45.723.174/0001-10", "Filial Natal"),
    ] {
        let invite = api::invite(demo.matriz.api()?, Vec::new(), 1)?;
        let invite = elo_net::invite::Invite::decode(invite["invite"].as_str().unwrap_or(""))?;
        let data = DataDir::new(dir.join(name.replace(' ', "")));
        let joined = rt.block_on(elo_node::join::join(&data, &invite, cnpj, label, |_, _| {}))?;
        let mut node = DemoNode::new(name, data);
        node.start()?;
        demo.say(format!(
            "{name} {cnpj} joined with a one-line invite in {}",
            ms(joined.took)
        ));
        demo.filiais.push(node);
    }
    // One invite is enough: every company takes in every member's records
    // unless it keeps one out (`elo revoke-authorization`).
    demo.say("no pair to authorise: each invite was enough".to_string());
    Ok(demo)
}

/// 1. A customer created at the matriz appears at both filiais.
fn customer_reaches_filiais(demo: &Demo) -> Result<()> {
    let t = Instant::now();
    api::put(
        demo.matriz.api()?,
        Kind::Customer,
        None,
        &json!({"cpf": CPF, "name": "Ana Souza", "city": "São Paulo", "state": "SP", "credit_limit": "5000.00"}),
    )?;
    for f in &demo.filiais {
        let took = wait_for(f.name, t, || {
            Ok(api::get(f.api()?, Kind::Customer, CPF)?.is_some())
        })?;
        demo.say(format!(
            "customer created at the matriz is at {} after {}",
            f.name,
            ms(took)
        ));
    }
    Ok(())
}

/// The matriz founded the group, so it is the primary: it hands each
/// company its own block of codes, and codes drawn anywhere never clash.
fn codes_from_blocks(demo: &Demo) -> Result<()> {
    let primary = api::node_request(
        demo.matriz.api()?,
        "GET",
        "/v1/primary",
        None,
        "for the primary",
    )?;
    let mut drawn = Vec::new();
    for node in demo.all() {
        let path = "/v1/ids/order/next?count=3";
        let v = api::node_request(node.api()?, "POST", path, None, "for codes")?;
        drawn.push(format!("{} {}", node.name, v["codes"]));
    }
    demo.say(format!(
        "primary: {} (term {}); order codes drawn at each company from its own block: {}",
        primary["primary"]["company"].as_str().unwrap_or("?"),
        primary["primary"]["term"],
        drawn.join(", ")
    ));
    Ok(())
}

/// 2. Filial 2 stops; both sides edit the customer and add records.
fn edit_while_apart(demo: &mut Demo) -> Result<()> {
    demo.filiais[1].stop()?;
    demo.say("filial 2 stops (offline)".to_string());
    let matriz = demo.matriz.api()?;
    api::put(
        matriz,
        Kind::Customer,
        Some(CPF),
        &json!({"city": "Recife", "state": "PE"}),
    )?;
    api::put(
        matriz,
        Kind::Product,
        None,
        &json!({"sku": "PAR-10", "description": "Parafuso 10 mm", "sale_price": "0.35"}),
    )?;
    edit_at_stopped_filial(&demo.filiais[1].data)?;
    api::credit(matriz, CPF, Some(CreditChange::Charge(200_000)))?;
    api::set_stock(
        matriz,
        vec![json!({"sku": "PAR-10", "quantity": "1000", "reserved": "50"})],
    )?;
    demo.say("while apart: the matriz moves Ana to Recife, adds a product, sells her 2000.00 on credit and counts 1000 screws; filial 2 records Ana's phone and e-mail, a new customer, a 1200.00 sale on credit and 300 screws".to_string());
    Ok(())
}

/// Filial 2 works with its node stopped: the same requests, served in this
/// process over its store.
fn edit_at_stopped_filial(data: &DataDir) -> Result<()> {
    let offline = Client::open(data)?;
    api::put(
        &offline,
        Kind::Customer,
        Some(CPF),
        &json!({"mobile_phone": "(84) 99876-5432", "email": "ana@exemplo.com.br"}),
    )?;
    api::put(
        &offline,
        Kind::Customer,
        None,
        &json!({"cpf": "111.444.777-35", "name": "Bruno Lima"}),
    )?;
    // Ana buys on credit at filial 2 while it is offline; her credit is
    // one limit for the whole group.
    api::credit(&offline, CPF, Some(CreditChange::Charge(120_000)))?;
    api::set_stock(&offline, vec![json!({"sku": "PAR-10", "quantity": "300"})])?;
    // Closed before the node starts again: one process holds the store.
    offline.close()
}

/// 3. Filial 2 comes back and catches up, both ways.
fn catch_up(demo: &mut Demo) -> Result<()> {
    let t = Instant::now();
    demo.filiais[1].start()?;
    let (matriz, filiais) = (&demo.matriz, &demo.filiais);
    let took = wait_for("catch-up", t, || {
        let at_filial = api::get(filiais[1].api()?, Kind::Customer, CPF)?;
        let at_matriz = api::get(matriz.api()?, Kind::Customer, CPF)?;
        let product = api::get(filiais[1].api()?, Kind::Product, "PAR-10")?;
        let bruno = api::get(filiais[0].api()?, Kind::Customer, "111.444.777-35")?;
        Ok(at_filial.is_some_and(|r| r["city"] == "Recife")
            && at_matriz.is_some_and(|r| r["email"] == "ana@exemplo.com.br")
            && product.is_some()
            && bruno.is_some())
    })?;
    demo.say(format!(
        "filial 2 restarts and everyone has caught up after {} (restart included)",
        ms(took)
    ));
    Ok(())
}

/// Both sales count against Ana's one limit; both counts in the stock.
fn credit_and_stock(demo: &Demo) -> Result<()> {
    let filial = demo.filiais[0].api()?;
    let t = Instant::now();
    wait_for("credit and stock", t, || {
        let credit = api::credit(filial, CPF, None)?;
        let stock = api::stock(filial, "PAR-10", false)?;
        Ok(credit["used"] == "3200.00" && stock["total"]["quantity"] == "1300.000")
    })?;
    let credit = api::credit(filial, CPF, None)?;
    let stock = api::stock(filial, "PAR-10", false)?;
    demo.say(format!(
        "at filial 1: Ana's credit limit {}, used {} (both sales count), available {}; screws in the group {} ({} reserved)",
        credit["limit"].as_str().unwrap_or("?"),
        credit["used"].as_str().unwrap_or("?"),
        credit["available"].as_str().unwrap_or("?"),
        stock["total"]["quantity"].as_str().unwrap_or("?"),
        stock["total"]["reserved"].as_str().unwrap_or("?")
    ));
    Ok(())
}

/// 4. An order of filial 1, sent to the matriz, comes back invoiced.
///
/// Filial 1 takes an order it cannot fulfil and sends it to the matriz,
/// which invoices it; no other company ever holds it.
fn order_comes_back_invoiced(demo: &Demo) -> Result<()> {
    let (filial, matriz) = (demo.filiais[0].api()?, demo.matriz.api()?);
    let order = json!({"date": "2026-12-01", "customer": CPF, "status": "approved",
        "delivery": {"name": "Ana Souza", "city": "São Paulo", "state": "SP"},
        "channel": {"id": "site", "name": "Loja virtual"},
        "items": [{"sku": "PAR-10", "description": "Parafuso", "quantity": "100", "unit_price": "0,35"}]});
    let created = api::create_order(filial, &order)?;
    let key = created["key"].as_str().unwrap_or("1").to_string();
    let t = Instant::now();
    let sent = api::order_action(filial, &key, "send", &json!({"to": "11.222.333/0001-81"}))?;
    let link = sent["link"]["id"].as_str().unwrap_or("?").to_string();
    let mut at_matriz = String::new();
    let took = wait_for("the order at the matriz", t, || {
        let page = api::orders(matriz, None, Some("received"), None, 10)?;
        at_matriz = page["orders"][0]["key"].as_str().unwrap_or("").to_string();
        Ok(!at_matriz.is_empty())
    })?;
    demo.say(format!(
        "order {key} of filial 1 sent to the matriz (link {}), there as its order {at_matriz} after {}",
        &link[..8.min(link.len())],
        ms(took)
    ));
    // The key the matriz's ERP would report: SP, December 2026, NF-e 42.
    let access_key = elo_crdt::order::access_key::compose(elo_crdt::order::access_key::KeyParts {
        uf: "35",
        aamm: "2612",
        emitter_cnpj: "11222333000181",
        model: "55",
        series: 1,
        number: 42,
    });
    let t = Instant::now();
    api::order_action(
        matriz,
        &at_matriz,
        "invoice",
        &json!({"number": 42, "series": 1, "access_key": access_key, "issued_at": "2026-12-02"}),
    )?;
    let took = wait_for("the invoice at filial 1", t, || {
        Ok(api::order(filial, &key)?.is_some_and(|o| o["status"] == "invoiced"))
    })?;
    let others = api::orders(demo.filiais[1].api()?, None, None, None, 10)?;
    demo.say(format!(
        "the matriz invoiced it (NF-e 42); filial 1's order shows invoiced after {}; filial 2 holds {} orders",
        ms(took),
        others["orders"].as_array().map_or(0, Vec::len)
    ));
    Ok(())
}

/// 5. All three hold the same record.
fn all_agree(demo: &Demo, total: Instant) -> Result<()> {
    let mut records = Vec::new();
    for node in demo.all() {
        let mut r = api::get(node.api()?, Kind::Customer, CPF)?.context("record missing")?;
        if let Value::Object(m) = &mut r {
            m.remove("seq");
        }
        records.push((node.name, r));
    }
    let same = records.windows(2).all(|w| w[0].1 == w[1].1);
    for (name, r) in &records {
        demo.say(format!("{name:<8} {r}"));
    }
    if !same {
        bail!("the three companies disagree");
    }
    demo.say(format!(
        "all three agree. demo finished in {:.1} s; stopping the nodes.",
        total.elapsed().as_secs_f64()
    ));
    if demo.json_out {
        println!(
            "{}",
            json!({ "agree": same, "record": records[0].1, "seconds": total.elapsed().as_secs_f64() })
        );
    }
    Ok(())
}
