//! The console as a person uses it: two real `elo node` processes on
//! 127.0.0.1 and Debian's chromium, headless, driven through chromedriver.
//! Each screen is saved at 1366×768 in `console-screens/` of the target's
//! tmp folder. Chromium missing is a failure that says what to install.

use std::path::Path;
use std::time::Duration;

use elo_tests::browser::{Browser, SCREEN, png_size, require_chromium};
use elo_tests::{Answer, Company, RunningNode, cnpj, cpf, digits, send, wait_until};
use serde_json::{Value, json};

const LIMIT: Duration = Duration::from_secs(30);

/// A matriz (the primary, with blocks of 50 codes so that a table runs
/// low within the test) and a filial, both running and connected.
struct Group {
    a: Company,
    node_a: RunningNode,
    /// The filial's node; `None` while the test has it stopped.
    filial: Option<RunningNode>,
    b: String,
    b_company: Company,
}

impl Group {
    fn node_b(&self) -> &RunningNode {
        self.filial.as_ref().expect("the filial's node is running")
    }

    fn wait_connected(&self) {
        wait_until("the filial connected at the matriz", LIMIT, || {
            self.node_a.member(&self.b)["connected"] == true
        });
    }
}

fn two_companies() -> Group {
    let a = Company::init(&cnpj(61), "Matriz São Paulo");
    let node_a = a.start_node_with_block_size("50");
    let b_company = Company::join(&node_a.invite(), &cnpj(62), "Filial Recife");
    // The filial is given the primary's block size too: a member judges
    // a table "running low" by its own --id-block-size, not by the size
    // of the blocks it holds, so with 100,000 it would ask for a new
    // block of 50 over and over.
    let filial = Some(b_company.start_node_with_block_size("50"));
    let g = Group {
        a,
        node_a,
        filial,
        b: digits(&cnpj(62)),
        b_company,
    };
    g.wait_connected();
    g
}

/// The customer both companies rename while apart: the filial's node runs
/// alone (`--offline`) while each writes its own name, then rejoins.
const RENAMED: u64 = 515151;

fn rename_apart(g: &mut Group) {
    let key = cpf(RENAMED);
    let path = format!("/v1/records/customer/{key}");
    let r = g.node_a.put(&path, r#"{"name":"Cliente Comum"}"#);
    assert_eq!(r.status, 201, "{:?}", r.body);
    wait_until("the customer at the filial", LIMIT, || {
        g.node_b().record("customer", &key).is_some()
    });
    if let Some(node) = g.filial.take() {
        node.stop();
    }
    let alone = g.b_company.start_node_with(&["--offline"]);
    let r = g.node_a.put(&path, r#"{"name":"Nome da Matriz"}"#);
    assert_eq!(r.status, 200, "{:?}", r.body);
    let r = alone.put(&path, r#"{"name":"Nome da Filial"}"#);
    assert_eq!(r.status, 200, "{:?}", r.body);
    alone.stop();
    g.filial = Some(g.b_company.start_node_with_block_size("50"));
    g.wait_connected();
    wait_until("both names known at the matriz", LIMIT, || {
        let c = g.node_a.get(&format!("{path}/conflicts")).body;
        c["conflicts"][0]["values"].as_array().map(Vec::len) == Some(2)
    });
}

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .max_redirects(0)
        .proxy(None)
        .build()
        .into()
}

/// A request as a page elsewhere, or a script, would send it: the cookie,
/// and what else is given.
fn with_cookie(method: &str, url: &str, cookie: &str, headers: &[(&str, &str)]) -> Answer {
    let agent = agent();
    let cookie = format!("elo_session={cookie}");
    let answer = match method {
        "GET" => {
            let mut req = agent.get(url).header("Cookie", &cookie);
            for (k, v) in headers {
                req = req.header(*k, *v);
            }
            req.call()
        }
        _ => {
            let mut req = agent.post(url).header("Cookie", &cookie);
            for (k, v) in headers {
                req = req.header(*k, *v);
            }
            req.content_type("application/json").send("{}")
        }
    };
    let mut res = answer.unwrap_or_else(|e| panic!("{method} {url}: {e}"));
    let text = res.body_mut().read_to_string().unwrap_or_default();
    Answer {
        status: res.status().as_u16(),
        body: serde_json::from_str(&text).unwrap_or(Value::String(text)),
    }
}

async fn show(browser: &Browser, screen: &str) {
    browser
        .click(&format!("#nav a[data-screen=\"{screen}\"]"))
        .await;
    browser.find(&format!("#screen-{screen}")).await;
}

/// Clicks `css` and waits for the notice it brings. The notice is emptied
/// first: the same words left by the click before must not pass for the
/// answer to this one.
async fn click_for_notice(browser: &Browser, css: &str, text: &str) {
    browser
        .run("const n = document.querySelector('#notice'); if (n) n.textContent = ''; return 1")
        .await;
    browser.click(css).await;
    notice_says(browser, text).await;
}

async fn notice_says(browser: &Browser, text: &str) {
    let expr = format!(
        "document.querySelector('#notice') && document.querySelector('#notice').textContent.includes({})",
        json!(text)
    );
    browser.until(&format!("the notice {text:?}"), &expr).await;
}

async fn shoot(browser: &Browser, name: &str) {
    let path = browser.screenshot(name).await;
    let png = std::fs::read(&path).expect("screenshot file");
    assert_eq!(
        png_size(&png),
        Some(SCREEN),
        "{} is not 1366×768",
        path.display()
    );
}

/// `elo console` prints a link with a one-time ticket; it logs in once,
/// the address bar loses the ticket, the cookie is HttpOnly and Strict,
/// and the token is nowhere in the page.
async fn log_in(browser: &Browser, g: &Group) -> String {
    let out = g.a.elo_json(&["console", "--no-open"]);
    let url = out["url"].as_str().expect("a login link").to_string();
    assert!(
        url.starts_with(&format!("{}/ui/login?ticket=", g.node_a.base)),
        "{url}"
    );
    assert!(
        !url.contains(&g.node_a.token),
        "the API token is never in the link"
    );
    browser.goto(&url).await;
    browser.find("#screen-grupo").await;
    let here = browser.run("return location.href").await;
    assert!(
        !here.as_str().unwrap_or_default().contains("ticket"),
        "{here}"
    );
    let cookie = browser
        .client
        .get_named_cookie("elo_session")
        .await
        .expect("a session cookie");
    assert_eq!(cookie.http_only(), Some(true));
    assert_eq!(format!("{:?}", cookie.same_site()), "Some(Strict)");
    assert_eq!(cookie.path(), Some("/ui"));
    let page = browser
        .run("return document.documentElement.outerHTML + JSON.stringify(localStorage) + document.cookie")
        .await;
    assert!(!page.as_str().unwrap_or_default().contains(&g.node_a.token));
    let again = send(&agent(), "GET", &url, "", None).expect("the node answers");
    assert_eq!(again.status, 401, "a ticket works once: {:?}", again.body);
    cookie.value().to_string()
}

/// The session's cookie alone reads; a change also needs the CSRF token
/// and the console's own Origin.
async fn changes_need_csrf_and_origin(browser: &Browser, g: &Group, cookie: &str) {
    let base = &g.node_a.base;
    let csrf = browser
        .run("return document.querySelector('meta[name=\"csrf-token\"]').content")
        .await;
    let csrf = csrf.as_str().expect("a CSRF token");
    let read = with_cookie("GET", &format!("{base}/ui/api/v1/status"), cookie, &[]);
    assert_eq!(read.status, 200, "{:?}", read.body);
    let url = format!("{base}/ui/api/v1/ranges");
    let no_token = with_cookie("POST", &url, cookie, &[("Origin", base)]);
    assert_eq!(
        (no_token.status, &no_token.body["error"]),
        (403, &json!("csrf"))
    );
    let elsewhere = [("Origin", "http://evil.example"), ("X-CSRF-Token", csrf)];
    let other = with_cookie("POST", &url, cookie, &elsewhere);
    assert_eq!(
        (other.status, &other.body["error"]),
        (403, &json!("cross_origin"))
    );
    // Both right: the request reaches the API, which answers as it does.
    let ok = with_cookie(
        "POST",
        &url,
        cookie,
        &[("Origin", base), ("X-CSRF-Token", csrf)],
    );
    assert_eq!(
        ok.status, 422,
        "the API's own refusal of an empty range: {:?}",
        ok.body
    );
}

async fn group_screen(browser: &Browser, g: &Group) {
    let row = format!("tr[data-member=\"{}\"]", g.b);
    browser
        .until(
            "the filial shown connected",
            &format!("document.querySelector('{row} .badge.ok')"),
        )
        .await;
    let me = format!("tr[data-member=\"{}\"] .badge.me", digits(&cnpj(61)));
    browser.find(&me).await;
    let text = browser.text(&row).await;
    assert!(
        text.contains(&cnpj(62)) && text.contains("Conectada"),
        "{text}"
    );
    assert!(text.contains("Filial Recife"), "{text}");
    shoot(browser, "01-grupo").await;
    browser.click("#invite-make").await;
    browser.find("#invite-qr svg").await;
    let line = browser
        .run("return document.querySelector('#invite-line').value")
        .await;
    assert!(
        line.as_str().unwrap_or_default().starts_with("elo-invite:"),
        "{line}"
    );
    browser
        .run("document.querySelector('#invite-qr').scrollIntoView(); return 1")
        .await;
    browser.click("#invite-copy").await;
    browser
        .until(
            "the invite copied",
            "document.querySelector('.invite-out').textContent.includes('Copiado.')",
        )
        .await;
    shoot(browser, "02-grupo-convite").await;
}

/// Ticking a category off changes the node's policy; a pending company is
/// authorised with "Autorizar".
async fn sharing_screen(browser: &Browser, g: &Group) {
    // The matriz stops taking in every member by default: the filial
    // waits for its authorisation.
    let r = g
        .node_a
        .request("DELETE", "/v1/authorizations/*", None, None);
    assert_eq!(r.status, 200, "{:?}", r.body);
    show(browser, "compartilhamento").await;
    let pending = format!("[data-authorize=\"{}\"]", g.b);
    browser.find(&pending).await;
    browser.click("#receive-sale_price").await;
    click_for_notice(browser, "#share-save", "Compartilhamento salvo").await;
    let share = g.node_a.get("/v1/share").body;
    let receives = share["receives"].as_str().unwrap_or_default();
    assert!(
        !receives.contains("sale_price") && receives.contains("customers"),
        "{share}"
    );
    shoot(browser, "03-compartilhamento").await;
    click_for_notice(browser, &pending, "autorizada").await;
    let share = g.node_a.get("/v1/share").body;
    assert_eq!(share["pending"], json!([]), "{share}");
    let named = share["authorized"].as_array().into_iter().flatten();
    assert!(
        named.clone().any(|a| a["company"] == g.b.as_str()),
        "{share}"
    );
    click_for_notice(
        browser,
        &format!("[data-revoke=\"{}\"]", g.b),
        "Autorização revogada",
    )
    .await;
    let share = g.node_a.get("/v1/share").body;
    let mut named = share["authorized"].as_array().into_iter().flatten();
    assert!(!named.any(|a| a["company"] == g.b.as_str()), "{share}");
    // Taken in again, for the rest of the test.
    let again = json!({ "from": g.b }).to_string();
    let r = g
        .node_a
        .request("POST", "/v1/authorizations", Some(&again), None);
    assert_eq!(r.status, 200, "{:?}", r.body);
    // "Restringir compartilhamento": the cost price stays at the matriz.
    browser.click("#restrict-cost_price").await;
    click_for_notice(browser, "#restrict-save", "Campos restritos salvos").await;
    let restricted = g.node_a.get("/v1/share").body["restricted"].clone();
    assert_eq!(restricted, json!(["cost_price"]));
    browser.find(".reminder").await;
    assert!(browser.text(".reminder").await.contains("Preço de custo"));
}

/// A range by hand is given; an overlapping one is refused next to "De",
/// and nothing of it is stored.
async fn ranges_screen(browser: &Browser, g: &Group) {
    show(browser, "faixas").await;
    let give = async |from: &str, to: &str| {
        browser.fill("#range-from", from).await;
        browser.fill("#range-to", to).await;
        browser.click("#range-save").await;
    };
    give("500000", "500999").await;
    notice_says(browser, "Faixa cadastrada").await;
    browser.find("#range-form").await;
    give("500500", "501500").await;
    browser
        .until(
            "the overlap shown under De",
            "document.querySelector('[data-error-for=\"from\"]').textContent.length > 0",
        )
        .await;
    let error = browser.text("[data-error-for=\"from\"]").await;
    let ranges = g.node_a.get("/v1/ranges").body;
    let froms: Vec<&Value> = ranges["ranges"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|r| &r["from"])
        .collect();
    assert!(froms.contains(&&json!(500000)), "{ranges}");
    assert!(
        !froms.contains(&&json!(500500)),
        "the refused range is not stored: {ranges}"
    );
    assert!(
        error.contains("sobrepõe") && error.contains("overlap"),
        "in Portuguese, with the API's reason, next to the field: {error}"
    );
    shoot(browser, "04-faixas").await;
    // "Eleger": the matriz elected again, in a new term.
    let term = |g: &Group| g.node_a.get("/v1/primary").body["primary"]["term"].as_u64();
    let before = term(g).expect("a term");
    click_for_notice(browser, "#elect", "é a primária").await;
    assert!(term(g) > Some(before), "a new term: {:?}", term(g));
}

/// With the filial down, an election finds no majority: the screen says
/// what that means (nothing changed) and the primary's term is the same.
async fn failed_election(browser: &Browser, g: &mut Group) {
    if let Some(node) = g.filial.take() {
        node.stop();
    }
    let primary = g.node_a.get("/v1/primary").body["primary"].clone();
    show(browser, "faixas").await;
    click_for_notice(browser, "#elect", "A eleição falhou").await;
    let notice = browser.text("#notice").await;
    assert!(notice.contains("nada mudou"), "{notice}");
    assert_eq!(g.node_a.get("/v1/primary").body["primary"], primary);
    let reason = browser
        .text("#elect-form [data-error-for=\"candidate\"]")
        .await;
    assert!(reason.contains("maioria"), "next to the form too: {reason}");
    browser
        .run("document.querySelector('#elect-form').scrollIntoView(); return 1")
        .await;
    shoot(browser, "14-faixas-eleicao-falhou").await;
}

/// "Forçar replicação" has the node walk the member's log again (the
/// API's answer names how many members: one), and the screen shows the
/// member caught up with all the filial wrote.
async fn force_replication(browser: &Browser, g: &Group) {
    let rows: Vec<Value> = (0..40)
        .map(|n| json!({"cpf": cpf(7000 + n), "name": format!("Cliente {n}")}))
        .collect();
    let body = json!(rows).to_string();
    let r = g
        .node_b()
        .request("POST", "/v1/records/customer", Some(&body), None);
    assert_eq!(r.status, 200, "{:?}", r.body);
    let latest = g.node_b().get("/v1/status").body["last_seq"]
        .as_u64()
        .expect("seq");
    show(browser, "grupo").await;
    click_for_notice(
        browser,
        &format!("[data-force=\"{}\"]", g.b),
        "Replicação forçada: 1 empresa",
    )
    .await;
    wait_until(
        "the matriz walked the filial's log to its end",
        LIMIT,
        || {
            let m = g.node_a.member(&g.b);
            m["behind"] == 0 && m["pulling"] == false && m["checkpoint"].as_u64() >= Some(latest)
        },
    );
    assert!(g.node_a.record("customer", &cpf(7039)).is_some());
    let row = format!("tr[data-member=\"{}\"] [data-col=\"behind\"]", g.b);
    let shown = format!("document.querySelector('{row}').textContent === 'em dia'");
    browser.until("the filial shown up to date", &shown).await;
    shoot(browser, "05-grupo-replicacao").await;
    // The answer counts the roster's members, this company included (the
    // replication's count, not the console's), so only the words are checked.
    click_for_notice(browser, "#force-all", "Replicação forçada:").await;
    wait_until("the matriz walked the filial's log again", LIMIT, || {
        let m = g.node_a.member(&g.b);
        m["behind"] == 0 && m["pulling"] == false
    });
}

/// A record made at the filial shows on Atividade, with no reload.
async fn activity_screen(browser: &Browser, g: &Group) {
    show(browser, "atividade").await;
    browser.run("window.sameDocument = true; return 1").await;
    let key = cpf(424242);
    let r = g.node_b().put(
        &format!("/v1/records/customer/{key}"),
        r#"{"name":"Maria da Filial","credit_limit":"1500.50"}"#,
    );
    assert!(r.status == 201 || r.status == 200, "{:?}", r.body);
    let row = format!("#feed tr[data-key=\"{key}\"]");
    browser
        .until(
            "the filial's record on Atividade",
            &format!("document.querySelector('{row}') && window.sameDocument === true"),
        )
        .await;
    let text = browser.text(&row).await;
    assert!(
        text.contains(&cnpj(62)),
        "the writer's CNPJ, formatted: {text}"
    );
    shoot(browser, "06-atividade").await;
    import_progress(browser, g).await;
}

/// `elo import` names its batches: the node knows how far it went, and
/// Atividade shows its bar, full once the last batch is stored.
async fn import_progress(browser: &Browser, g: &Group) {
    let dir = tempfile::tempdir().expect("a temp dir");
    let file = dir.path().join("clientes.jsonl");
    let rows: String = (0..50)
        .map(|n| {
            format!(
                "{}\n",
                json!({"cpf": cpf(9000 + n), "name": format!("Importado {n}")})
            )
        })
        .collect();
    std::fs::write(&file, rows).expect("the file");
    let path = file.to_str().expect("a path");
    g.a.elo_ok(&["import", "customer", path, "--batch", "10"]);
    let listed = g.node_a.get("/v1/imports").body;
    let import = &listed["imports"][0];
    assert_eq!(import["finished"], true, "{listed}");
    assert_eq!(import["batches"], 5, "{listed}");
    assert_eq!(import["done"], import["total"], "{listed}");
    let id = import["id"].as_str().expect("an id");
    let bar = format!("[data-import=\"{id}\"] progress");
    let full = format!(
        "document.querySelector('{bar}') && document.querySelector('{bar}').value === document.querySelector('{bar}').max"
    );
    browser.until("the import's bar, full", &full).await;
    let text = browser.text(&format!("[data-import=\"{id}\"]")).await;
    assert!(
        text.contains("Importação de Clientes") && text.contains("5 lotes"),
        "{text}"
    );
    shoot(browser, "06b-atividade-importacao").await;
}

/// Cadastros, Estoque, Crédito and Pedidos show what the API holds, in
/// pt-BR formats; English is one click away.
async fn other_screens(browser: &Browser, g: &Group) {
    // Stock at both companies, and a sale on credit at the filial.
    let stock = |node: &RunningNode, body: &str| {
        let r = node.request("POST", "/v1/stock", Some(body), None);
        assert_eq!(r.status, 200, "{:?}", r.body);
    };
    stock(
        &g.node_a,
        r#"[{"sku":"SKU-1","quantity":"12.5","deposit":"Geral"}]"#,
    );
    stock(g.node_b(), r#"[{"sku":"SKU-1","quantity":"7"}]"#);
    let charge = format!("/v1/customers/{}/credit", cpf(424242));
    let r = g
        .node_b()
        .request("POST", &charge, Some(r#"{"charge":"250.25"}"#), None);
    assert_eq!(r.status, 200, "{:?}", r.body);
    wait_until(
        "the filial's stock and sale known at the matriz",
        LIMIT,
        || {
            g.node_a.get("/v1/stock/SKU-1").body["total"]["quantity"].as_str() == Some("19.500")
                && g.node_a.get(&charge).body["used"] == "250.25"
        },
    );
    show(browser, "cadastros").await;
    browser.fill("#records-key", &cpf(RENAMED)).await;
    browser.click("#records-search button[type=submit]").await;
    browser.find("#record-fields").await;
    browser.find("#record-history tbody tr").await;
    let fields = browser.text("#record-fields").await;
    assert!(
        fields.contains("Nome") && !fields.contains("name"),
        "labels in pt-BR: {fields}"
    );
    let conflict = browser.text("#record-conflicts").await;
    for shown in ["Nome da Matriz", "Nome da Filial", &cnpj(61), &cnpj(62)] {
        assert!(
            conflict.contains(shown),
            "{shown} in the conflict: {conflict}"
        );
    }
    shoot(browser, "07-cadastros").await;
    show(browser, "estoque").await;
    browser.fill("#stock-key", "SKU-1").await;
    browser.click("#stock-form button[type=submit]").await;
    let total = browser.text("#stock-total").await;
    assert!(total.contains("19,5"), "the group total in pt-BR: {total}");
    shoot(browser, "08-estoque").await;
    let considers = |g: &Group| {
        let me = g
            .node_a
            .record("company", &digits(&cnpj(61)))
            .expect("the matriz");
        me["consider_stock"].as_bool().unwrap_or(true)
    };
    for expected in [false, true] {
        click_for_notice(browser, "#consider-stock", "Preferência de estoque salva").await;
        wait_until("the matriz's stock choice stored", LIMIT, || {
            considers(g) == expected
        });
    }
    show(browser, "credito").await;
    browser.fill("#credit-key", &cpf(424242)).await;
    browser.click("#credit-form button[type=submit]").await;
    browser
        .until("the limit shown", "document.querySelector('#credit-limit')")
        .await;
    let limit = browser.text("#credit-limit").await.replace('\u{a0}', " ");
    assert_eq!(limit, "R$ 1.500,50");
    let by_company = browser.text("#credit-out").await.replace('\u{a0}', " ");
    assert!(
        by_company.contains("R$ 250,25") && by_company.contains(&cnpj(62)),
        "{by_company}"
    );
    shoot(browser, "09-credito").await;
    order_rules(browser, g).await;
    switch_language(browser, "Sharing").await;
    browser.find("#screen-pedidos").await;
    shoot(browser, "11-pedidos-en").await;
    switch_language(browser, "Compartilhamento").await;
}

fn rules(node: &RunningNode) -> Vec<Value> {
    let r = node.get("/v1/order-rules").body;
    r["rules"].as_array().cloned().unwrap_or_default()
}

/// Pedidos: a rule added, refused with a bad state (nothing stored),
/// edited, cloned and deleted, each checked through the API.
async fn order_rules(browser: &Browser, g: &Group) {
    show(browser, "pedidos").await;
    browser.fill("#rule-states", "PE").await;
    click_for_notice(browser, "#rule-save", "Regras salvas").await;
    let added = rules(&g.node_a);
    assert_eq!(added.len(), 1, "{added:?}");
    assert_eq!(
        (&added[0]["to"], &added[0]["states"]),
        (&json!(g.b), &json!(["PE"]))
    );
    browser.find("#rule-form").await;
    browser.fill("#rule-states", "ZZ").await;
    browser.click("#rule-save").await;
    let shown = "[...document.querySelectorAll('#rule-form .field-error, #rule-form .form-error')].some((e) => e.textContent.length > 0)";
    browser
        .until("the bad state refused in the form", shown)
        .await;
    assert_eq!(
        rules(&g.node_a).len(),
        1,
        "nothing stored of the refused rule"
    );
    shoot(browser, "10-pedidos").await;
    let id = &added[0]["id"];
    browser.click(&format!("[data-edit-rule=\"{id}\"]")).await;
    browser.fill("#rule-states", "PE, BA").await;
    click_for_notice(browser, "#rule-save", "Regras salvas").await;
    assert_eq!(rules(&g.node_a)[0]["states"], json!(["PE", "BA"]));
    click_for_notice(
        browser,
        &format!("[data-clone-rule=\"{id}\"]"),
        "Regras salvas",
    )
    .await;
    let cloned = rules(&g.node_a);
    assert_eq!(cloned.len(), 2, "{cloned:?}");
    let copy = &cloned.iter().find(|r| &r["id"] != id).expect("the copy")["id"];
    click_for_notice(
        browser,
        &format!("[data-delete-rule=\"{copy}\"]"),
        "Regras salvas",
    )
    .await;
    assert_eq!(rules(&g.node_a).len(), 1);
}

/// Clicks the language toggle and waits for the menu to read `word`.
async fn switch_language(browser: &Browser, word: &str) {
    browser.click("#lang").await;
    let expr = format!(
        "document.querySelector('#nav').textContent.includes({})",
        json!(word)
    );
    browser
        .until(&format!("the menu in the language of {word:?}"), &expr)
        .await;
}

/// At the primary, removing a company asks first, saying what happens,
/// and then the company is out of the roster.
async fn remove_company(browser: &Browser, g: &Group) {
    show(browser, "grupo").await;
    browser.click(&format!("[data-remove=\"{}\"]", g.b)).await;
    let text = browser.text(".confirm").await;
    assert!(
        text.contains("nova chave de rede"),
        "the confirmation says what happens: {text}"
    );
    shoot(browser, "13-grupo-remover").await;
    click_for_notice(browser, "#confirm-remove", "Empresa removida do grupo").await;
    assert!(
        g.node_a.record("company", &g.b).is_none(),
        "the filial left the roster"
    );
    let gone = format!("!document.querySelector('tr[data-member=\"{}\"]')", g.b);
    browser.until("the filial gone from Grupo", &gone).await;
}

/// Logging out ends the session at the node: the old cookie opens nothing.
async fn log_out(browser: &Browser, g: &Group, cookie: &str) {
    browser.find("#logout").await;
    browser.click("#logout").await;
    browser
        .until(
            "the session ended page",
            "location.pathname === '/ui/ended'",
        )
        .await;
    assert!(browser.text("h1").await.contains("Sessão encerrada"));
    shoot(browser, "12-sessao-encerrada").await;
    browser.goto(&format!("{}/ui/", g.node_a.base)).await;
    browser
        .until(
            "sent to the ended page",
            "location.pathname === '/ui/ended'",
        )
        .await;
    let old = with_cookie(
        "GET",
        &format!("{}/ui/api/v1/status", g.node_a.base),
        cookie,
        &[],
    );
    assert_eq!(
        (old.status, &old.body["error"]),
        (401, &json!("session_ended"))
    );
}

/// The filial alone (`--offline`: no primary to ask) draws its customer
/// codes down to 2: its Atividade warns, saying what to do.
async fn codes_running_out(browser: &Browser, g: &Group) {
    let alone = g.b_company.start_node_with(&["--offline"]);
    let ranges = alone.get("/v1/ranges").body;
    let left: i64 = ranges["ranges"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|r| {
            r["company"] == g.b.as_str() && r["table"] == "customer" && r["committed"] == true
        })
        .map(|r| {
            let size = r["to"].as_i64().unwrap_or(0) - r["from"].as_i64().unwrap_or(0) + 1;
            size - r["used"].as_i64().unwrap_or(0)
        })
        .sum();
    assert!(left > 2, "{ranges}");
    let path = format!("/v1/ids/customer/next?count={}", left - 2);
    let r = alone.request("POST", &path, None, None);
    assert_eq!(r.status, 200, "{:?}", r.body);
    let out = g.b_company.elo_json(&["console", "--no-open"]);
    browser
        .goto(out["url"].as_str().expect("a login link"))
        .await;
    browser.find("#screen-grupo").await;
    show(browser, "atividade").await;
    let low = "[...document.querySelectorAll('#warnings .warning')].some((w) => w.textContent.includes('restam 2 códigos'))";
    browser.until("codes running out on Atividade", low).await;
    let text = browser.text("#warnings").await;
    assert!(
        text.contains("Filial Recife") && text.contains("primária"),
        "{text}"
    );
    shoot(browser, "15-atividade-codigos").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_person_runs_the_group_from_the_console() {
    require_chromium();
    let mut g = two_companies();
    rename_apart(&mut g);
    let shots = Path::new(env!("CARGO_TARGET_TMPDIR")).join("console-screens");
    let browser = Browser::start(&shots).await;
    let cookie = log_in(&browser, &g).await;
    changes_need_csrf_and_origin(&browser, &g, &cookie).await;
    group_screen(&browser, &g).await;
    sharing_screen(&browser, &g).await;
    ranges_screen(&browser, &g).await;
    force_replication(&browser, &g).await;
    activity_screen(&browser, &g).await;
    other_screens(&browser, &g).await;
    failed_election(&browser, &mut g).await;
    remove_company(&browser, &g).await;
    log_out(&browser, &g, &cookie).await;
    codes_running_out(&browser, &g).await;
    eprintln!("screens saved in {}", shots.display());
}
