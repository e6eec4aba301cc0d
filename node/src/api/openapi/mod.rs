//! The OpenAPI 3.1 description of the local API, served at
//! `/v1/openapi.json` without a token. Written here by hand, route by
//! route; a test checks that its paths and methods are exactly those the
//! router serves ([`super::routes`]) and that every reference resolves.

use std::sync::LazyLock;

use axum::http::header;
use axum::response::IntoResponse;

use serde_json::{Map, Value, json};

use super::routes::Routes;

mod orders;

/// The document's route; the router serves it outside the token check.
pub(super) fn router() -> Routes {
    Routes::new().get("/v1/openapi.json", openapi)
}

async fn openapi() -> impl IntoResponse {
    static DOCUMENT: LazyLock<String> = LazyLock::new(|| document().to_string());
    (
        [(header::CONTENT_TYPE, "application/json")],
        DOCUMENT.as_str(),
    )
}

/// One operation of the document, built up by what it takes and answers.
struct Op(Map<String, Value>);

impl Op {
    fn new(summary: &str) -> Op {
        let mut m = Map::new();
        m.insert("summary".into(), json!(summary));
        m.insert(
            "responses".into(),
            json!({ "401": { "$ref": "#/components/responses/Unauthorized" } }),
        );
        Op(m)
    }

    /// A success answer with its body.
    fn ok(mut self, status: &str, description: &str, schema: Value) -> Op {
        let answer = json!({ "description": description, "content": { "application/json": { "schema": schema } } });
        self.0["responses"][status] = answer;
        self
    }

    /// Error answers, each in the error shape; `why` says when.
    fn err(mut self, status: &str, why: &str) -> Op {
        let answer = json!({ "description": why, "content": { "application/json": { "schema": { "$ref": "#/components/schemas/Error" } } } });
        self.0["responses"][status] = answer;
        self
    }

    /// The errors every route with a JSON body can give.
    fn json_body(self, schema: Value, required: bool) -> Op {
        let mut op = self
            .err("400", "The body is not JSON; the message says where.")
            .err("413", "The body is larger than the route takes.")
            .err(
                "422",
                "A field or key is invalid or unknown (named in fields); nothing was stored.",
            );
        op.0.insert(
            "requestBody".into(),
            json!({ "required": required, "content": { "application/json": { "schema": schema } } }),
        );
        op
    }

    fn query(mut self, name: &str, schema: Value, description: &str) -> Op {
        let param =
            json!({ "name": name, "in": "query", "schema": schema, "description": description });
        let params = self.0.entry("parameters").or_insert_with(|| json!([]));
        if let Value::Array(list) = params {
            list.push(param);
        }
        self
    }

    /// A route that reads a query string: an unknown key is refused.
    fn reads_query(self) -> Op {
        self.err(
            "422",
            "A query key is unknown or a value does not read (named in fields).",
        )
    }

    fn into_value(self) -> Value {
        Value::Object(self.0)
    }
}

/// A path read with `GET` alone, answering `schema`.
fn reading(summary: &str, answer: &str, schema: Value) -> Vec<(&'static str, Op)> {
    vec![("get", Op::new(summary).ok("200", answer, schema))]
}

fn schema(name: &str) -> Value {
    json!({ "$ref": format!("#/components/schemas/{name}") })
}

fn array_of(name: &str) -> Value {
    json!({ "type": "array", "items": schema(name) })
}

fn path_param(name: &str, description: &str) -> Value {
    json!({ "name": name, "in": "path", "required": true, "description": description, "schema": { "type": "string" } })
}

fn document() -> Value {
    json!({
        "openapi": "3.1.0",
        "info": { "title": "elo local API", "version": "1",
            "description": "The API a company's ERP uses to read and write the group's shared records on its own elo node. Loopback only; every route except this document needs Authorization: Bearer TOKEN (the data directory's api-token file). Money and other decimals are strings with fixed places (\"1500.00\"); they are accepted as strings or JSON numbers. Every error answer, whatever the route, is the Error schema." },
        "components": with_order_schemas(components()),
        "security": [ { "token": [] } ],
        "paths": paths(),
    })
}

fn with_order_schemas(mut components: Value) -> Value {
    if let (Some(all), Value::Object(orders)) =
        (components["schemas"].as_object_mut(), orders::schemas())
    {
        all.extend(orders);
    }
    components
}

fn components() -> Value {
    let error = json!({ "description": "See the message.", "content": { "application/json": { "schema": schema("Error") } } });
    let text = json!({ "type": "string" });
    let decimal = json!({ "type": "string", "description": "A decimal with fixed places, e.g. \"1500.00\"." });
    json!({
        "securitySchemes": { "token": { "type": "http", "scheme": "bearer" } },
        "parameters": {
            "kind": { "name": "kind", "in": "path", "required": true,
                "schema": { "type": "string", "enum": ["customer", "supplier", "carrier", "product", "unit", "product_group", "company"] } },
            "key": { "name": "key", "in": "path", "required": true, "description": "The natural key (a CPF or CNPJ with or without punctuation, a SKU, a unit or product group code), or erp:CODE for this company's own code. A record's group code is not a key here (`elo get` looks it up among the records).", "schema": text }
        },
        "responses": { "Unauthorized": { "description": "Missing or wrong bearer token.", "content": error["content"].clone() } },
        "schemas": {
            "Error": { "type": "object", "required": ["error", "message", "fields"], "properties": {
                "error": { "type": "string", "description": "A code to branch on: invalid, malformed_json, not_found, too_large, method_not_allowed, unauthorized, store, …" },
                "message": text,
                "fields": { "type": "array", "items": { "type": "object", "properties": { "field": text, "reason": text } } } } },
            "Record": { "type": "object", "description": "Fields by name (see the README's field tables), plus id, kind, extra (object of text), addresses and references (objects keyed by label), codes (by company), erp_code, deleted; a write's answer adds seq.", "additionalProperties": true },
            "RecordPage": { "type": "object", "properties": { "records": array_of("Record"), "next_after": { "type": ["string", "null"] } } },
            "BulkReport": { "type": "object", "properties": { "stored": { "type": "integer" }, "changed": { "type": "integer" },
                "rejected": { "type": "array", "items": { "type": "object", "properties": { "index": { "type": "integer" }, "fields": { "type": "array" } } } },
                "code_pending": { "type": "object", "properties": { "rows": { "type": "array", "items": { "type": "integer" } }, "reason": text } } } },
            "Deleted": { "type": "object", "properties": { "id": text, "deleted": { "type": "boolean" }, "seq": { "type": "integer" } } },
            "Conflicts": { "type": "object", "properties": { "id": text, "conflicts": { "type": "array", "items": { "type": "object", "additionalProperties": true } } } },
            "History": { "type": "object", "properties": { "id": text, "history": { "type": "array", "items": { "type": "object", "additionalProperties": true } } } },
            "Change": { "type": "object", "properties": {
                "seq": { "type": "integer" }, "id": text, "kind": text, "key": text,
                "deleted": { "type": "boolean" }, "company": text, "erp_code": text } },
            "ChangePage": { "type": "object", "properties": { "changes": array_of("Change"), "last_seq": { "type": "integer" } } },
            "Member": { "type": "object", "properties": { "peer_id": text, "company": text, "name": text, "connected": { "type": "boolean" },
                "last_seen_ms": { "type": ["integer", "null"] }, "address": text, "their_latest_seq": { "type": "integer" }, "checkpoint": { "type": "integer" },
                "behind": { "type": "integer" }, "docs_received": { "type": "integer" }, "last_error": { "type": ["string", "null"] }, "pulling": { "type": "boolean" } } },
            "Status": { "type": "object", "description": "This company, its group and primary, every member, the addresses it listens on, pending authorisations, withheld records, the store's health.", "additionalProperties": true, "properties": {
                "company": { "type": "object" }, "group": { "type": "object" }, "members": array_of("Member"), "listen": { "type": "array", "items": text },
                "store": { "type": "object", "description": "ok, and the problem in words when the store needs attention (after a disk error: whether it was opened again).", "properties": { "ok": { "type": "boolean" }, "problem": { "type": ["string", "null"] } } },
                "other_groups": { "type": "array", "description": "Nodes of another group (another network key) met in the last 10 minutes: address, direction, attempts, first_seen_ms, last_seen_ms, message.", "items": { "type": "object" } },
                "pending_authorizations": { "type": "array" }, "withheld": array_of("Withheld"), "last_seq": { "type": "integer" }, "records": { "type": "integer" }, "documents": { "type": "integer" }, "version": text } },
            "Sync": { "type": "object", "properties": { "peers": array_of("Member"), "caught_up": { "type": "boolean" }, "connected": { "type": "integer" } } },
            "Invite": { "type": "object", "properties": { "invite": text, "expires_ms": { "type": "integer" }, "addrs": { "type": "array", "items": text } } },
            "Policy": { "type": "object", "properties": { "sends": text, "receives": text, "authorized": { "type": "array", "items": { "type": "object", "properties": { "company": text, "name": text, "categories": text } } },
                "pending": { "type": "array" }, "restricted": { "type": "array", "items": text } } },
            "Withheld": { "type": "object", "properties": { "company": text, "name": text, "records": { "type": "integer" }, "examples": { "type": "array", "items": text }, "what_to_do": text } },
            "Removal": { "type": "object", "properties": { "removed": text, "reached": { "type": "array", "items": text }, "not_reached": { "type": "array", "items": text } } },
            "Credit": { "type": "object", "properties": { "customer": text, "limit": { "type": ["string", "null"] }, "used": decimal, "available": { "type": ["string", "null"] },
                "by_company": { "type": "object", "additionalProperties": decimal }, "rights": { "type": "object", "additionalProperties": decimal } } },
            "Stock": { "type": "object", "description": "Each company's figures per deposit, the group total over the companies that count, and a kit's balance.", "additionalProperties": true,
                "properties": { "sku": text, "companies": { "type": "array" }, "total": { "type": "object" }, "kit": { "type": "object" } } },
            "StockRow": { "type": "object", "required": ["sku", "quantity"], "additionalProperties": false, "properties": { "sku": text, "quantity": decimal, "reserved": decimal, "deposit": text } },
            "StockReport": { "type": "object", "properties": { "stored": { "type": "integer" }, "unchanged": { "type": "integer" },
                "rejected": { "type": "array", "items": { "type": "object", "properties": { "index": { "type": "integer" }, "message": text } } } } },
            "Primary": { "type": "object", "properties": { "company": text, "primary": { "type": ["object", "null"], "properties": { "company": text, "term": { "type": "integer" } } },
                "current_term": { "type": "integer" }, "acting": { "type": "boolean" }, "members": { "type": "integer" }, "awaiting_code": { "type": "object", "additionalProperties": { "type": "integer" } } } },
            "Range": { "type": "object", "properties": { "company": text, "table": text, "from": { "type": "integer" }, "to": { "type": "integer" }, "term": { "type": "integer" },
                "committed": { "type": "boolean" }, "used": { "type": ["integer", "null"] } } },
            "Ranges": { "type": "object", "properties": { "primary": { "type": ["object", "null"] }, "ranges": array_of("Range"), "awaiting_code": { "type": "object" } } },
            "Codes": { "type": "object", "properties": { "table": text, "company": text, "code": { "type": "integer" }, "codes": { "type": "array", "items": { "type": "integer" } } } },
            "Backup": { "type": "object", "properties": { "name": text, "file": text, "bytes": { "type": "integer" } } }
        }
    })
}

/// Every path, each with its operations.
fn paths() -> Value {
    let mut paths = Map::new();
    let mut add = |path: &str, params: Vec<Value>, ops: Vec<(&str, Op)>| {
        let mut item = Map::new();
        if !params.is_empty() {
            item.insert("parameters".into(), Value::Array(params));
        }
        for (method, op) in ops {
            item.insert(method.into(), op.into_value());
        }
        paths.insert(path.into(), Value::Object(item));
    };
    let kind = || json!({ "$ref": "#/components/parameters/kind" });
    let key = || json!({ "$ref": "#/components/parameters/key" });
    let company = || path_param("company", "A company's CNPJ, with or without punctuation.");
    records(&mut add, kind, key);
    feed_and_group(&mut add);
    sharing(&mut add, company);
    others(&mut add);
    orders::paths(&mut add);
    // Paths read with GET alone: (path, what it is, its answer, its schema).
    let readings = [
        (
            "/v1/sync",
            "How far behind each member this node is",
            "Replication state",
            "Sync",
        ),
        (
            "/v1/primary",
            "The primary (the company that hands out ID ranges) and its term",
            "The primary",
            "Primary",
        ),
    ];
    for (path, summary, answer, name) in readings {
        add(path, vec![], reading(summary, answer, schema(name)));
    }
    Value::Object(paths)
}

type AddPath<'a> = dyn FnMut(&str, Vec<Value>, Vec<(&str, Op)>) + 'a;

fn records(add: &mut AddPath<'_>, kind: impl Fn() -> Value, key: impl Fn() -> Value) {
    let not_held =
        "This company neither sends nor receives the kind's category (category_not_held).";
    let record_body = || schema("Record");
    add("/v1/records/{kind}", vec![kind()], vec![
        ("get", Op::new("List records of a kind in key order")
            .query("after", json!({ "type": "string" }), "Start after this key (the previous page's next_after).")
            .query("limit", json!({ "type": "integer", "default": 100, "minimum": 1, "maximum": 10000 }), "Most records in the page.")
            .query("deleted", json!({ "type": "boolean", "default": false }), "Include deleted records.")
            .reads_query().ok("200", "A page of records", schema("RecordPage")).err("403", not_held).err("404", "Unknown kind.")),
        ("post", Op::new("Write up to 10,000 records in one transaction (a JSON array; bodies up to 32 MiB)")
            .json_body(json!({ "type": "array", "items": record_body() }), true)
            .ok("200", "All stored", schema("BulkReport")).err("403", not_held).err("404", "Unknown kind.")
            .err("503", "The store could not write (see /v1/status).")),
    ]);
    let rec = "/v1/records/{kind}/{key}";
    let write_errors = |op: Op| {
        op.json_body(record_body(), true)
            .err("403", not_held)
            .err("409", "Refused by the group (a code already taken, …).")
            .err("503", "The store could not write (see /v1/status).")
    };
    add(rec, vec![kind(), key()], vec![
        ("get", Op::new("Read a record").ok("200", "The record", record_body()).err("403", not_held).err("404", "No such record.").err("422", "The key is not valid for the kind.")),
        ("put", write_errors(Op::new("Create a record or set some of its fields (fields not sent are kept; null clears one)"))
            .ok("200", "Updated: the whole record", record_body()).ok("201", "Created: the whole record", record_body())),
        ("patch", write_errors(Op::new("Set some fields of an existing record"))
            .ok("200", "Updated: the whole record", record_body()).err("404", "No such record.")),
        ("delete", Op::new("Delete a record (a tombstone that replicates)").ok("200", "Deleted", schema("Deleted")).err("403", not_held).err("404", "No such record.")),
    ]);
    add(
        "/v1/records/{kind}/{key}/history",
        vec![kind(), key()],
        vec![(
            "get",
            Op::new("Who changed which fields, when")
                .ok("200", "The history", schema("History"))
                .err("403", not_held)
                .err("404", "No such record."),
        )],
    );
    add(
        "/v1/records/{kind}/{key}/conflicts",
        vec![kind(), key()],
        vec![(
            "get",
            Op::new("The fields where edits made apart left more than one value, each value with the company that wrote it")
                .ok("200", "The conflicts (none: an empty list)", schema("Conflicts"))
                .err("403", not_held)
                .err("404", "No such record."),
        )],
    );
}

fn feed_and_group(add: &mut AddPath<'_>) {
    add(
        "/v1/changes",
        vec![],
        vec![(
            "get",
            Op::new("The change feed: records changed after a sequence number, oldest first")
                .query(
                    "since",
                    json!({ "type": "integer", "default": 0 }),
                    "The last seq already seen.",
                )
                .query(
                    "limit",
                    json!({ "type": "integer", "default": 100, "minimum": 1, "maximum": 10000 }),
                    "Most changes in the page.",
                )
                .reads_query()
                .ok(
                    "200",
                    "Changes in sequence order; last_seq is where to go on from",
                    schema("ChangePage"),
                ),
        )],
    );
    add("/v1/changes/stream", vec![], vec![("get", Op::new("The change feed as server-sent events (event: change, id: seq, data: a Change), then every new change as it is committed. A reconnecting client's Last-Event-ID header is where it resumes.")
        .query("since", json!({ "type": "integer", "default": 0 }), "The last seq already seen (Last-Event-ID wins when later).")
        .reads_query().ok("200", "text/event-stream of Change events", schema("Change")))]);
    add(
        "/v1/status",
        vec![],
        vec![(
            "get",
            Op::new("This company, the group, the primary, every member and the store's health")
                .ok("200", "Status", schema("Status")),
        )],
    );
    add("/v1/resync", vec![], vec![("post", Op::new("Forget checkpoints and replicate from scratch, with every member or one")
        .json_body(json!({ "type": "object", "additionalProperties": false, "properties": { "peer": { "type": "string", "description": "A peer id or a CNPJ" } } }), false)
        .ok("200", "How many members it replicates with again", json!({ "type": "object", "properties": { "members": { "type": "integer" } } }))
        .err("409", "The node runs without the mesh.").err("503", "The mesh did not answer."))]);
    add("/v1/invites", vec![], vec![("post", Op::new("A one-time invite line for a new company")
        .json_body(json!({ "type": "object", "additionalProperties": false, "properties": { "addrs": { "type": "array", "items": { "type": "string" } }, "ttl_hours": { "type": "integer", "minimum": 1 } } }), false)
        .ok("200", "The invite", schema("Invite")).err("409", "No address to put in it, or the store refused it."))]);
}

fn sharing(add: &mut AddPath<'_>, company: impl Fn() -> Value) {
    let share_body = json!({ "type": "object", "additionalProperties": false, "properties": { "sends": { "type": "string" }, "receives": { "type": "string" } }, "description": "Categories: all, none or a list (send and receive are read too)." });
    add(
        "/v1/share",
        vec![],
        vec![
            (
                "get",
                Op::new("This company's sharing policy").ok("200", "The policy", schema("Policy")),
            ),
            (
                "put",
                Op::new("Which categories this company sends and receives")
                    .json_body(share_body, true)
                    .ok("200", "The policy as it is now", schema("Policy")),
            ),
        ],
    );
    let authorize_body = json!({ "type": "object", "additionalProperties": false, "required": ["from"], "properties": { "from": { "type": "string", "description": "A member's CNPJ, or * for every member not named" }, "categories": { "type": "string", "default": "all" } } });
    add(
        "/v1/authorizations",
        vec![],
        vec![
            (
                "get",
                Op::new("This company's sharing policy (whom it takes records from)").ok(
                    "200",
                    "The policy",
                    schema("Policy"),
                ),
            ),
            (
                "post",
                Op::new("Take in the records a company creates")
                    .json_body(authorize_body, true)
                    .ok("200", "The policy as it is now", schema("Policy"))
                    .err("404", "No such member."),
            ),
        ],
    );
    add(
        "/v1/authorizations/{company}",
        vec![company()],
        vec![(
            "delete",
            Op::new("Keep a company's records out")
                .ok("200", "The policy as it is now", schema("Policy"))
                .err("404", "No such member.")
                .err(
                    "422",
                    "The company cannot be revoked (this company itself).",
                ),
        )],
    );
    restriction_and_removal(add, company);
}

fn restriction_and_removal(add: &mut AddPath<'_>, company: impl Fn() -> Value) {
    let restrict_body = json!({ "type": "object", "additionalProperties": false, "required": ["fields"], "properties": { "fields": { "type": "array", "items": { "type": "string" } } } });
    add(
        "/v1/restricted",
        vec![],
        vec![
            (
                "get",
                Op::new("This company's sharing policy (the product fields it keeps to itself)")
                    .ok("200", "The policy", schema("Policy")),
            ),
            (
                "put",
                Op::new("Keep product fields to this company")
                    .json_body(restrict_body, true)
                    .ok("200", "The policy as it is now", schema("Policy")),
            ),
        ],
    );
    add(
        "/v1/imports",
        vec![],
        reading(
            "The imports in progress (and those finished in the last minute): each `elo import`, by the id its X-Elo-Import header names, with how far its last stored batch went",
            "The imports",
            json!({ "type": "object", "properties": { "imports": { "type": "array", "items": { "type": "object", "properties": {
                "id": { "type": "string" }, "kind": { "type": "string" }, "done": { "type": "integer" },
                "total": { "type": "integer" }, "batches": { "type": "integer" }, "finished": { "type": "boolean" } } } } } }),
        ),
    );
    add(
        "/v1/withheld",
        vec![],
        vec![(
            "get",
            Op::new("Records members hold back because this company keeps their creators out").ok(
                "200",
                "By creator",
                json!({ "type": "object", "properties": { "withheld": array_of("Withheld") } }),
            ),
        )],
    );
    add(
        "/v1/members/{company}",
        vec![company()],
        vec![(
            "delete",
            Op::new(
                "At the primary: take a company out of the group and move to a new network key",
            )
            .ok("200", "Who got the new key", schema("Removal"))
            .err("409", "The node runs without the mesh.")
            .err(
                "422",
                "Refused by the group's rules (not the primary, unknown company).",
            )
            .err("503", "The mesh did not answer."),
        )],
    );
}

fn others(add: &mut AddPath<'_>) {
    let customer = path_param("key", "The customer's CPF or CNPJ, or a code.");
    let amount = json!({ "type": ["string", "number"], "description": "An amount more than zero" });
    add("/v1/customers/{key}/credit", vec![customer], vec![
        ("get", Op::new("A customer's shared credit: limit, used by company, available").ok("200", "The credit", schema("Credit")).err("404", "No such customer.")),
        ("post", Op::new("A charge or a payment at this company")
            .json_body(json!({ "type": "object", "additionalProperties": false, "properties": { "charge": amount.clone(), "release": amount } }), true)
            .ok("200", "The credit as it is now", schema("Credit")).err("404", "No such customer.")
            .err("409", "over_limit, over_release, escrow_short, not_in_escrow or refused: the message says by how much.")),
    ]);
    add("/v1/credit/escrow", vec![], vec![("put", Op::new("At the founding company: hold every customer's credit as rights shared among the companies")
        .json_body(json!({ "type": "object", "additionalProperties": false, "required": ["on"], "properties": { "on": { "type": "boolean" } } }), true)
        .ok("200", "What was moved", json!({ "type": "object", "properties": { "escrow": { "type": "boolean" }, "customers": { "type": "integer" }, "members": { "type": "integer" } } }))
        .err("409", "Not the founding company."))]);
    add(
        "/v1/stock",
        vec![],
        vec![(
            "post",
            Op::new("This company's stock figures, up to 10,000 rows in one transaction")
                .json_body(array_of("StockRow"), true)
                .ok("200", "All stored", schema("StockReport"))
                .err("403", "This company does not hold products."),
        )],
    );
    add(
        "/v1/stock/{sku}",
        vec![path_param("sku", "The product's SKU.")],
        vec![(
            "get",
            Op::new("Every company's stock of a SKU (per deposit) and the group total")
                .query(
                    "scope",
                    json!({ "type": "string", "enum": ["all", "own"], "default": "all" }),
                    "own: this company's figures only.",
                )
                .reads_query()
                .ok("200", "The stock", schema("Stock"))
                .err("403", "This company does not hold products."),
        )],
    );
    primary_and_backup(add);
}

fn primary_and_backup(add: &mut AddPath<'_>) {
    add("/v1/primary/elect", vec![], vec![("post", Op::new("An election with a new term; without a majority nothing changes")
        .json_body(json!({ "type": "object", "additionalProperties": false, "properties": { "candidate": { "type": "string", "description": "A CNPJ; default this company" } } }), false)
        .ok("200", "The primary after the election", schema("Primary")).err("503", "no_majority or not_elected: the message says who answered."))]);
    add("/v1/ranges", vec![], vec![
        ("get", Op::new("Every range of codes, and records awaiting a code").ok("200", "The ranges", schema("Ranges"))),
        ("post", Op::new("At the primary: give a range by hand")
            .json_body(json!({ "type": "object", "additionalProperties": false, "required": ["company", "table", "from", "to"], "properties": {
                "company": { "type": "string" }, "table": { "type": "string" }, "from": { "type": "integer" }, "to": { "type": "integer" } } }), true)
            .ok("201", "The range", schema("Range")).err("409", "not_primary, or range_overlaps naming the range it overlaps.").err("503", "The range could not be committed by a majority.")),
    ]);
    add(
        "/v1/ids/{table}/next",
        vec![path_param(
            "table",
            "A table name: lower-case letters, digits and _.",
        )],
        vec![(
            "post",
            Op::new("Codes from this company's blocks, stored as used before they are answered")
                .query(
                    "count",
                    json!({ "type": "integer", "default": 1, "minimum": 1 }),
                    "How many codes.",
                )
                .reads_query()
                .ok("200", "The codes", schema("Codes"))
                .err("400", "A bad table name or count.")
                .err("503", "codes_exhausted: what is left and the primary."),
        )],
    );
    add("/v1/backup", vec![], vec![("post", Op::new("A copy of the whole store as DIR/backups/NAME, never replacing a file")
        .json_body(json!({ "type": "object", "additionalProperties": false, "properties": { "name": { "type": "string", "description": "A plain file name; default from the time" } } }), false)
        .ok("200", "The backup", schema("Backup")).err("409", "backup_exists: a file of that name is there.").err("503", "The store could not write the copy (the message names the file)."))]);
    let mut open = Op::new("This document").ok("200", "OpenAPI 3.1", json!({ "type": "object" }));
    open.0.insert("security".into(), json!([]));
    if let Some(Value::Object(r)) = open.0.get_mut("responses") {
        r.remove("401");
    }
    add("/v1/openapi.json", vec![], vec![("get", open)]);
    let mut metrics = Op::new(
        "The node's figures for Prometheus: records, documents, the log, each member (connected, behind, last seen, bytes in and out), pull and write latencies, API requests by route and status, codes left per table",
    );
    metrics.0["responses"]["200"] = json!({ "description": "The OpenMetrics text format", "content": { "application/openmetrics-text": { "schema": { "type": "string" } } } });
    add("/metrics", vec![], vec![("get", metrics)]);
}
