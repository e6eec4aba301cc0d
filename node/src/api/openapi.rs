//! The OpenAPI 3.1 description of the local API, served at
//! `/v1/openapi.json` without a token. Kept by hand next to the routes in
//! this folder; a test checks that it parses and names every route.

use axum::Router;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;

use super::state::ApiState;

/// The document's route; the router serves it outside the token check.
pub(super) fn router() -> Router<ApiState> {
    Router::new().route("/v1/openapi.json", get(openapi))
}

async fn openapi() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "application/json")], OPENAPI)
}

const OPENAPI: &str = r##"{
  "openapi": "3.1.0",
  "info": { "title": "elo local API", "version": "1",
    "description": "The API a company's ERP uses to read and write the group's shared records on its own elo node. Loopback only; every route except this document needs Authorization: Bearer TOKEN (the data directory's api-token file). Money and other decimals are strings with fixed places (\"1500.00\"); they are accepted as strings or JSON numbers." },
  "components": {
    "securitySchemes": { "token": { "type": "http", "scheme": "bearer" } },
    "parameters": {
      "kind": { "name": "kind", "in": "path", "required": true,
        "schema": { "type": "string", "enum": ["customer", "supplier", "carrier", "product", "unit", "product_group"] } },
      "key": { "name": "key", "in": "path", "required": true, "description": "The natural key: a CPF or CNPJ with or without punctuation, a SKU, a unit or group code.", "schema": { "type": "string" } }
    },
    "schemas": {
      "Record": { "type": "object", "description": "Fields by name (see the README's field tables), plus id, kind, extra (object of text), addresses and references (objects keyed by label), deleted.", "additionalProperties": true },
      "Error": { "type": "object", "properties": {
        "error": { "type": "string" }, "message": { "type": "string" },
        "fields": { "type": "array", "items": { "type": "object", "properties": { "field": { "type": "string" }, "reason": { "type": "string" } } } } } },
      "Change": { "type": "object", "properties": {
        "seq": { "type": "integer" }, "id": { "type": "string" }, "kind": { "type": "string" }, "key": { "type": "string" },
        "deleted": { "type": "boolean" }, "company": { "type": "string" } } }
    },
    "responses": {
      "Invalid": { "description": "A field is invalid; nothing was stored.", "content": { "application/json": { "schema": { "$ref": "#/components/schemas/Error" } } } },
      "Malformed": { "description": "The body is not JSON; the message says where.", "content": { "application/json": { "schema": { "$ref": "#/components/schemas/Error" } } } },
      "TooLarge": { "description": "The body is larger than the limit (1 MiB, 32 MiB for bulk writes)." },
      "NotFound": { "description": "No such record.", "content": { "application/json": { "schema": { "$ref": "#/components/schemas/Error" } } } },
      "Unauthorized": { "description": "Missing or wrong bearer token." }
    }
  },
  "security": [ { "token": [] } ],
  "paths": {
    "/v1/records/{kind}": {
      "parameters": [ { "$ref": "#/components/parameters/kind" } ],
      "get": { "summary": "List records of a kind in key order", "parameters": [
          { "name": "after", "in": "query", "schema": { "type": "string" }, "description": "Start after this key (the previous page's next_after)." },
          { "name": "limit", "in": "query", "schema": { "type": "integer", "default": 100, "maximum": 10000 } },
          { "name": "deleted", "in": "query", "schema": { "type": "boolean", "default": false } } ],
        "responses": { "200": { "description": "A page of records", "content": { "application/json": { "schema": { "type": "object", "properties": {
          "records": { "type": "array", "items": { "$ref": "#/components/schemas/Record" } }, "next_after": { "type": ["string", "null"] } } } } } },
          "401": { "$ref": "#/components/responses/Unauthorized" } } },
      "post": { "summary": "Write many records (up to 10,000) in one transaction", "requestBody": { "required": true, "content": { "application/json": { "schema": { "type": "array", "items": { "$ref": "#/components/schemas/Record" } } } } },
        "responses": { "200": { "description": "All stored" }, "422": { "description": "Some refused, each by index; the others stored" }, "400": { "$ref": "#/components/responses/Malformed" }, "413": { "$ref": "#/components/responses/TooLarge" } } }
    },
    "/v1/records/{kind}/{key}": {
      "parameters": [ { "$ref": "#/components/parameters/kind" }, { "$ref": "#/components/parameters/key" } ],
      "get": { "summary": "Read a record", "responses": { "200": { "description": "The record", "content": { "application/json": { "schema": { "$ref": "#/components/schemas/Record" } } } }, "404": { "$ref": "#/components/responses/NotFound" } } },
      "put": { "summary": "Create a record or set some of its fields (fields not sent are kept; null clears one)", "requestBody": { "required": true, "content": { "application/json": { "schema": { "$ref": "#/components/schemas/Record" } } } },
        "responses": { "200": { "description": "Updated" }, "201": { "description": "Created" }, "400": { "$ref": "#/components/responses/Malformed" }, "413": { "$ref": "#/components/responses/TooLarge" }, "422": { "$ref": "#/components/responses/Invalid" } } },
      "patch": { "summary": "Set some fields of an existing record", "requestBody": { "required": true, "content": { "application/json": { "schema": { "$ref": "#/components/schemas/Record" } } } },
        "responses": { "200": { "description": "Updated" }, "404": { "$ref": "#/components/responses/NotFound" }, "422": { "$ref": "#/components/responses/Invalid" } } },
      "delete": { "summary": "Delete a record (a tombstone that replicates)", "responses": { "200": { "description": "Deleted" }, "404": { "$ref": "#/components/responses/NotFound" } } }
    },
    "/v1/records/{kind}/{key}/history": {
      "parameters": [ { "$ref": "#/components/parameters/kind" }, { "$ref": "#/components/parameters/key" } ],
      "get": { "summary": "Who changed which fields, when", "responses": { "200": { "description": "The history, oldest first" }, "404": { "$ref": "#/components/responses/NotFound" } } }
    },
    "/v1/changes": {
      "get": { "summary": "The change feed: records changed after a sequence number", "parameters": [
          { "name": "since", "in": "query", "schema": { "type": "integer", "default": 0 } },
          { "name": "limit", "in": "query", "schema": { "type": "integer", "default": 100 } } ],
        "responses": { "200": { "description": "Changes in sequence order", "content": { "application/json": { "schema": { "type": "object", "properties": {
          "changes": { "type": "array", "items": { "$ref": "#/components/schemas/Change" } }, "last_seq": { "type": "integer" } } } } } } } }
    },
    "/v1/changes/stream": {
      "get": { "summary": "The change feed as server-sent events (event: change, id: seq)", "parameters": [ { "name": "since", "in": "query", "schema": { "type": "integer", "default": 0 } } ],
        "responses": { "200": { "description": "text/event-stream" } } }
    },
    "/v1/status": { "get": { "summary": "This company, its group, the last sequence number and record count", "responses": { "200": { "description": "Status" } } } },
    "/v1/openapi.json": { "get": { "summary": "This document", "security": [], "responses": { "200": { "description": "OpenAPI 3.1" } } } }
  }
}"##;
