//! The group as this company sees it: its status, invites for new
//! companies, replication state and resync, its sharing policy (what it
//! sends and receives, whom it authorises, what it restricts) and removing
//! a member.

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use serde::Deserialize;
use serde_json::{Value, json};

use super::error::{ApiError, ApiResult};
use super::request::{body_as, body_or_default};
use super::routes::Routes;
use super::state::ApiState;
use crate::group::{self, sharing};

pub(super) fn router() -> Routes {
    Routes::new()
        .get("/v1/status", status)
        .post("/v1/invites", create_invite)
        .get("/v1/sync", sync_state)
        .post("/v1/resync", resync)
        .get("/v1/share", share_show)
        .put("/v1/share", share_set)
        .get("/v1/authorizations", share_show)
        .post("/v1/authorizations", authorize)
        .delete("/v1/authorizations/{company}", revoke)
        .get("/v1/restricted", share_show)
        .put("/v1/restricted", restrict)
        .get("/v1/withheld", withheld)
        .delete("/v1/members/{company}", remove_company)
}

/// `GET /v1/status`, with the store's health: when the store cannot be
/// read (closed after a disk error), what can be said without it, and why.
async fn status(State(state): State<ApiState>) -> ApiResult<Json<Value>> {
    let problem = state.store.problem();
    let health = json!({ "ok": problem.is_none(), "problem": problem });
    match full_status(&state).await {
        Ok(Json(mut s)) => {
            s["store"] = health;
            Ok(Json(s))
        }
        Err(_) if problem.is_some() => Ok(Json(json!({
            "company": state.company,
            "group": { "id": state.group.id },
            "store": health,
            "members": match &state.mesh { Some(m) => json!(m.status().await), None => json!([]) },
            "version": env!("CARGO_PKG_VERSION"),
        }))),
        Err(e) => Err(e),
    }
}

async fn full_status(state: &ApiState) -> ApiResult<Json<Value>> {
    let last_seq = state.store.last_seq().await?;
    let records = state.store.record_count().await?;
    let documents = state.store.doc_count().await?;
    let (members, listen, other_groups) = match &state.mesh {
        Some(m) => (
            json!(m.status().await),
            json!(m.listen_addrs().await),
            json!(m.other_groups().await),
        ),
        None => (json!([]), json!([]), json!([])),
    };
    let roster = group::roster(&state.store).await?;
    let pending = group::pending_authorizations(&roster, &state.company.cnpj);
    let withheld = sharing::withheld(&state.store, &roster, &state.company.cnpj).await?;
    let (primary, _) = state.primary.view().await?;
    Ok(Json(json!({
        "company": state.company,
        "pending_authorizations": pending,
        "withheld": withheld,
        "group": { "id": state.group.id,
            "primary": primary.primary.as_ref().map(|p| p.company.clone()),
            "term": primary.primary.as_ref().map_or(0, |p| p.term) },
        "members": members,
        "listen": listen,
        "other_groups": other_groups,
        "last_seq": last_seq,
        "records": records,
        "documents": documents,
        "version": env!("CARGO_PKG_VERSION"),
    })))
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct InviteRequest {
    #[serde(default)]
    addrs: Vec<String>,
    ttl_hours: Option<u64>,
}

/// Makes a one-time invite for a new company.
async fn create_invite(State(state): State<ApiState>, body: Bytes) -> ApiResult<Json<Value>> {
    let req: InviteRequest = body_or_default(&body)?;
    let ttl = req.ttl_hours.unwrap_or(group::DEFAULT_INVITE_HOURS);
    // The running mesh knows its addresses now; what it remembered may be stale.
    let addrs = match (&state.mesh, req.addrs.is_empty()) {
        (Some(mesh), true) => mesh.p2p_addrs().await,
        _ => req.addrs,
    };
    // The group secret may have changed since the node started (a member
    // was removed): invites carry the current one.
    let group = match state.store.meta(crate::store::tables::META_GROUP).await? {
        Some(b) => serde_json::from_slice(&b).unwrap_or_else(|_| state.group.clone()),
        None => state.group.clone(),
    };
    let invite = group::create_invite(&state.store, &group, addrs, ttl)
        .await
        .map_err(ApiError::invite)?;
    Ok(Json(
        json!({ "invite": invite.encode(), "expires_ms": invite.expires_ms, "addrs": invite.addrs }),
    ))
}

/// Replication state: how far behind each member this node is.
async fn sync_state(State(state): State<ApiState>) -> ApiResult<Json<Value>> {
    let peers = match &state.mesh {
        Some(m) => m.status().await,
        None => Vec::new(),
    };
    let caught_up = peers
        .iter()
        .filter(|p| p.connected)
        .all(|p| p.behind == 0 && !p.pulling);
    Ok(Json(json!({ "peers": peers, "caught_up": caught_up,
        "connected": peers.iter().filter(|p| p.connected).count() })))
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct ResyncRequest {
    peer: Option<String>,
}

/// Forgets checkpoints and replicates from scratch.
async fn resync(State(state): State<ApiState>, body: Bytes) -> ApiResult<Json<Value>> {
    let req: ResyncRequest = body_or_default(&body)?;
    let Some(mesh) = &state.mesh else {
        return Err(ApiError::no_mesh("this node runs without the mesh"));
    };
    let peer = match req.peer {
        Some(who) => Some(other_member(&state, &who).await?),
        None => None,
    };
    let n = mesh.resync(peer).await?;
    Ok(Json(json!({ "members": n })))
}

/// The CNPJ of the other member `who` names (its peer id, or its CNPJ with
/// or without punctuation); an unknown name is refused with the members
/// there are, rather than replicating again with none.
async fn other_member(state: &ApiState, who: &str) -> ApiResult<String> {
    let cnpj = elo_crdt::ident::cnpj(who).ok();
    let others: Vec<group::Member> = group::roster(&state.store)
        .await?
        .into_iter()
        .filter(|m| m.cnpj != state.company.cnpj)
        .collect();
    let named = others.iter().find(|m| {
        cnpj.as_deref() == Some(m.cnpj.as_str())
            || m.peer_id.is_some_and(|p| p.to_string() == who.trim())
    });
    if let Some(m) = named {
        return Ok(m.cnpj.clone());
    }
    let known: Vec<String> = others
        .iter()
        .map(|m| format!("{} ({})", m.cnpj, m.name))
        .collect();
    let known = if known.is_empty() {
        "this company is the only member".to_string()
    } else {
        format!("the other members are {}", known.join(", "))
    };
    Err(ApiError::new(
        axum::http::StatusCode::NOT_FOUND,
        "not_member",
        format!("{who:?} is no other member of the group (give a CNPJ or peer id): {known}"),
    ))
}

/// This company's sharing policy: what it sends and receives, whom it
/// receives from, who is waiting for its authorisation, what it restricts.
async fn share_show(State(state): State<ApiState>) -> ApiResult<Json<Value>> {
    let policy = sharing::show(&state.store, &state.company.cnpj).await?;
    Ok(Json(json!(policy)))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ShareRequest {
    /// `send` and `receive`, the command line's words, are read too.
    #[serde(alias = "send")]
    sends: Option<String>,
    #[serde(alias = "receive")]
    receives: Option<String>,
}

async fn share_set(State(state): State<ApiState>, body: Bytes) -> ApiResult<Json<Value>> {
    let req: ShareRequest = body_as(&body)?;
    let (sends, receives) = (req.sends.as_deref(), req.receives.as_deref());
    let me = &state.company.cnpj;
    answer(sharing::share(&state.store, me, sends, receives).await)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AuthorizeRequest {
    from: String,
    #[serde(default)]
    categories: Option<String>,
}

/// The records members hold back from this company, by their creators.
async fn withheld(State(state): State<ApiState>) -> ApiResult<Json<Value>> {
    let roster = group::roster(&state.store).await?;
    let withheld = sharing::withheld(&state.store, &roster, &state.company.cnpj).await?;
    Ok(Json(json!({ "withheld": withheld })))
}

async fn authorize(State(state): State<ApiState>, body: Bytes) -> ApiResult<Json<Value>> {
    let req: AuthorizeRequest = body_as(&body)?;
    let categories = req.categories.as_deref().unwrap_or("all");
    let me = &state.company.cnpj;
    answer(sharing::authorize(&state.store, me, &req.from, categories).await)
}

async fn revoke(
    State(state): State<ApiState>,
    Path(company): Path<String>,
) -> ApiResult<Json<Value>> {
    let policy = sharing::revoke(&state.store, &state.company.cnpj, &company).await?;
    Ok(Json(json!(policy)))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RestrictRequest {
    fields: Vec<String>,
}

async fn restrict(State(state): State<ApiState>, body: Bytes) -> ApiResult<Json<Value>> {
    let req: RestrictRequest = body_as(&body)?;
    let policy = sharing::restrict(&state.store, &state.company.cnpj, &req.fields).await?;
    Ok(Json(json!(policy)))
}

/// A sharing command's answer: the company's policy as it is now.
fn answer(policy: Result<sharing::Policy, sharing::PolicyError>) -> ApiResult<Json<Value>> {
    Ok(Json(json!(policy?)))
}

/// Takes a company out of the group and changes the network key.
async fn remove_company(
    State(state): State<ApiState>,
    Path(company): Path<String>,
) -> ApiResult<Json<Value>> {
    let Some(mesh) = &state.mesh else {
        return Err(ApiError::no_mesh(
            "removing a company must reach the members: run the node with the mesh",
        ));
    };
    Ok(Json(json!(mesh.remove_company(&company).await?)))
}
