//! Replication between company nodes: the driver that sits between the
//! network (elo-net) and the store.
//!
//! Pull-based with per-peer checkpoints (see `elo_net::protocol`): when a
//! member connects or announces a change, this node walks that member's
//! change log from the checkpoint kept for it, fetches only the documents
//! whose heads differ (many per message, several messages in flight),
//! merges them, and only then advances the checkpoint in the same kind of
//! transaction. Merged changes get this node's own sequence numbers, so they
//! flow on to members the origin cannot reach. Initial load, live updates
//! and catching up after a week offline are all this one loop.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use elo_net::protocol::{
    ChangeSummary, DocBytes, Hello, MAX_CHANGES_PER_PAGE, MAX_DOCS_PER_FETCH, RequestBody,
    ResponseBody,
};
use elo_net::{Keypair, Multiaddr, NetClient, NetConfig, NetEvent, PeerId};
use serde::Serialize;
use serde_bytes::ByteBuf;
use tokio::sync::{Notify, broadcast::error::RecvError, mpsc, watch};

use crate::data_dir::{Company, Group};
use crate::membership::{self, META_LISTEN, Member, now_ms};
use crate::primary::PrimaryHandle;
use crate::primary::machine::{Outgoing, PrimaryMessage};
pub use crate::pull::pull_from;
use crate::pull::{ReceivePolicy, heads_bytes, parse_heads};
use crate::store::read::AuthorFilter;
use crate::store::stock::StockEntry;
use crate::store::{ReplicatedLog, StoreHandle, WriteOp};
use elo_crdt::{Category, DocId, DocPayload, Sharing};
use elo_net::protocol::StockFigures;

/// Most document bytes in one `Docs` answer (the response limit is
/// `elo_net::protocol::MAX_RESPONSE_BYTES`).
const MAX_DOCS_BYTES: usize = 8 * 1024 * 1024;
/// Metadata key prefix of the address a member was last reached at.
const META_REMEMBERED: &str = "remembered_addr/";
/// Longest wait between dial attempts to an unreachable member.
const MAX_BACKOFF: Duration = Duration::from_secs(30);

/// How the mesh is set up.
#[derive(Clone, Debug)]
pub struct MeshConfig {
    pub listen: Vec<Multiaddr>,
    /// Addresses to dial besides the roster's and the remembered ones.
    pub peers: Vec<Multiaddr>,
    pub mdns: bool,
    /// Dial the addresses the roster and memory hold (off: only `peers`).
    pub dial_roster: bool,
}

/// Why the mesh could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MeshError {
    #[error(transparent)]
    Net(#[from] elo_net::NetError),
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
    #[error("{0}")]
    Refused(String),
}

/// What this node knows of one member, as `elo status` shows it.
#[derive(Clone, Debug, Default, Serialize)]
pub struct PeerStatus {
    pub peer_id: String,
    pub company: Option<String>,
    pub name: Option<String>,
    pub connected: bool,
    pub last_seen_ms: Option<i64>,
    pub address: Option<String>,
    /// The member's latest sequence number, as last heard.
    pub their_latest_seq: u64,
    /// How far this node has stored the member's log.
    pub checkpoint: u64,
    /// Changes of the member's log not yet walked here.
    pub behind: u64,
    /// Documents received from it since this node started.
    pub docs_received: u64,
    pub last_error: Option<String>,
    pub pulling: bool,
}

struct PeerState {
    status: PeerStatus,
    wake: Arc<Notify>,
    puller: bool,
    /// The member asked for its log to be walked again from the start; the
    /// puller does it before its next pull (not during one, whose
    /// checkpoint would then overwrite the reset).
    rescan: bool,
}

struct Shared {
    net: NetClient,
    store: StoreHandle,
    me: Company,
    group: Group,
    peers: Mutex<HashMap<PeerId, PeerState>>,
    roster: Mutex<HashMap<PeerId, Member>>,
    extra_addrs: Vec<Multiaddr>,
    /// The address each member was last reached at, kept in metadata.
    remembered: Mutex<HashMap<PeerId, Multiaddr>>,
    dial_roster: bool,
    backoff: Mutex<HashMap<String, (Instant, Duration)>>,
    /// Members owed a rescan: what they may have from this node widened
    /// since they last walked its log. Told on the next announce.
    rescan: Mutex<HashSet<PeerId>>,
    /// The election and ID-range task: members' messages go in, its
    /// messages come out through `primary_outbox`.
    primary: PrimaryHandle,
    /// One roster refresh at a time: two interleaved ones could leave the
    /// network with the older roster, and it disconnects a company missing
    /// from the roster (a member just admitted, in the middle of its join).
    refreshing: tokio::sync::Mutex<()>,
}

/// A handle to the running mesh.
#[derive(Clone)]
pub struct Mesh {
    shared: Arc<Shared>,
}

impl Mesh {
    /// Starts the network and the replication tasks; they stop when
    /// `stopping` turns true.
    pub async fn start(
        store: StoreHandle,
        me: Company,
        group: Group,
        keypair: Keypair,
        config: MeshConfig,
        primary: (PrimaryHandle, mpsc::UnboundedReceiver<Outgoing>),
        stopping: watch::Receiver<bool>,
    ) -> Result<Mesh, MeshError> {
        let (primary, primary_outgoing) = primary;
        let local = keypair.public().to_peer_id();
        let members = membership::roster(&store).await?;
        let roster = membership::by_peer(&members);
        let allowed: HashSet<PeerId> = roster.keys().copied().filter(|p| *p != local).collect();
        let secret =
            hex::decode(&group.secret).unwrap_or_else(|_| group.secret.as_bytes().to_vec());
        let (net, events) = elo_net::start(NetConfig {
            keypair,
            group_secret: secret,
            listen: config.listen.clone(),
            mdns: config.mdns,
            roster: allowed,
        })?;
        let shared = Arc::new(Shared {
            net,
            store,
            me,
            group,
            peers: Mutex::new(HashMap::new()),
            roster: Mutex::new(roster),
            extra_addrs: config.peers.clone(),
            remembered: Mutex::new(HashMap::new()),
            dial_roster: config.dial_roster,
            backoff: Mutex::new(HashMap::new()),
            rescan: Mutex::new(HashSet::new()),
            primary,
            refreshing: tokio::sync::Mutex::new(()),
        });
        let members: Vec<PeerId> = lock(&shared.roster).keys().copied().collect();
        for peer in members {
            let key = format!("{META_REMEMBERED}{peer}");
            if let Ok(Some(bytes)) = shared.store.meta(&key).await
                && let Some(addr) = std::str::from_utf8(&bytes)
                    .ok()
                    .and_then(|a| a.parse().ok())
            {
                lock(&shared.remembered).insert(peer, addr);
            }
        }
        // Wait (briefly) for the listeners to be up, so the node's addresses
        // are known before it tells anyone it is ready.
        let deadline = Instant::now() + Duration::from_secs(3);
        while !config.listen.is_empty()
            && shared
                .net
                .listen_addrs()
                .await
                .unwrap_or_default()
                .is_empty()
            && Instant::now() < deadline
        {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        tokio::spawn(event_loop(shared.clone(), events, stopping.clone()));
        tokio::spawn(announcer(shared.clone(), stopping.clone()));
        tokio::spawn(primary_outbox(
            shared.clone(),
            primary_outgoing,
            stopping.clone(),
        ));
        tokio::spawn(dialer(shared.clone(), stopping));
        Ok(Mesh { shared })
    }

    /// Every member but this one, with what this node knows of it.
    pub fn status(&self) -> Vec<PeerStatus> {
        let roster = lock(&self.shared.roster).clone();
        let peers = lock(&self.shared.peers);
        let local = self.shared.net.local_peer_id();
        let mut out: Vec<PeerStatus> = roster
            .iter()
            .filter(|(p, _)| **p != local)
            .map(|(p, m)| {
                let mut s = peers.get(p).map(|s| s.status.clone()).unwrap_or_default();
                s.peer_id = p.to_string();
                s.company = Some(m.cnpj.clone());
                s.name = Some(m.name.clone());
                s.behind = s.their_latest_seq.saturating_sub(s.checkpoint);
                s
            })
            .collect();
        out.sort_by(|a, b| a.company.cmp(&b.company));
        out
    }

    /// This node's addresses with its peer id, as an invite names them.
    pub async fn p2p_addrs(&self) -> Vec<String> {
        let local = self.shared.net.local_peer_id();
        self.listen_addrs()
            .await
            .into_iter()
            .map(|a| format!("{a}/p2p/{local}"))
            .collect()
    }

    pub async fn listen_addrs(&self) -> Vec<String> {
        self.shared
            .net
            .listen_addrs()
            .await
            .unwrap_or_default()
            .iter()
            .map(|a| a.to_string())
            .collect()
    }

    /// Forgets checkpoints (of one member, by peer id or CNPJ, or all) and
    /// replicates again from the beginning.
    /// Takes a company out of the group: its roster record is deleted (every
    /// member then closes its connections and refuses it), and the group
    /// moves to a new secret, handed to the members connected now over their
    /// encrypted streams, so its copy of the key, and any old invite, stop
    /// working. Members not reached keep the old key and must be given the
    /// new one; today that means removing and inviting them again.
    pub async fn remove_company(&self, cnpj: &str) -> Result<Removal, MeshError> {
        let shared = &self.shared;
        let cnpj = elo_crdt::ident::cnpj(cnpj).map_err(|e| MeshError::Refused(e.to_string()))?;
        if cnpj == shared.me.cnpj {
            return Err(MeshError::Refused(
                "a company cannot remove itself; another member must".into(),
            ));
        }
        // One company speaks for the group: the primary, elected by a
        // majority. A member cannot throw another out on its own.
        let (view, _) = shared
            .primary
            .view()
            .await
            .map_err(|e| MeshError::Refused(e.to_string()))?;
        if !view.acting {
            return Err(MeshError::Refused(format!(
                "only the primary removes a company; the primary is {} (run it there, or elect this company first with `elo primary elect`)",
                crate::primary::machine::describe_primary(view.primary.as_ref())
            )));
        }
        let removed_peer = {
            let roster = lock(&shared.roster);
            roster
                .iter()
                .find(|(_, m)| m.cnpj == cnpj)
                .map(|(p, _)| *p)
                .ok_or_else(|| MeshError::Refused(format!("{cnpj} is not a member")))?
        };
        forget_member(shared, &cnpj)
            .await
            .map_err(MeshError::Refused)?;
        refresh_roster(shared).await;
        let _ = shared.net.disconnect(removed_peer).await;
        let mut fresh = [0u8; 32];
        rand::RngCore::fill_bytes(&mut rand::thread_rng(), &mut fresh);
        let secret = hex::encode(fresh);
        let members: Vec<(PeerId, String)> = lock(&shared.roster)
            .iter()
            .filter(|(p, _)| **p != shared.net.local_peer_id())
            .map(|(p, m)| (*p, m.cnpj.clone()))
            .collect();
        let mut removal = Removal {
            removed: cnpj.clone(),
            reached: Vec::new(),
            not_reached: Vec::new(),
        };
        for (peer, member) in members {
            let asked = shared
                .net
                .request(
                    peer,
                    RequestBody::Rekey {
                        secret: secret.clone(),
                        removed: cnpj.clone(),
                    },
                )
                .await;
            match asked {
                Ok(ResponseBody::Ack) => removal.reached.push(member),
                _ => removal.not_reached.push(member),
            }
        }
        store_secret(&shared.store, &secret)
            .await
            .map_err(MeshError::Refused)?;
        shared.net.rekey(secret_bytes(&secret)).await?;
        tracing::warn!(removed = %cnpj, "removed a company from the group and changed the network key");
        Ok(removal)
    }

    /// Asks the connected members, one after another, to hand this company
    /// up to `amount` of their rights to a customer's credit, until enough
    /// was handed over; then pulls from those that gave, so the rights
    /// arrive. Returns how much was handed over and how many were asked.
    pub async fn ask_credit_rights(&self, customer: String, amount: i64) -> (i64, usize) {
        let shared = &self.shared;
        let connected: Vec<PeerId> = lock(&shared.peers)
            .iter()
            .filter(|(p, s)| s.status.connected && is_member(shared, p))
            .map(|(p, _)| *p)
            .collect();
        let mut received = 0;
        let mut asked = 0;
        for peer in connected {
            if received >= amount {
                break;
            }
            asked += 1;
            let body = RequestBody::CreditRights {
                customer: customer.clone(),
                amount: amount - received,
            };
            if let Ok(ResponseBody::CreditGiven { amount: given }) =
                shared.net.request(peer, body).await
                && given > 0
            {
                received += given.min(amount - received);
                wake(shared, peer);
            }
        }
        (received, asked)
    }

    pub async fn resync(&self, who: Option<String>) -> Result<usize, MeshError> {
        let targets: Vec<PeerId> = {
            let roster = lock(&self.shared.roster);
            roster
                .iter()
                .filter(|(p, m)| {
                    who.as_deref()
                        .is_none_or(|w| p.to_string() == w || m.cnpj == w)
                })
                .map(|(p, _)| *p)
                .collect()
        };
        for p in &targets {
            self.shared
                .store
                .reset_checkpoints(Some(p.to_string()))
                .await?;
            wake(&self.shared, *p);
        }
        Ok(targets.len())
    }
}

/// What `elo remove-company` did.
#[derive(Clone, Debug, Serialize)]
pub struct Removal {
    pub removed: String,
    /// Members that got the new key.
    pub reached: Vec<String>,
    /// Members that did not: they keep the old key until given the new one.
    pub not_reached: Vec<String>,
}

/// Deletes a company's roster record here, if it is still there.
async fn forget_member(shared: &Shared, cnpj: &str) -> Result<(), String> {
    let id = DocId::from_key(elo_crdt::Kind::Company, cnpj).map_err(|e| e.to_string())?;
    match shared.store.get(id).await {
        Ok(Some(r)) if !r.deleted => {
            crate::records::delete(&shared.store, elo_crdt::Kind::Company, cnpj)
                .await
                .map(|_| ())
                .map_err(|e| e.to_string())
        }
        Ok(_) => Ok(()),
        Err(e) => Err(e.to_string()),
    }
}

/// Keeps a new group secret in the group's metadata, for the next start
/// and for invites.
async fn store_secret(store: &StoreHandle, secret: &str) -> Result<(), String> {
    let current = store
        .meta(crate::data_dir::META_GROUP)
        .await
        .map_err(|e| e.to_string())?
        .ok_or("no group metadata")?;
    let mut group: Group = serde_json::from_slice(&current).map_err(|e| e.to_string())?;
    group.secret = secret.to_string();
    let bytes = serde_json::to_vec(&group).map_err(|e| e.to_string())?;
    store
        .set_meta(crate::data_dir::META_GROUP, bytes)
        .await
        .map_err(|e| e.to_string())
}

fn secret_bytes(secret: &str) -> Vec<u8> {
    hex::decode(secret).unwrap_or_else(|_| secret.as_bytes().to_vec())
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // A panic while holding the lock leaves plain data behind; keep going.
    m.lock().unwrap_or_else(|p| p.into_inner())
}

fn with_peer<R>(shared: &Shared, peer: PeerId, f: impl FnOnce(&mut PeerState) -> R) -> R {
    let mut peers = lock(&shared.peers);
    let state = peers.entry(peer).or_insert_with(|| PeerState {
        status: PeerStatus::default(),
        wake: Arc::new(Notify::new()),
        puller: false,
        rescan: false,
    });
    f(state)
}

fn is_member(shared: &Shared, peer: &PeerId) -> bool {
    lock(&shared.roster).contains_key(peer)
}

/// The CNPJ of the member behind a connection.
fn company_of(shared: &Shared, peer: &PeerId) -> Option<String> {
    lock(&shared.roster).get(peer).map(|m| m.cnpj.clone())
}

/// Sends the primary task's messages to the members they are for. Only
/// connected members: the protocol retransmits, and a dial per message
/// to an unreachable member would only queue up.
async fn primary_outbox(
    shared: Arc<Shared>,
    mut outgoing: mpsc::UnboundedReceiver<Outgoing>,
    mut stopping: watch::Receiver<bool>,
) {
    loop {
        let message = tokio::select! {
            m = outgoing.recv() => match m { Some(m) => m, None => break },
            _ = stopping.wait_for(|s| *s) => break,
        };
        let peer = lock(&shared.roster)
            .iter()
            .find(|(_, m)| m.cnpj == message.to)
            .map(|(p, _)| *p);
        let Some(peer) = peer else { continue };
        if !with_peer(&shared, peer, |s| s.status.connected) {
            continue;
        }
        let Ok(bytes) = serde_json::to_vec(&message.message) else {
            continue;
        };
        let net = shared.net.clone();
        tokio::spawn(async move {
            let body = RequestBody::Primary {
                message: ByteBuf::from(bytes),
            };
            if let Ok(ResponseBody::Refused { reason }) = net.request(peer, body).await {
                tracing::debug!(%peer, "a member refused a primary message: {reason}");
            }
        });
    }
}

/// Asks the puller of `peer` to run (coalesced: many wakes, one pull).
fn wake(shared: &Arc<Shared>, peer: PeerId) {
    let start = with_peer(shared, peer, |s| {
        s.wake.notify_one();
        !std::mem::replace(&mut s.puller, true)
    });
    if start {
        tokio::spawn(puller(shared.clone(), peer));
    }
}

async fn event_loop(
    shared: Arc<Shared>,
    mut events: mpsc::Receiver<NetEvent>,
    mut stopping: watch::Receiver<bool>,
) {
    loop {
        let event = tokio::select! {
            e = events.recv() => match e { Some(e) => e, None => break },
            _ = stopping.wait_for(|s| *s) => break,
        };
        match event {
            NetEvent::Request { peer, body, reply } => {
                let shared = shared.clone();
                tokio::spawn(async move {
                    let answer = answer(&shared, peer, body).await;
                    let _ = shared.net.respond(reply, answer).await;
                });
            }
            NetEvent::Connected {
                peer,
                addr,
                outbound,
            } => {
                if !is_member(&shared, &peer) {
                    continue;
                }
                if outbound {
                    remember_addr(&shared, peer, &addr).await;
                }
                tracing::info!(%peer, %addr, outbound, "member connected");
                with_peer(&shared, peer, |s| {
                    s.status.connected = true;
                    s.status.address = Some(addr.to_string());
                    s.status.last_seen_ms = Some(now_ms());
                    s.status.last_error = None;
                });
                lock(&shared.backoff).retain(|a, _| !a.contains(&peer.to_string()));
                wake(&shared, peer);
                tell_rescans(&shared).await;
                if let Some(company) = company_of(&shared, &peer) {
                    shared.primary.connected(company);
                }
            }
            NetEvent::Disconnected { peer } => {
                with_peer(&shared, peer, |s| {
                    s.status.connected = false;
                    s.status.last_seen_ms = Some(now_ms());
                });
            }
            NetEvent::Discovered { peer, addr } => {
                let connected = with_peer(&shared, peer, |s| s.status.connected);
                if is_member(&shared, &peer) && !connected {
                    tracing::debug!(%peer, %addr, "found a member on the LAN");
                    let _ = shared.net.dial(addr, Some(peer)).await;
                }
            }
            NetEvent::DialFailed {
                peer: Some(peer),
                reason,
            } => {
                with_peer(&shared, peer, |s| {
                    s.status.last_error = Some(format!("dial: {reason}"))
                });
            }
            NetEvent::DialFailed { peer: None, reason } => tracing::debug!("dial failed: {reason}"),
            NetEvent::Listening { .. } => remember_listen_addrs(&shared).await,
        }
    }
    tracing::debug!("mesh event loop stopped");
}

/// Remembers (persistently) the address this node last reached a member
/// at: across a VPN that carries no multicast, it is the one that works.
async fn remember_addr(shared: &Arc<Shared>, peer: PeerId, addr: &Multiaddr) {
    let known = lock(&shared.remembered).insert(peer, addr.clone());
    if known.as_ref() != Some(addr) {
        let key = format!("{META_REMEMBERED}{peer}");
        let _ = shared
            .store
            .set_meta(&key, addr.to_string().into_bytes())
            .await;
    }
}

/// Keeps this node's own addresses in its roster record (so members can
/// dial it) and in metadata (so `elo invite` can name them).
async fn remember_listen_addrs(shared: &Arc<Shared>) {
    let local = shared.net.local_peer_id();
    let addrs: Vec<String> = shared
        .net
        .listen_addrs()
        .await
        .unwrap_or_default()
        .into_iter()
        .map(|a| format!("{a}/p2p/{local}"))
        .collect();
    let _ = shared
        .store
        .set_meta(META_LISTEN, serde_json::to_vec(&addrs).unwrap_or_default())
        .await;
    let body = serde_json::json!({ "cnpj": shared.me.cnpj, "name": shared.me.name,
        "peer_id": local.to_string(), "listen_addrs": addrs.join(" ") });
    if let Err(e) =
        crate::records::put(&shared.store, elo_crdt::Kind::Company, None, &body, false).await
    {
        tracing::warn!("could not record this node's addresses: {e}");
    }
}

/// Answers a member's request.
async fn answer(shared: &Arc<Shared>, peer: PeerId, body: RequestBody) -> ResponseBody {
    let refused = |reason: String| ResponseBody::Refused { reason };
    match body {
        RequestBody::Hello(h) => {
            with_peer(shared, peer, |s| s.status.their_latest_seq = h.latest_seq);
            match shared.store.last_seq().await {
                Ok(latest_seq) => ResponseBody::Hello(Hello {
                    group: shared.group.id.clone(),
                    company: shared.me.cnpj.clone(),
                    latest_seq,
                }),
                Err(e) => refused(e.to_string()),
            }
        }
        RequestBody::ChangesSince { since, limit } => {
            let limit = limit.clamp(1, MAX_CHANGES_PER_PAGE) as usize;
            let may_send = sendable(shared, peer);
            match (
                shared.store.changes_since(since, limit).await,
                shared.store.last_seq().await,
            ) {
                (Ok(entries), Ok(latest_seq)) => ResponseBody::Changes {
                    through: entries.last().map_or(since, |e| e.seq),
                    // What this company does not send, or that member does
                    // not receive, is not even listed.
                    entries: entries
                        .into_iter()
                        .filter(|e| DocId::parse(&e.id).is_some_and(|id| may_send(&id)))
                        .map(|e| ChangeSummary {
                            heads: heads_bytes(&e.heads),
                            id: e.id,
                            seq: e.seq,
                        })
                        .collect(),
                    latest_seq,
                },
                (Err(e), _) | (_, Err(e)) => refused(e.to_string()),
            }
        }
        RequestBody::Fetch { docs } => {
            if docs.len() > MAX_DOCS_PER_FETCH {
                return refused(format!("at most {MAX_DOCS_PER_FETCH} documents per fetch"));
            }
            let may_send = sendable(shared, peer);
            let mut wanted = Vec::with_capacity(docs.len());
            for d in docs {
                if !DocId::parse(&d.id).is_some_and(|id| may_send(&id)) {
                    tracing::warn!(%peer, id = %d.id, "refused to send a record outside what this company sends or that member receives");
                    continue;
                }
                let Some(have) = parse_heads(&d.have) else {
                    return refused(format!("malformed heads for {}", d.id));
                };
                wanted.push((d.id, have));
            }
            match shared
                .store
                .docs_for_peer(wanted, author_filter(shared, peer))
                .await
            {
                Ok(docs) => {
                    // Keep the answer well under the response limit; the
                    // asker asks again for what did not fit.
                    let mut size = 0usize;
                    let docs = docs
                        .into_iter()
                        .take_while(|(_, payload)| {
                            let first = size == 0;
                            size += 64
                                + match payload {
                                    DocPayload::Whole(b) => b.len(),
                                    DocPayload::Changes(c) => c.iter().map(|b| b.len() + 8).sum(),
                                };
                            first || size <= MAX_DOCS_BYTES
                        })
                        .map(|(id, payload)| match payload {
                            DocPayload::Whole(bytes) => DocBytes {
                                id,
                                bytes: ByteBuf::from(bytes),
                                changes: Vec::new(),
                            },
                            DocPayload::Changes(changes) => DocBytes {
                                id,
                                bytes: ByteBuf::new(),
                                changes: changes.into_iter().map(ByteBuf::from).collect(),
                            },
                        })
                        .collect();
                    ResponseBody::Docs { docs }
                }
                Err(e) => refused(e.to_string()),
            }
        }
        RequestBody::Announce { latest_seq, rescan } => {
            if rescan {
                tracing::info!(%peer, "the member widened what it sends here: walking its log again");
                with_peer(shared, peer, |s| s.rescan = true);
            }
            with_peer(shared, peer, |s| {
                s.status.their_latest_seq = s.status.their_latest_seq.max(latest_seq);
                s.status.last_seen_ms = Some(now_ms());
            });
            wake(shared, peer);
            ResponseBody::Ack
        }
        RequestBody::Rekey { secret, removed } => {
            if removed == shared.me.cnpj {
                return refused("this company cannot take part in its own removal".into());
            }
            if let Err(e) = forget_member(shared, &removed).await {
                return refused(e);
            }
            if let Err(e) = store_secret(&shared.store, &secret).await {
                return refused(e);
            }
            tracing::warn!(%peer, %removed, "a member removed a company from the group; changing the network key");
            // After the answer has left: the key change closes this stream.
            let net = shared.net.clone();
            tokio::spawn(async move {
                tokio::time::sleep(Duration::from_millis(300)).await;
                if let Err(e) = net.rekey(secret_bytes(&secret)).await {
                    tracing::error!("could not change the network key: {e}");
                }
            });
            ResponseBody::Ack
        }
        RequestBody::StockSince { since, limit } => {
            let limit = limit.clamp(1, elo_net::protocol::MAX_STOCK_PER_PAGE) as usize;
            let (sends, receives, filter) = {
                let roster = lock(&shared.roster);
                let local = shared.net.local_peer_id();
                (
                    roster
                        .get(&local)
                        .map_or_else(Sharing::all, |m| m.sends.clone()),
                    roster
                        .get(&peer)
                        .map_or_else(Sharing::none, |m| m.receives.clone()),
                    author_filter_locked(&roster, peer),
                )
            };
            let products = sends.covers_category(Category::Products)
                && receives.covers_category(Category::Products);
            match shared.store.stock_since(since, limit).await {
                Ok((entries, latest)) => ResponseBody::Stock {
                    through: entries.last().map_or(latest.max(since), |(seq, _)| *seq),
                    entries: entries
                        .into_iter()
                        .map(|(_, e)| e)
                        .filter(|e| {
                            products
                                && filter
                                    .as_ref()
                                    .is_none_or(|f| f(&e.company, Category::Products))
                        })
                        .map(|e| StockFigures {
                            sku: e.sku,
                            company: e.company,
                            deposit: e.deposit,
                            quantity: e.quantity,
                            reserved: e.reserved,
                            version: e.version,
                            updated_ms: e.updated_ms,
                        })
                        .collect(),
                    latest,
                },
                Err(e) => refused(e.to_string()),
            }
        }
        RequestBody::CreditRights { customer, amount } => {
            let Some(company) = company_of(shared, &peer) else {
                return refused("only members hold credit rights".into());
            };
            if amount <= 0 {
                return refused("ask for more than nothing".into());
            }
            match crate::credit::give_rights(
                &shared.store,
                &shared.me.cnpj,
                &customer,
                &company,
                amount,
            )
            .await
            {
                Ok(given) => {
                    if given > 0 {
                        tracing::info!(%company, %customer, given, "handed over credit rights");
                    }
                    ResponseBody::CreditGiven { amount: given }
                }
                Err(e) => refused(e.to_string()),
            }
        }
        RequestBody::Primary { message } => {
            let Some(company) = company_of(shared, &peer) else {
                return refused("only members take part in the primary election".into());
            };
            match serde_json::from_slice::<PrimaryMessage>(&message) {
                Ok(message) => {
                    shared.primary.deliver(company, message);
                    ResponseBody::Ack
                }
                Err(e) => {
                    tracing::warn!(%peer, "undecodable primary message: {e}");
                    refused(format!("undecodable primary message: {e}"))
                }
            }
        }
        RequestBody::Join(req) => {
            match membership::accept_join(&shared.store, &shared.me, &shared.group, peer, &req)
                .await
            {
                Ok(accepted) => {
                    refresh_roster(shared).await;
                    ResponseBody::Joined(Box::new(accepted))
                }
                Err(e) => {
                    tracing::warn!(%peer, "refused a join: {e}");
                    refused(e.to_string())
                }
            }
        }
    }
}

/// Which documents may go to `peer`: what this company sends and that
/// member receives (`elo share`), by category. Unknown peers get only the roster.
fn sendable(shared: &Shared, peer: PeerId) -> impl Fn(&DocId) -> bool + use<> {
    let roster = lock(&shared.roster);
    let local = shared.net.local_peer_id();
    let sends = roster
        .get(&local)
        .map_or_else(Sharing::all, |m| m.sends.clone());
    let receives = roster
        .get(&peer)
        .map_or_else(Sharing::none, |m| m.receives.clone());
    move |id| sends.covers_doc(id) && receives.covers_doc(id)
}

/// Whose changes may go to `peer`: the companies it has authorised, per
/// category (`elo authorize`), judged by the company that made each change,
/// not by the member that relayed it. `None` when it authorises every
/// member for everything: then nothing is checked change by change.
fn author_filter(shared: &Shared, peer: PeerId) -> Option<Arc<AuthorFilter>> {
    author_filter_locked(&lock(&shared.roster), peer)
}

fn author_filter_locked(
    roster: &HashMap<PeerId, Member>,
    peer: PeerId,
) -> Option<Arc<AuthorFilter>> {
    let member = roster.get(&peer)?;
    if member.authorizes.allows_all(
        roster
            .values()
            .filter(|m| m.cnpj != member.cnpj)
            .map(|m| m.cnpj.as_str()),
    ) {
        return None;
    }
    let authorizes = member.authorizes.clone();
    let own = member.cnpj.clone();
    Some(Arc::new(move |author: &str, category| {
        author == own || authorizes.allows(author, category)
    }))
}

/// What this company accepts from members (checked again on receipt).
fn receivable(shared: &Shared) -> ReceivePolicy {
    let local = shared.net.local_peer_id();
    let roster = lock(&shared.roster);
    let Some(me) = roster.get(&local) else {
        return ReceivePolicy::everything();
    };
    let everyone = me.authorizes.allows_all(
        roster
            .values()
            .filter(|m| m.cnpj != me.cnpj)
            .map(|m| m.cnpj.as_str()),
    );
    ReceivePolicy {
        receives: me.receives.clone(),
        authorizes: (!everyone).then(|| {
            let mut a = me.authorizes.clone();
            // Its own changes, coming back through a member, are its own.
            a.grant(me.cnpj.clone(), Sharing::all());
            a
        }),
    }
}

/// Reloads the roster from the company records and tells the network.
async fn refresh_roster(shared: &Arc<Shared>) {
    let _one_at_a_time = shared.refreshing.lock().await;
    let Ok(members) = membership::roster(&shared.store).await else {
        return;
    };
    let roster = membership::by_peer(&members);
    let local = shared.net.local_peer_id();
    let allowed: HashSet<PeerId> = roster.keys().copied().filter(|p| *p != local).collect();
    let owed = widened(&lock(&shared.roster), &roster, local);
    *lock(&shared.roster) = roster;
    shared
        .primary
        .set_roster(members.iter().map(|m| m.cnpj.clone()).collect())
        .await;
    let _ = shared.net.set_roster(allowed).await;
    if !owed.is_empty() {
        lock(&shared.rescan).extend(owed);
        tell_rescans(shared).await;
    }
}

/// Members that may now have more from this node than when they last
/// pulled: their receive set or authorisations changed, or this company's
/// send set did (then all). A narrowing needs nothing; telling on any
/// change keeps the rule simple and costs one walk of the log.
fn widened(
    old: &HashMap<PeerId, Member>,
    new: &HashMap<PeerId, Member>,
    local: PeerId,
) -> Vec<PeerId> {
    let mine_changed = match (old.get(&local), new.get(&local)) {
        (Some(a), Some(b)) => a.sends != b.sends,
        _ => false,
    };
    new.iter()
        .filter(|(p, _)| **p != local)
        .filter(|(p, m)| {
            mine_changed
                || old
                    .get(p)
                    .is_some_and(|o| o.receives != m.receives || o.authorizes != m.authorizes)
        })
        .map(|(p, _)| *p)
        .collect()
}

/// Sends the owed rescans to the members connected now; the others hear
/// it when they connect.
async fn tell_rescans(shared: &Arc<Shared>) {
    let connected: Vec<PeerId> = {
        let peers = lock(&shared.peers);
        let mut owed = lock(&shared.rescan);
        let now: Vec<PeerId> = owed
            .iter()
            .filter(|p| peers.get(p).is_some_and(|s| s.status.connected))
            .copied()
            .collect();
        owed.retain(|p| !now.contains(p));
        now
    };
    let Ok(latest_seq) = shared.store.last_seq().await else {
        return;
    };
    for peer in connected {
        let net = shared.net.clone();
        let shared = shared.clone();
        tokio::spawn(async move {
            let asked = net
                .request(
                    peer,
                    RequestBody::Announce {
                        latest_seq,
                        rescan: true,
                    },
                )
                .await;
            if asked.is_err() {
                lock(&shared.rescan).insert(peer);
            }
        });
    }
}

/// Pulls from one member whenever woken, for as long as the node runs.
async fn puller(shared: Arc<Shared>, peer: PeerId) {
    let wake = with_peer(&shared, peer, |s| s.wake.clone());
    loop {
        wake.notified().await;
        if !with_peer(&shared, peer, |s| s.status.connected) {
            continue;
        }
        let rescan = with_peer(&shared, peer, |s| {
            s.status.pulling = true;
            std::mem::take(&mut s.rescan)
        });
        if rescan && let Err(e) = shared.store.reset_checkpoints(Some(peer.to_string())).await {
            tracing::warn!(%peer, "could not restart the walk of the member's log: {e}");
        }
        let result = pull(&shared, peer).await;
        with_peer(&shared, peer, |s| {
            s.status.pulling = false;
            match &result {
                Ok(_) => s.status.last_error = None,
                Err(e) => s.status.last_error = Some(e.clone()),
            }
        });
        if let Err(e) = result {
            tracing::warn!(%peer, "replication stalled: {e}");
            tokio::time::sleep(Duration::from_secs(1)).await;
            wake.notify_one();
        }
    }
}

/// Walks a member's change log from its checkpoint until caught up.
/// Returns how many documents were received.
async fn pull(shared: &Shared, peer: PeerId) -> Result<u64, String> {
    let member = lock(&shared.roster)
        .get(&peer)
        .map_or_else(|| peer.to_string(), |m| m.cnpj.clone());
    let docs = pull_from(
        &shared.net,
        &shared.store,
        peer,
        &member,
        &receivable(shared),
        |latest, checkpoint, docs| {
            with_peer(shared, peer, |s| {
                s.status.their_latest_seq = latest;
                s.status.checkpoint = checkpoint;
                s.status.docs_received += docs;
            })
        },
    )
    .await?;
    pull_stock(shared, peer).await?;
    Ok(docs)
}

/// Walks a member's stock log from its checkpoint until caught up, keeping
/// the newest version of each entry. The checkpoint advances only after
/// the entries are stored.
async fn pull_stock(shared: &Shared, peer: PeerId) -> Result<(), String> {
    let mut since = shared
        .store
        .checkpoint(ReplicatedLog::Stock, peer.to_string())
        .await
        .map_err(|e| e.to_string())?;
    loop {
        let body = RequestBody::StockSince {
            since,
            limit: elo_net::protocol::MAX_STOCK_PER_PAGE,
        };
        let (entries, through, latest) = match shared.net.request(peer, body).await {
            Ok(ResponseBody::Stock {
                entries,
                through,
                latest,
            }) => (entries, through, latest),
            Ok(ResponseBody::Refused { reason }) => return Err(format!("stock: {reason}")),
            Ok(_) => return Err("stock: unexpected answer".into()),
            Err(e) => return Err(format!("stock: {e}")),
        };
        let policy = receivable(shared);
        let accepted: Vec<StockEntry> = entries
            .into_iter()
            .filter(|f| {
                let ok = policy.receives.covers_category(Category::Products)
                    && policy
                        .authorizes
                        .as_ref()
                        .is_none_or(|a| a.allows(&f.company, Category::Products));
                if !ok {
                    tracing::warn!(%peer, company = %f.company, sku = %f.sku, "dropped stock figures this company does not receive");
                }
                ok
            })
            .filter_map(|f| {
                // Checked like a local write: a bad SKU is dropped, not stored.
                crate::stock::normalise_sku(&f.sku).ok()?;
                Some(StockEntry {
                    sku: f.sku,
                    company: f.company,
                    deposit: f.deposit,
                    quantity: f.quantity,
                    reserved: f.reserved,
                    version: f.version,
                    updated_ms: f.updated_ms,
                })
            })
            .collect();
        if !accepted.is_empty() {
            shared
                .store
                .write_stock(accepted, false)
                .await
                .map_err(|e| e.to_string())?;
        }
        if through <= since {
            return Ok(());
        }
        since = through;
        shared
            .store
            .write(vec![WriteOp::Checkpoint {
                log: ReplicatedLog::Stock,
                peer: peer.to_string(),
                seq: since,
            }])
            .await
            .map_err(|e| e.to_string())?;
        if since >= latest {
            return Ok(());
        }
    }
}

/// Tells connected members about local commits, coalescing bursts.
async fn announcer(shared: Arc<Shared>, mut stopping: watch::Receiver<bool>) {
    let mut changes = shared.store.subscribe();
    let mut stock = shared.store.subscribe_stock();
    loop {
        let mut roster_changed = false;
        tokio::select! {
            c = changes.recv() => match c {
                Ok(e) => roster_changed |= e.id.starts_with("company/"),
                Err(RecvError::Lagged(_)) => roster_changed = true,
                Err(RecvError::Closed) => break,
            },
            // New stock figures: the same announce makes members pull.
            s = stock.changed() => if s.is_err() { break },
            _ = stopping.wait_for(|s| *s) => break,
        }
        while let Ok(e) = changes.try_recv() {
            roster_changed |= e.id.starts_with("company/");
        }
        if roster_changed {
            refresh_roster(&shared).await;
        }
        let Ok(latest_seq) = shared.store.last_seq().await else {
            continue;
        };
        let connected: Vec<PeerId> = lock(&shared.peers)
            .iter()
            .filter(|(_, s)| s.status.connected)
            .map(|(p, _)| *p)
            .collect();
        for peer in connected {
            let net = shared.net.clone();
            tokio::spawn(async move {
                let _ = net
                    .request(
                        peer,
                        RequestBody::Announce {
                            latest_seq,
                            rescan: false,
                        },
                    )
                    .await;
            });
        }
    }
}

/// Dials members that are not connected, at every address known for them,
/// with exponential backoff per address.
async fn dialer(shared: Arc<Shared>, mut stopping: watch::Receiver<bool>) {
    let mut tick = tokio::time::interval(Duration::from_millis(500));
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = stopping.wait_for(|s| *s) => break,
        }
        let local = shared.net.local_peer_id();
        let mut targets: Vec<(Option<PeerId>, Multiaddr)> = Vec::new();
        {
            let roster = lock(&shared.roster);
            let peers = lock(&shared.peers);
            let remembered = lock(&shared.remembered);
            for (p, m) in roster.iter().filter(|_| shared.dial_roster) {
                if *p == local || peers.get(p).is_some_and(|s| s.status.connected) {
                    continue;
                }
                for a in m.addresses.iter().chain(remembered.get(p)) {
                    targets.push((Some(*p), a.clone()));
                }
            }
            let connected_addrs: HashSet<String> = peers
                .values()
                .filter(|s| s.status.connected)
                .filter_map(|s| s.status.address.clone())
                .collect();
            for a in &shared.extra_addrs {
                let peer = peer_of(a);
                let connected = match peer {
                    Some(p) => p == local || peers.get(&p).is_some_and(|s| s.status.connected),
                    None => connected_addrs.contains(&a.to_string()),
                };
                if !connected {
                    targets.push((peer, a.clone()));
                }
            }
        }
        for (peer, addr) in targets {
            let key = format!("{addr}|{}", peer.map(|p| p.to_string()).unwrap_or_default());
            let due = {
                let mut backoff = lock(&shared.backoff);
                let now = Instant::now();
                let entry = backoff
                    .entry(key)
                    .or_insert((now, Duration::from_millis(500)));
                if entry.0 <= now {
                    entry.0 = now + entry.1;
                    entry.1 = (entry.1 * 2).min(MAX_BACKOFF);
                    true
                } else {
                    false
                }
            };
            if due {
                // Dialing an address of a peer already connected is a no-op for libp2p.
                let _ = shared.net.dial(addr, peer).await;
            }
        }
    }
}

/// The peer id at the end of a multiaddress (`…/p2p/12D3…`), if any.
pub fn peer_of(addr: &Multiaddr) -> Option<PeerId> {
    addr.iter().find_map(|p| match p {
        elo_net::multiaddr::Protocol::P2p(id) => Some(id),
        _ => None,
    })
}
