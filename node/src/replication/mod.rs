//! Replication: between the network (elo-net) and the store. It never opens
//! redb (the store does) and never decides policy (the group does); it
//! carries records, stock figures and the group's messages between members.
//!
//! Pull-based with per-member checkpoints: when a member connects or
//! announces a change, this node walks that member's logs from the
//! checkpoint kept for it ([`log`]), fetches only what differs, has the
//! store merge it, and only then advances the checkpoint. Merged changes
//! get this node's own sequence numbers, so they flow on to members the
//! origin cannot reach. Initial load, live updates and catching up after a
//! week offline are all this one walk.
//!
//! - [`actor`]: the one task that owns per-member state; `status` and
//!   `resync` are commands to it, with a reply.
//! - [`dispatch`]: a member's request, to the module that owns it.
//! - [`serve`] answers walks of this node's logs; [`pull`] and [`stock`]
//!   walk a member's record log and stock log through [`log`].
//! - [`link`]: a request and its answer, over the network or in memory.
//! - [`rekey`]: the group's new network key to every member, including one
//!   that missed the move.

mod actor;
mod announce;
mod command;
mod dispatch;
mod error;
mod link;
mod log;
mod peers;
mod pull;
mod push;
mod rekey;
mod serve;
mod stock;

#[cfg(test)]
mod origin_tests;
#[cfg(test)]
mod push_tests;
#[cfg(test)]
mod tests;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use elo_net::protocol::{RequestBody, ResponseBody};
use elo_net::{Keypair, Multiaddr, NetClient, NetConfig, PeerId};
use tokio::sync::{mpsc, oneshot, watch};

use crate::data_dir::{Company, Group};
use crate::group::{self, Removal, Roster, removal};
use crate::primary::PrimaryHandle;
use crate::primary::machine::Outgoing;
use crate::store::StoreHandle;
use crate::store::tables::META_REMEMBERED_ADDR;
use actor::{Actor, Inputs};
use command::Command;
use dispatch::Context;

pub use error::{PullError, ReplicationError};
pub use log::{Progress, Source};
pub use peers::{PeerStatus, peer_of};
pub use pull::{FETCHES_IN_FLIGHT, pull_records};

/// How long `start` waits for the listeners, so the node's addresses are
/// known before it says it is ready.
const LISTEN_WAIT: Duration = Duration::from_secs(3);

/// How replication is set up.
#[derive(Clone, Debug)]
pub struct MeshConfig {
    pub listen: Vec<Multiaddr>,
    /// Addresses to dial besides the roster's and the remembered ones.
    pub peers: Vec<Multiaddr>,
    pub mdns: bool,
    /// Dial the addresses the roster and memory hold (off: only `peers`).
    pub dial_roster: bool,
}

/// The node's other tasks the mesh carries messages for.
pub struct Tasks {
    pub primary: PrimaryHandle,
    /// The primary's messages to members.
    pub primary_outgoing: mpsc::UnboundedReceiver<Outgoing>,
    pub orders: crate::orders::Orders,
}

/// A handle to running replication.
#[derive(Clone)]
pub struct Replication {
    commands: mpsc::UnboundedSender<Command>,
    roster: watch::Receiver<Arc<Roster>>,
    net: NetClient,
    store: StoreHandle,
    me: Company,
    primary: PrimaryHandle,
}

impl Replication {
    /// Starts the network and the actor; they stop when `stopping` turns
    /// true.
    pub async fn start(
        store: StoreHandle,
        me: Company,
        group: Group,
        keypair: Keypair,
        config: MeshConfig,
        tasks: Tasks,
        stopping: watch::Receiver<bool>,
    ) -> Result<Replication, ReplicationError> {
        let Tasks {
            primary,
            primary_outgoing,
            orders,
        } = tasks;
        let local = keypair.public().to_peer_id();
        let members = group::roster(&store).await?;
        let roster = Arc::new(Roster::new(local, &members));
        let catch_up_key = keypair.clone();
        let (net, events) = elo_net::start(NetConfig {
            keypair,
            group_secret: removal::secret_bytes(&group.secret),
            listen: config.listen.clone(),
            mdns: config.mdns,
            roster: roster.others(),
        })?;
        let remembered = remembered_addrs(&store, &roster).await;
        wait_for_listeners(&net, &config).await;
        let (roster_tx, roster_rx) = watch::channel(roster.clone());
        let (commands, commands_rx) = mpsc::unbounded_channel();
        let context = Arc::new(Context {
            net: net.clone(),
            serving: serve::Serving {
                store: store.clone(),
                group: group.id.clone(),
                company: me.cnpj.clone(),
            },
            me: me.clone(),
            group,
            roster: roster_rx.clone(),
            primary: primary.clone(),
            commands: commands.clone(),
            orders: orders.clone(),
        });
        tokio::spawn(crate::orders::courier::run(
            orders,
            net.clone(),
            roster_rx.clone(),
            stopping.clone(),
        ));
        let actor = Actor {
            net: net.clone(),
            store: store.clone(),
            me: me.clone(),
            roster,
            roster_tx,
            peers: peers::Peers::new(remembered, config.peers.clone(), config.dial_roster),
            rescan_owed: Default::default(),
            primary: primary.clone(),
            context,
            work: tokio::task::JoinSet::new(),
            relay_at: None,
        };
        let catch_up = rekey::CatchUp {
            store: store.clone(),
            keypair: catch_up_key,
            commands: commands.clone(),
        };
        tokio::spawn(rekey::catch_up(catch_up, stopping.clone()));
        tokio::spawn(actor.run(Inputs {
            events,
            commands: commands_rx,
            primary: primary_outgoing,
            stopping,
        }));
        Ok(Replication {
            commands,
            roster: roster_rx,
            net,
            store,
            me,
            primary,
        })
    }

    async fn ask<T>(
        &self,
        command: impl FnOnce(oneshot::Sender<T>) -> Command,
    ) -> Result<T, ReplicationError> {
        // Either side closed means the actor is gone: the node is stopping.
        let (reply, answer) = oneshot::channel();
        match self.commands.send(command(reply)) {
            Ok(()) => answer.await.map_err(|_| ReplicationError::Stopped),
            Err(_) => Err(ReplicationError::Stopped),
        }
    }

    /// Every member but this one, with what this node knows of it.
    pub async fn status(&self) -> Vec<PeerStatus> {
        let mut members = self.ask(Command::Status).await.unwrap_or_default();
        let connections = self.net.connections().await.unwrap_or_default();
        for m in &mut members {
            let open = m.peer_id.parse().ok().and_then(|p| connections.get(&p));
            m.connections = open.copied().unwrap_or(0);
        }
        members
    }

    /// The bytes received from and sent to each member's node since this
    /// node started, by peer id.
    pub fn traffic(&self) -> HashMap<String, elo_net::PeerBytes> {
        let traffic = self.net.traffic();
        traffic
            .into_iter()
            .map(|(p, b)| (p.to_string(), b))
            .collect()
    }

    /// This node's addresses with its peer id, as an invite names them.
    pub async fn p2p_addrs(&self) -> Vec<String> {
        let local = self.net.local_peer_id();
        self.listen_addrs()
            .await
            .into_iter()
            .map(|a| format!("{a}/p2p/{local}"))
            .collect()
    }

    /// Nodes of another group (another network key) met lately, each with
    /// the sentence an operator reads.
    pub async fn other_groups(&self) -> Vec<elo_net::OtherGroup> {
        self.net.other_groups().await.unwrap_or_default()
    }

    pub async fn listen_addrs(&self) -> Vec<String> {
        self.net
            .listen_addrs()
            .await
            .unwrap_or_default()
            .iter()
            .map(|a| a.to_string())
            .collect()
    }

    /// Forgets checkpoints (of one member, by peer id or CNPJ, or all) and
    /// replicates again from the beginning. Returns how many members.
    pub async fn resync(&self, who: Option<String>) -> Result<usize, ReplicationError> {
        Ok(self.ask(|reply| Command::Resync { who, reply }).await??)
    }

    /// Takes a company out of the group (at the primary): its roster record
    /// is deleted (every member then closes its connections and refuses
    /// it), and the group moves to a new secret, so its copy of the key,
    /// and any old invite, stop working. The new secret is kept here first,
    /// handed to every member at once over the encrypted streams, and this
    /// node moves last. A member not reached now is handed it when it is
    /// seen again ([`rekey::catch_up`]), at any member that moved.
    pub async fn remove_company(&self, cnpj: &str) -> Result<Removal, ReplicationError> {
        let (view, _) = self.primary.view().await?;
        let cnpj = removal::may_remove(&self.me, &view, cnpj)?;
        let removed_peer = self
            .roster
            .borrow()
            .peer_of(&cnpj)
            .ok_or_else(|| removal::RemovalError::NotMember(cnpj.clone()))?;
        removal::forget_member(&self.store, &cnpj).await?;
        self.ask(Command::RefreshRoster).await?;
        let _ = self.net.disconnect(removed_peer).await;
        let secret = removal::fresh_secret();
        let members: Vec<(PeerId, String)> = {
            let roster = self.roster.borrow();
            roster
                .members
                .iter()
                .filter(|(p, _)| **p != roster.local)
                .map(|(p, m)| (*p, m.cnpj.clone()))
                .collect()
        };
        removal::keep_secret(&self.store, &secret, &cnpj).await?;
        let (reached, not_reached) = rekey::deliver(&self.net, members, &secret, &cnpj).await;
        self.net.rekey(removal::secret_bytes(&secret)).await?;
        tracing::warn!(removed = %cnpj, "removed a company from the group and changed the network key (members not reached now are handed it when seen; `elo status` lists them)");
        Ok(Removal {
            removed: cnpj,
            reached,
            not_reached,
        })
    }

    /// Asks the connected members, one after another, to hand this company
    /// up to `amount` of their rights to a customer's credit, until enough
    /// was handed over; then pulls from those that gave, so the rights
    /// arrive. Returns how much was handed over and how many were asked.
    pub async fn ask_credit_rights(&self, customer: String, amount: i64) -> (i64, usize) {
        let members = self
            .ask(Command::ConnectedMembers)
            .await
            .unwrap_or_default();
        crate::credit::rights::ask_in_turn(members, amount, |peer, missing| {
            let body = RequestBody::CreditRights {
                customer: customer.clone(),
                amount: missing,
            };
            async move {
                match self.net.request(peer, body).await {
                    Ok(ResponseBody::CreditGiven { amount: given }) if given > 0 => {
                        let _ = self.commands.send(Command::Wake(peer));
                        given
                    }
                    _ => 0,
                }
            }
        })
        .await
    }
}

/// The addresses members were last reached at, kept in metadata.
async fn remembered_addrs(store: &StoreHandle, roster: &Roster) -> HashMap<PeerId, Multiaddr> {
    let mut out = HashMap::new();
    for peer in roster.members.keys() {
        let key = format!("{META_REMEMBERED_ADDR}{peer}");
        if let Ok(Some(bytes)) = store.meta(&key).await
            && let Some(addr) = std::str::from_utf8(&bytes)
                .ok()
                .and_then(|a| a.parse().ok())
        {
            out.insert(*peer, addr);
        }
    }
    out
}

/// Waits (briefly) for the listeners to be up.
async fn wait_for_listeners(net: &NetClient, config: &MeshConfig) {
    let deadline = Instant::now() + LISTEN_WAIT;
    while !config.listen.is_empty()
        && net.listen_addrs().await.unwrap_or_default().is_empty()
        && Instant::now() < deadline
    {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}
