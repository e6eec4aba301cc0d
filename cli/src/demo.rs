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
use serde_json::{Value, json};

use crate::access::{Access, ApiClient};

const WAIT: Duration = Duration::from_secs(30);

struct DemoNode {
    name: &'static str,
    data: DataDir,
    child: Option<Child>,
    api: Option<Access>,
}

impl DemoNode {
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
        self.api = Some(Access::Api(ApiClient::new(api, self.data.api_token()?)));
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

    fn api(&self) -> Result<&Access> {
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

pub fn run(json_out: bool) -> Result<()> {
    let dir = tempfile_dir()?;
    let result = demo(dir.path(), json_out);
    drop(dir);
    result
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

fn demo(dir: &Path, json_out: bool) -> Result<()> {
    let say = |s: String| {
        if !json_out {
            println!("{s}");
        }
    };
    let total = Instant::now();
    let rt = tokio::runtime::Runtime::new()?;
    let mut matriz = DemoNode {
        name: "matriz",
        data: DataDir::new(dir.join("matriz")),
        child: None,
        api: None,
    };
    matriz
        .data
        .init("11.222.333/0001-81", "Matriz Comércio Ltda")?;
    matriz.start()?;
    say(format!(
        "matriz   11.222.333/0001-81 running in {}",
        matriz.data.root().display()
    ));
    let mut filiais = Vec::new();
    for (name, cnpj, label) in [
        ("filial 1", "11.444.777/0001-61", "Filial Recife"),
        ("filial 2", "45.723.174/0001-10", "Filial Natal"),
    ] {
        let invite = matriz.api()?.invite(Vec::new(), 1)?;
        let invite = elo_net::invite::Invite::decode(invite["invite"].as_str().unwrap_or(""))?;
        let data = DataDir::new(dir.join(name.replace(' ', "")));
        let joined = rt.block_on(elo_node::join::join(&data, &invite, cnpj, label, |_, _| {}))?;
        let mut node = DemoNode {
            name,
            data,
            child: None,
            api: None,
        };
        node.start()?;
        say(format!(
            "{name} {cnpj} joined with a one-line invite in {}",
            ms(joined.took)
        ));
        filiais.push(node);
    }
    // Each company receives only from companies it authorised: a filial
    // authorises the members present when it joins, and the matriz
    // authorises whom it invites. Filial 1 accepts filial 2 here.
    filiais[0]
        .api()?
        .policy(crate::access::PolicyChange::Authorize {
            from: "45.723.174/0001-10".into(),
            categories: "all".into(),
        })?;
    say("filial 1 authorises receiving from filial 2 (each pair is authorised once)".to_string());

    // 1. A customer created at the matriz appears at both filiais.
    let t = Instant::now();
    matriz.api()?.put(
        Kind::Customer,
        None,
        &json!({"cpf": CPF, "name": "Ana Souza", "city": "São Paulo", "state": "SP", "credit_limit": "5000.00"}),
    )?;
    for f in &filiais {
        let took = wait_for(f.name, t, || {
            Ok(f.api()?.get(Kind::Customer, CPF)?.is_some())
        })?;
        say(format!(
            "customer created at the matriz is at {} after {}",
            f.name,
            ms(took)
        ));
    }

    // The matriz founded the group, so it is the primary: it hands each
    // company its own block of codes, and codes drawn anywhere never clash.
    let primary = matriz
        .api()?
        .node_request("GET", "/v1/primary", None, "for the primary")?;
    let mut drawn = Vec::new();
    for node in std::iter::once(&matriz).chain(filiais.iter()) {
        let v =
            node.api()?
                .node_request("POST", "/v1/ids/order/next?count=3", None, "for codes")?;
        drawn.push(format!("{} {}", node.name, v["codes"]));
    }
    say(format!(
        "primary: {} (term {}); order codes drawn at each company from its own block: {}",
        primary["primary"]["company"].as_str().unwrap_or("?"),
        primary["primary"]["term"],
        drawn.join(", ")
    ));

    // 2. Filial 2 stops; both sides edit the customer and add records.
    filiais[1].stop()?;
    say("filial 2 stops (offline)".to_string());
    matriz.api()?.put(
        Kind::Customer,
        Some(CPF),
        &json!({"city": "Recife", "state": "PE"}),
    )?;
    matriz.api()?.put(
        Kind::Product,
        None,
        &json!({"sku": "PAR-10", "description": "Parafuso 10 mm", "sale_price": "0.35"}),
    )?;
    {
        let offline = Access::open(&filiais[1].data)?;
        offline.put(
            Kind::Customer,
            Some(CPF),
            &json!({"mobile_phone": "(84) 99876-5432", "email": "ana@exemplo.com.br"}),
        )?;
        offline.put(
            Kind::Customer,
            None,
            &json!({"cpf": "111.444.777-35", "name": "Bruno Lima"}),
        )?;
        // Ana buys on credit at filial 2 while it is offline; her credit is
        // one limit for the whole group.
        offline.credit(CPF, Some(elo_node::credit::CreditChange::Charge(120_000)))?;
        offline.set_stock(vec![json!({"sku": "PAR-10", "quantity": "300"})])?;
        // Closed before the node starts again: one process holds the store.
        offline.close()?;
    }
    matriz
        .api()?
        .credit(CPF, Some(elo_node::credit::CreditChange::Charge(200_000)))?;
    matriz.api()?.set_stock(vec![
        json!({"sku": "PAR-10", "quantity": "1000", "reserved": "50"}),
    ])?;
    say("while apart: the matriz moves Ana to Recife, adds a product, sells her 2000.00 on credit and counts 1000 screws; filial 2 records Ana's phone and e-mail, a new customer, a 1200.00 sale on credit and 300 screws".to_string());

    // 3. Filial 2 comes back and catches up, both ways.
    let t = Instant::now();
    filiais[1].start()?;
    let took = wait_for("catch-up", t, || {
        let at_filial = filiais[1].api()?.get(Kind::Customer, CPF)?;
        let at_matriz = matriz.api()?.get(Kind::Customer, CPF)?;
        let product = filiais[1].api()?.get(Kind::Product, "PAR-10")?;
        let bruno = filiais[0].api()?.get(Kind::Customer, "111.444.777-35")?;
        Ok(at_filial.is_some_and(|r| r["city"] == "Recife")
            && at_matriz.is_some_and(|r| r["email"] == "ana@exemplo.com.br")
            && product.is_some()
            && bruno.is_some())
    })?;
    say(format!(
        "filial 2 restarts and everyone has caught up after {} (restart included)",
        ms(took)
    ));
    let t = Instant::now();
    wait_for("credit and stock", t, || {
        let credit = filiais[0].api()?.credit(CPF, None)?;
        let stock = filiais[0].api()?.stock("PAR-10", false)?;
        Ok(credit["used"] == "3200.00" && stock["total"]["quantity"] == "1300.000")
    })?;
    let credit = filiais[0].api()?.credit(CPF, None)?;
    let stock = filiais[0].api()?.stock("PAR-10", false)?;
    say(format!(
        "at filial 1: Ana's credit limit {}, used {} (both sales count), available {}; screws in the group {} ({} reserved)",
        credit["limit"].as_str().unwrap_or("?"),
        credit["used"].as_str().unwrap_or("?"),
        credit["available"].as_str().unwrap_or("?"),
        stock["total"]["quantity"].as_str().unwrap_or("?"),
        stock["total"]["reserved"].as_str().unwrap_or("?")
    ));

    // 4. All three hold the same record.
    let mut records = Vec::new();
    for node in std::iter::once(&matriz).chain(filiais.iter()) {
        let mut r = node
            .api()?
            .get(Kind::Customer, CPF)?
            .context("record missing")?;
        if let Value::Object(m) = &mut r {
            m.remove("seq");
        }
        records.push((node.name, r));
    }
    let same = records.windows(2).all(|w| w[0].1 == w[1].1);
    for (name, r) in &records {
        say(format!("{name:<8} {r}"));
    }
    if !same {
        bail!("the three companies disagree");
    }
    say(format!(
        "all three agree. demo finished in {:.1} s; cleaning up.",
        total.elapsed().as_secs_f64()
    ));
    if json_out {
        println!(
            "{}",
            json!({ "agree": same, "record": records[0].1, "seconds": total.elapsed().as_secs_f64() })
        );
    }
    matriz.stop()?;
    for f in &mut filiais {
        f.stop()?;
    }
    Ok(())
}
