//! Sales orders between companies, on real `elo` processes: a branch sends
//! an order to the head office, which invoices it, and the branch's order
//! comes back invoiced; a third company never receives the order's bytes
//! (every message its node reads is kept, `ELO_WIRE_RECEIVED`, and
//! checked); a branch that was apart delivers once they meet.

use std::path::Path;
use std::time::{Duration, Instant};

use elo_crdt::order::doc::OrderDoc;
use elo_net::protocol::{RequestBody, ResponseBody};
use elo_tests::{Company, RunningNode, access_key, cnpj, digits, free_ports, wait_until};
use serde_json::{Value, json};

const LIMIT: Duration = Duration::from_secs(20);
const MARKER: &str = "ORDER-MARKER-93";

fn order_json() -> String {
    json!({"date": "2026-12-01", "customer": "529.982.247-25", "status": "approved",
           "notes": MARKER,
           "customer_record": {"name": "Ana Souza", "phone": "81 3333-0000"},
           "delivery": {"name": "Ana", "city": "Recife", "state": "PE", "zip_code": "50010-000"},
           "channel": {"id": "ml", "name": "Mercado Livre", "intermediary_cnpj": "03.007.331/0001-41"},
           "items": [{"sku": "CAN-01", "description": "Caneta", "quantity": "1.000,000", "unit_price": "1,50"},
                     {"sku": "CAD-02", "quantity": 2, "unit_price": "10.25"}]})
    .to_string()
}

fn connected(node: &RunningNode, cnpj: &str) -> bool {
    node.member(cnpj)["connected"] == true
}

/// A matriz running and a filial that joined it (not started), and the
/// fixed mesh address of each, so each finds the other where it was after
/// a restart.
fn pair_at_fixed_ports(mc: &str, fc: &str) -> (Company, RunningNode, Company, [String; 2]) {
    let ports = free_ports(2);
    let listen = [0, 1].map(|i| format!("/ip4/127.0.0.1/tcp/{}", ports[i]));
    let m = Company::init(mc, "Matriz");
    let m_node = m.start_node_with(&mesh_at(&listen[0]));
    let f = Company::join(&m_node.invite(), fc, "Filial");
    (m, m_node, f, listen)
}

/// A node's arguments to listen at `addr` only, without mDNS.
fn mesh_at(addr: &str) -> [&str; 3] {
    ["--listen", addr, "--no-mdns"]
}

/// Whether `company` holds a range of the table `order`, as `node` sees it.
fn holds_order_numbers(node: &RunningNode, company: &str) -> bool {
    let ranges = node.get("/v1/ranges").body;
    ranges["ranges"].as_array().is_some_and(|all| {
        all.iter()
            .any(|r| r["table"] == "order" && r["company"] == company && r["committed"] == true)
    })
}

fn received(node: &RunningNode) -> Vec<Value> {
    let r = node.get("/v1/orders?direction=received");
    assert_eq!(r.status, 200, "{:?}", r.body);
    r.body["orders"].as_array().cloned().unwrap_or_default()
}

/// Every linked order in a file of received messages, as (link, notes).
fn orders_in(file: &Path) -> Vec<(String, String)> {
    let bytes = std::fs::read(file).expect("received copy");
    let mut out = Vec::new();
    for message in elo_net::audit::read_raw_capture(&bytes) {
        if let Ok(RequestBody::Order { link, doc, .. }) = elo_net::codec::decode_request(&message) {
            let doc = OrderDoc::load(&doc, &[9; 16]).expect("an order that loads");
            out.push((link, doc.body().text("notes").unwrap_or("").to_string()));
        }
        // An answer carrying documents (packed or not): none of them may be
        // an order, nor hold an order's link.
        let mut texts = vec![String::from_utf8_lossy(&message).into_owned()];
        if let Some(docs) = elo_net::codec::decode_response(&message)
            .ok()
            .and_then(ResponseBody::documents)
        {
            for d in docs.expect("documents that unpack") {
                assert!(!d.id.starts_with("order"), "an order was served: {}", d.id);
                texts.push(String::from_utf8_lossy(&d.bytes).into_owned());
                texts.extend(
                    d.changes
                        .iter()
                        .map(|c| String::from_utf8_lossy(c).into_owned()),
                );
            }
        }
        for text in texts {
            if text.contains("_link.") {
                out.push(("(raw)".into(), text));
            }
        }
    }
    out
}

#[test]
fn a_branch_order_is_invoiced_at_the_head_office_and_no_other_company_sees_it() {
    let (m_seen, x_seen) = (
        tempfile::NamedTempFile::new().unwrap(),
        tempfile::NamedTempFile::new().unwrap(),
    );
    let (mc, fc, xc) = (cnpj(81), cnpj(82), cnpj(83));
    let (md, fd, xd) = (digits(&mc), digits(&fc), digits(&xc));
    let m = Company::init(&mc, "Matriz");
    let mesh = ["--listen", "/ip4/127.0.0.1/tcp/0", "--no-mdns"];
    let m_node = m.start_node_with_env(&mesh, &[("ELO_WIRE_RECEIVED", m_seen.path())]);
    let f = Company::join(&m_node.invite(), &fc, "Filial");
    let f_node = f.start_node();
    let x = Company::join(&m_node.invite(), &xc, "Outra");
    let x_node = x.start_node_with_env(&mesh, &[("ELO_WIRE_RECEIVED", x_seen.path())]);
    wait_until("all three connected", LIMIT, || {
        connected(&f_node, &md) && connected(&x_node, &md) && connected(&f_node, &xd)
    });
    // The matriz invoices from SP: its CFOP suggestions follow.
    let uf = m_node.request(
        "PATCH",
        &format!("/v1/records/company/{md}"),
        Some(r#"{"state":"SP"}"#),
        None,
    );
    assert_eq!(uf.status, 200, "{:?}", uf.body);
    // The product's record goes with the order; its price (a part of a
    // field-level category) does not.
    let product = f_node.put(
        "/v1/records/product/CAN-01",
        r#"{"description": "Caneta azul", "unit": "UN", "sale_price": "2,00"}"#,
    );
    assert_eq!(product.status, 201, "{:?}", product.body);

    let created = f_node.request("POST", "/v1/orders", Some(&order_json()), None);
    assert_eq!(created.status, 201, "{:?}", created.body);
    let key = created.body["key"].as_str().expect("key").to_string();
    // Its number is a code of the branch's own range for the table order.
    let number = created.body["number"].as_i64().expect("number");
    let ranges = f_node.get("/v1/ranges").body;
    let own = ranges["ranges"]
        .as_array()
        .expect("ranges")
        .iter()
        .any(|r| {
            r["table"] == "order"
                && r["company"] == fd.as_str()
                && (r["from"].as_i64()..=r["to"].as_i64()).contains(&Some(number))
        });
    assert!(own, "order {number} not in the branch's range: {ranges}");
    let sent = f_node.request(
        "POST",
        &format!("/v1/orders/{key}/send"),
        Some(&json!({"to": mc}).to_string()),
        None,
    );
    assert_eq!(sent.status, 200, "{:?}", sent.body);
    let link = sent.body["link"]["id"]
        .as_str()
        .expect("link id")
        .to_string();
    let took = wait_until("the order at the matriz", LIMIT, || {
        received(&m_node).len() == 1
    });
    eprintln!("send → order at the destination: {took:?}");
    let at_m = received(&m_node).remove(0);
    assert_eq!(at_m["link"]["id"], link.as_str());
    assert_eq!(at_m["link"]["origin"], fd.as_str());
    assert_eq!(at_m["items"][0]["quantity"], "1000.000");
    assert_eq!(at_m["channel"]["intermediary_cnpj"], "03007331000141");
    assert_eq!(at_m["customer_record"]["name"], "Ana Souza");
    let with = &at_m["product_records"]["CAN-01"];
    assert_eq!(with["description"], "Caneta azul", "{at_m}");
    assert!(with.get("sale_price").is_none(), "{with}");
    assert_eq!(at_m["invoices_here"], true);
    // A person in PE, invoiced from SP: an interstate sale.
    assert_eq!(at_m["fiscal"]["operation"], "sale", "{at_m}");
    assert_eq!(at_m["fiscal"]["cfop"], "6.102");
    let m_key = at_m["key"].as_str().expect("key").to_string();

    // Sending again (a retry) makes no second order.
    let again = f_node.request(
        "POST",
        &format!("/v1/orders/{key}/send"),
        Some(&json!({"to": mc}).to_string()),
        None,
    );
    assert_eq!(again.body["link"]["id"], link.as_str());
    wait_until("the origin knows the destination's key", LIMIT, || {
        f_node.get(&format!("/v1/orders/{key}")).body["link"]["destination_key"] == m_key.as_str()
    });
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(received(&m_node).len(), 1, "a second order was made");

    // The origin must not invoice it; a bad key is refused at the destination.
    let inv = |node: &RunningNode, key: &str, access: &str| {
        let body =
            json!({"number": 42, "series": 1, "access_key": access, "issued_at": "2026-12-02"});
        node.request(
            "POST",
            &format!("/v1/orders/{key}/invoice"),
            Some(&body.to_string()),
            None,
        )
    };
    assert_eq!(inv(&f_node, &key, &access_key(&fd, 42)).status, 422);
    let mut bad = access_key(&md, 42);
    bad.replace_range(20..22, "57");
    let refused = inv(&m_node, &m_key, &bad);
    assert_eq!(refused.status, 422, "{:?}", refused.body);
    assert_eq!(refused.body["fields"][0]["field"], "access_key");
    assert_eq!(
        m_node.get(&format!("/v1/orders/{m_key}")).body["status"],
        "approved"
    );

    // An edit at the destination reaches the origin.
    let edit = json!({"items": [{"line": 1, "quantity": 900}, {"line": 2}]}).to_string();
    let r = m_node.request("PATCH", &format!("/v1/orders/{m_key}"), Some(&edit), None);
    assert_eq!(r.status, 200, "{:?}", r.body);
    wait_until("the edit at the origin", LIMIT, || {
        f_node.get(&format!("/v1/orders/{key}")).body["items"][0]["quantity"] == "900.000"
    });

    let start = Instant::now();
    let ok = inv(&m_node, &m_key, &access_key(&md, 42));
    assert_eq!(ok.status, 200, "{:?}", ok.body);
    assert_eq!(inv(&m_node, &m_key, &access_key(&md, 42)).status, 409);
    wait_until("the origin's order invoiced", LIMIT, || {
        f_node.get(&format!("/v1/orders/{key}")).body["status"] == "invoiced"
    });
    eprintln!(
        "invoice at the destination → invoiced at the origin: {:?}",
        start.elapsed()
    );
    let at_f = f_node.get(&format!("/v1/orders/{key}")).body;
    assert_eq!(at_f["invoice"]["access_key"], access_key(&md, 42).as_str());
    assert_eq!(at_f["invoice"]["number"], 42);
    assert_eq!(at_f["invoices_here"], false);

    // The third company holds no order, and none of the bytes its node
    // read was one; the matriz's copy shows what an order looks like there.
    assert!(
        x_node.get("/v1/orders").body["orders"]
            .as_array()
            .is_some_and(|o| o.is_empty())
    );
    drop(x_node);
    drop(m_node);
    let at_x = orders_in(x_seen.path());
    assert!(at_x.is_empty(), "the third company read an order: {at_x:?}");
    let at_m = orders_in(m_seen.path());
    assert!(
        at_m.iter().any(|(l, notes)| l == &link && notes == MARKER),
        "the audit did not see the order where it went: {at_m:?}"
    );
    let x_bytes = std::fs::read(x_seen.path()).expect("x copy");
    assert!(
        x_bytes.len() > 1000,
        "the third company's copy is empty: the audit saw nothing"
    );
}

#[test]
fn an_order_sent_while_apart_is_delivered_once_after_both_restart() {
    let (mc, fc) = (cnpj(84), cnpj(85));
    let (m, m_node, f, listen) = pair_at_fixed_ports(&mc, &fc);
    let (m_args, f_args) = (mesh_at(&listen[0]), mesh_at(&listen[1]));
    let f_node = f.start_node_with(&f_args);
    wait_until("connected", LIMIT, || connected(&f_node, &digits(&mc)));
    // The branch holds its block of order numbers before it is apart.
    wait_until("a block of order numbers at the branch", LIMIT, || {
        holds_order_numbers(&f_node, &digits(&fc))
    });
    m_node.stop();

    // Sent while the matriz is down: owed, then the branch stops too.
    let created = f_node.request("POST", "/v1/orders", Some(&order_json()), None);
    let key = created.body["key"].as_str().expect("key").to_string();
    let to = json!({"to": mc}).to_string();
    let sent = f_node.request("POST", &format!("/v1/orders/{key}/send"), Some(&to), None);
    assert_eq!(sent.status, 200, "{:?}", sent.body);
    f_node.stop();

    let m_node = m.start_node_with(&m_args);
    let f_node = f.start_node_with(&f_args);
    wait_until(
        "the order at the matriz after both restarted",
        LIMIT,
        || received(&m_node).len() == 1,
    );
    wait_until("acknowledged at the branch", LIMIT, || {
        f_node.get(&format!("/v1/orders/{key}")).body["link"]["destination_key"].is_string()
    });
    // Restarting the branch again delivers nothing new.
    f_node.stop();
    let _f_node = f.start_node_with(&f_args);
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(received(&m_node).len(), 1);
}

/// The origin dies after the destination took the order and before the
/// origin heard so: after its restart it delivers again, and the
/// destination still holds one order; a send by hand again changes nothing.
#[test]
fn an_origin_killed_between_sent_and_acknowledged_makes_no_second_order() {
    let (mc, fc) = (cnpj(86), cnpj(87));
    let (_m, m_node, f, listen) = pair_at_fixed_ports(&mc, &fc);
    let f_args = mesh_at(&listen[1]);
    let fault = [("ELO_FAULT", Path::new("exit-before-order-ack"))];
    let mut f_node = f.start_node_with_env(&f_args, &fault);
    wait_until("connected", LIMIT, || connected(&f_node, &digits(&mc)));
    wait_until("a block of order numbers at the branch", LIMIT, || {
        holds_order_numbers(&f_node, &digits(&fc))
    });

    let created = f_node.request("POST", "/v1/orders", Some(&order_json()), None);
    let key = created.body["key"].as_str().expect("key").to_string();
    let to = json!({"to": mc}).to_string();
    let sent = f_node.request("POST", &format!("/v1/orders/{key}/send"), Some(&to), None);
    assert_eq!(sent.status, 200, "{:?}", sent.body);
    let link = sent.body["link"]["id"].clone();
    wait_until("the branch died before the acknowledgement", LIMIT, || {
        matches!(f_node.child.try_wait(), Ok(Some(_)))
    });
    assert_eq!(received(&m_node).len(), 1, "the matriz took the order");
    drop(f_node);

    let f_node = f.start_node_with(&f_args);
    wait_until("acknowledged after the restart", LIMIT, || {
        f_node.get(&format!("/v1/orders/{key}")).body["link"]["destination_key"].is_string()
    });
    let again = f_node.request("POST", &format!("/v1/orders/{key}/send"), Some(&to), None);
    assert_eq!(again.status, 200, "{:?}", again.body);
    assert_eq!(again.body["link"]["id"], link, "the same link");
    std::thread::sleep(Duration::from_secs(2));
    let at_matriz = received(&m_node);
    assert_eq!(at_matriz.len(), 1, "one order at the matriz: {at_matriz:?}");
    assert_eq!(at_matriz[0]["link"]["id"], link);
}

#[test]
fn rules_send_on_approval_by_uf_and_channel_and_a_manual_send_follows_them() {
    let (mc, fc, gc) = (cnpj(86), cnpj(87), cnpj(88));
    let (md, gd) = (digits(&mc), digits(&gc));
    let m = Company::init(&mc, "Matriz");
    let m_node = m.start_node();
    let f = Company::join(&m_node.invite(), &fc, "Filial");
    let f_node = f.start_node();
    let g = Company::join(&m_node.invite(), &gc, "Filial SP");
    let g_node = g.start_node();
    wait_until("all connected", LIMIT, || {
        connected(&f_node, &md) && connected(&f_node, &gd)
    });
    let put = |node: &RunningNode, path: &str, body: Value| {
        let r = node.request("PUT", path, Some(&body.to_string()), None);
        assert_eq!(r.status, 200, "{path}: {:?}", r.body);
    };
    let post = |node: &RunningNode, path: &str, body: Value| {
        node.request("POST", path, Some(&body.to_string()), None)
    };
    put(
        &f_node,
        "/v1/order-settings",
        json!({"send_automatically": true, "cancel_at_origin": true}),
    );
    put(
        &m_node,
        "/v1/order-settings",
        json!({"natures": ["Venda de mercadoria"], "default_nature": "Venda"}),
    );
    let r = post(
        &f_node,
        "/v1/order-rules",
        json!({"to": mc, "states": ["pe"], "channels": ["ml"], "status": "approved"}),
    );
    assert_eq!(r.status, 201, "{:?}", r.body);
    let r = post(
        &f_node,
        "/v1/order-rules",
        json!({"to": gc, "states": ["SP"]}),
    );
    assert_eq!(r.status, 201, "{:?}", r.body);
    let r = post(
        &f_node,
        "/v1/order-rules",
        json!({"to": cnpj(99), "states": ["RJ"]}),
    );
    assert_eq!(
        r.status, 404,
        "a rule to a company outside the group: {:?}",
        r.body
    );
    let rules = f_node.get("/v1/order-rules").body;
    assert_eq!(rules["rules"].as_array().map(Vec::len), Some(2), "{rules}");
    assert_eq!(rules["rules"][0]["member"], true);

    // Open: not sent. Approved: sent to the matriz by the PE rule.
    let mut order: Value = serde_json::from_str(&order_json()).expect("json");
    order["status"] = json!("open");
    order["operation_nature"] = json!("venda de mercadoria");
    let created = post(&f_node, "/v1/orders", order.clone());
    assert_eq!(created.status, 201, "{:?}", created.body);
    let key = created.body["key"].as_str().expect("key").to_string();
    std::thread::sleep(Duration::from_millis(1500));
    assert!(received(&m_node).is_empty(), "sent before approval");
    assert!(f_node.get(&format!("/v1/orders/{key}")).body["link"].is_null());
    let r = f_node.request(
        "PATCH",
        &format!("/v1/orders/{key}"),
        Some(&json!({"status": "approved"}).to_string()),
        None,
    );
    assert_eq!(r.status, 200, "{:?}", r.body);
    wait_until("sent on approval to the matriz", LIMIT, || {
        received(&m_node).len() == 1
    });
    let at_m = received(&m_node).remove(0);
    assert_eq!(at_m["operation_nature"], "Venda de mercadoria");
    assert_eq!(at_m["nature"]["how"], "same name");
    assert_eq!(at_m["nature"]["taxes"], "recalculated at this company");
    // Handed over: cancelled at the origin, its lines released, edits refused.
    let at_f = f_node.get(&format!("/v1/orders/{key}")).body;
    assert_eq!(at_f["status"], "cancelled", "{at_f}");
    assert_eq!(at_f["control"], "destination");
    assert_eq!(
        at_f["released"],
        json!([{"sku": "CAN-01", "quantity": "1000.000"},
                                        {"sku": "CAD-02", "quantity": "2.000"}])
    );
    let r = f_node.request(
        "PATCH",
        &format!("/v1/orders/{key}"),
        Some(&json!({"notes": "x"}).to_string()),
        None,
    );
    assert_eq!(r.status, 409, "{:?}", r.body);
    assert!(received(&g_node).is_empty());

    // A manual send without a destination follows the rules (SP → G); an
    // order no rule routes needs one named.
    order["delivery"]["state"] = json!("SP");
    order["channel"] = Value::Null;
    let sp = post(&f_node, "/v1/orders", order.clone()).body["key"]
        .as_str()
        .expect("key")
        .to_string();
    let sent = post(&f_node, &format!("/v1/orders/{sp}/send"), json!({}));
    assert_eq!(sent.status, 200, "{:?}", sent.body);
    assert_eq!(sent.body["link"]["destination"], gd.as_str());
    wait_until("the SP order at G", LIMIT, || received(&g_node).len() == 1);
    order["delivery"]["state"] = json!("BA");
    let ba = post(&f_node, "/v1/orders", order).body["key"]
        .as_str()
        .expect("key")
        .to_string();
    let r = post(&f_node, &format!("/v1/orders/{ba}/send"), json!({}));
    assert_eq!(r.status, 422, "{:?}", r.body);
    assert_eq!(r.body["fields"][0]["field"], "to");

    // Rules: clone, edit, delete.
    let cloned = post(&f_node, "/v1/order-rules/2/clone", json!({}));
    assert_eq!(cloned.status, 201, "{:?}", cloned.body);
    assert_eq!(cloned.body["id"], 3);
    let r = f_node.request(
        "PUT",
        "/v1/order-rules/3",
        Some(&json!({"to": mc, "states": ["BA"]}).to_string()),
        None,
    );
    assert_eq!(r.status, 200, "{:?}", r.body);
    let r = post(&f_node, &format!("/v1/orders/{ba}/send"), json!({}));
    assert_eq!(r.body["link"]["destination"], md.as_str(), "{:?}", r.body);
    assert_eq!(
        f_node
            .request("DELETE", "/v1/order-rules/3", None, None)
            .status,
        200
    );
    assert_eq!(
        f_node.get("/v1/order-rules").body["rules"]
            .as_array()
            .map(Vec::len),
        Some(2)
    );
}

#[test]
fn a_split_by_stock_sends_two_parts_to_two_companies() {
    let (mc, fc, gc) = (cnpj(89), cnpj(90), cnpj(91));
    let (md, fd, gd) = (digits(&mc), digits(&fc), digits(&gc));
    let m = Company::init(&mc, "Matriz");
    let m_node = m.start_node();
    let f = Company::join(&m_node.invite(), &fc, "Filial");
    let f_node = f.start_node();
    let g = Company::join(&m_node.invite(), &gc, "Filial 2");
    let g_node = g.start_node();
    wait_until("all connected", LIMIT, || {
        connected(&f_node, &md) && connected(&f_node, &gd)
    });
    // The matriz has the pens, G the notebooks; the branch has neither.
    for (node, sku, qty) in [(&m_node, "CAN-01", "2000"), (&g_node, "CAD-02", "5")] {
        let product = json!({"description": sku}).to_string();
        let r = node.request(
            "PUT",
            &format!("/v1/records/product/{sku}"),
            Some(&product),
            None,
        );
        assert!(r.status == 201 || r.status == 200, "{:?}", r.body);
        let row = json!([{"sku": sku, "quantity": qty}]).to_string();
        let r = node.request("POST", "/v1/stock", Some(&row), None);
        assert_eq!(r.status, 200, "{:?}", r.body);
    }
    wait_until("the stock seen at the branch", LIMIT, || {
        let a = f_node.get("/v1/stock/CAN-01").body;
        let b = f_node.get("/v1/stock/CAD-02").body;
        a["total"]["quantity"] == "2000.000" && b["total"]["quantity"] == "5.000"
    });
    let created = f_node.request("POST", "/v1/orders", Some(&order_json()), None);
    let key = created.body["key"].as_str().expect("key").to_string();
    let split = |apply: bool| {
        f_node.request(
            "POST",
            &format!("/v1/orders/{key}/split"),
            Some(&json!({"apply": apply}).to_string()),
            None,
        )
    };
    let proposal = split(false);
    assert_eq!(proposal.status, 200, "{:?}", proposal.body);
    let parts = proposal.body["proposal"]["parts"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let to: Vec<&str> = parts.iter().filter_map(|p| p["company"].as_str()).collect();
    assert_eq!(to, vec![md.as_str(), gd.as_str()], "{:?}", proposal.body);
    let applied = split(true);
    assert_eq!(applied.status, 200, "{:?}", applied.body);
    assert_eq!(
        applied.body["order"]["parts"].as_array().map(Vec::len),
        Some(2)
    );
    wait_until("one part at each company", LIMIT, || {
        received(&m_node).len() == 1 && received(&g_node).len() == 1
    });
    assert_eq!(received(&m_node)[0]["items"][0]["sku"], "CAN-01");
    assert_eq!(received(&g_node)[0]["items"][0]["sku"], "CAD-02");
    assert_eq!(received(&g_node)[0]["link"]["origin"], fd.as_str());
    assert_eq!(split(true).status, 409, "a second split");
}
