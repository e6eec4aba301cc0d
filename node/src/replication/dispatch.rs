//! A member's request, handed to the module that owns its meaning: one line
//! per kind. Each request is answered on its own task; what it tells about
//! the member's node goes to the actor as a command.

use std::sync::Arc;
use std::time::Duration;

use elo_net::protocol::{JoinRequest, Push, RequestBody, ResponseBody};
use elo_net::{NetClient, PeerId, ReplyHandle};
use serde_bytes::ByteBuf;
use tokio::sync::{mpsc, oneshot, watch};

use super::command::Command;
use super::serve::{self, Serving};
use crate::data_dir::{Company, Group};
use crate::group::{Roster, invite, removal};
use crate::primary::PrimaryHandle;
use crate::primary::machine::PrimaryMessage;

/// How long after answering a handover the network key changes (the change
/// closes the stream the answer travels on): long enough for the answer to
/// arrive on a loaded machine, so the primary counts this member reached,
/// and for the primary to hand the key to the others meanwhile.
const REKEY_AFTER_ANSWER: Duration = Duration::from_secs(1);

/// What answering needs; shared by the request tasks, read-only.
pub(super) struct Context {
    pub net: NetClient,
    pub serving: Serving,
    pub me: Company,
    pub group: Group,
    pub roster: watch::Receiver<Arc<Roster>>,
    pub primary: PrimaryHandle,
    pub commands: mpsc::UnboundedSender<Command>,
    pub orders: crate::orders::Orders,
}

impl Context {
    fn roster(&self) -> Arc<Roster> {
        self.roster.borrow().clone()
    }

    fn tell(&self, command: Command) {
        // The actor is gone only when the node stops.
        let _ = self.commands.send(command);
    }
}

/// Answers one request and sends the answer back.
pub(super) async fn answer(ctx: Arc<Context>, peer: PeerId, body: RequestBody, reply: ReplyHandle) {
    let answer = route(&ctx, peer, body).await;
    let _ = ctx.net.respond(reply, answer).await;
}

async fn route(ctx: &Context, peer: PeerId, body: RequestBody) -> ResponseBody {
    match body {
        RequestBody::Hello(ref h) => {
            ctx.tell(Command::Heard {
                peer,
                latest_seq: h.latest_seq,
            });
            serve::answer(&ctx.serving, &ctx.roster(), peer, body).await
        }
        RequestBody::ChangesSince { .. }
        | RequestBody::Fetch { .. }
        | RequestBody::StockSince { .. } => {
            serve::answer(&ctx.serving, &ctx.roster(), peer, body).await
        }
        RequestBody::Announce {
            latest_seq,
            rescan,
            push,
        } => announced(ctx, peer, latest_seq, rescan, push),
        RequestBody::Rekey { secret, removed } => rekey(ctx, peer, secret, removed).await,
        RequestBody::CreditRights { customer, amount } => {
            credit_rights(ctx, peer, customer, amount).await
        }
        RequestBody::Primary { message } => primary_message(ctx, peer, &message),
        RequestBody::Join(req) => join(ctx, peer, &req).await,
        RequestBody::Order { link, key, doc } => order(ctx, peer, link, key, doc).await,
    }
}

/// A linked order from the other end of its link; the order book checks
/// that the sender is that end.
async fn order(
    ctx: &Context,
    peer: PeerId,
    link: String,
    key: String,
    doc: ByteBuf,
) -> ResponseBody {
    let Some(company) = ctx.roster().company_of(&peer) else {
        return refused("only members exchange orders");
    };
    match ctx.orders.receive(company, link, key, doc.into_vec()).await {
        Ok(key) => ResponseBody::OrderTaken { key },
        Err(e) => {
            tracing::warn!(%peer, "refused an order: {e}; the sender is told why (check this company's order settings and rules with `elo orders`)");
            refused(e.to_string())
        }
    }
}

fn refused(reason: impl Into<String>) -> ResponseBody {
    ResponseBody::Refused {
        reason: reason.into(),
    }
}

fn announced(
    ctx: &Context,
    peer: PeerId,
    latest_seq: u64,
    rescan: bool,
    push: Option<Box<Push>>,
) -> ResponseBody {
    if rescan {
        tracing::info!(%peer, "the member widened what it sends here: walking its log again");
    }
    ctx.tell(Command::Announced {
        peer,
        latest_seq,
        rescan,
        push,
    });
    ResponseBody::Ack
}

/// A member hands over the group's new secret: the primary after a
/// removal, or any member to one that missed the move (then over a
/// connection under the old key). The sender is a member (the network lets
/// no one else say more than `Join`).
async fn rekey(ctx: &Context, peer: PeerId, secret: String, removed: String) -> ResponseBody {
    let store = &ctx.serving.store;
    match removal::take_new_secret(store, &ctx.me, &removed, &secret).await {
        Err(e) => return refused(e.to_string()),
        Ok(removal::Handover::AlreadyHeld) => return ResponseBody::Ack,
        Ok(removal::Handover::Moved) => {}
    }
    tracing::warn!(%peer, %removed, "a member removed a company from the group; changing the network key (nothing to do: members not reached now are handed it when seen)");
    // After the answer has left: the key change closes this stream.
    let net = ctx.net.clone();
    tokio::spawn(async move {
        tokio::time::sleep(REKEY_AFTER_ANSWER).await;
        if let Err(e) = net.rekey(removal::secret_bytes(&secret)).await {
            tracing::error!("could not change the network key: {e}");
        }
    });
    ResponseBody::Ack
}

async fn credit_rights(ctx: &Context, peer: PeerId, customer: String, amount: i64) -> ResponseBody {
    let Some(company) = ctx.roster().company_of(&peer) else {
        return refused("only members hold credit rights");
    };
    let store = &ctx.serving.store;
    match crate::credit::rights::hand_over(store, &ctx.me.cnpj, &customer, &company, amount).await {
        Ok(given) => ResponseBody::CreditGiven { amount: given },
        Err(e) => refused(e.to_string()),
    }
}

fn primary_message(ctx: &Context, peer: PeerId, message: &ByteBuf) -> ResponseBody {
    let Some(company) = ctx.roster().company_of(&peer) else {
        return refused("only members take part in the primary election");
    };
    match serde_json::from_slice::<PrimaryMessage>(message) {
        Ok(message) => {
            ctx.primary.deliver(company, message);
            ResponseBody::Ack
        }
        Err(e) => {
            tracing::warn!(%peer, "undecodable primary message: {e}; refused (update this node and the member's to the same elo version)");
            refused(format!(
                "undecodable primary message: {e}; refused (update this node and the member's to the same elo version)"
            ))
        }
    }
}

/// A company presents an invite. Once admitted, the network must know it
/// before the answer goes: its first walk of this node's log follows.
async fn join(ctx: &Context, peer: PeerId, req: &JoinRequest) -> ResponseBody {
    let store = &ctx.serving.store;
    match invite::accept_join(store, &ctx.me, &ctx.group, peer, req).await {
        Ok(accepted) => {
            let (reply, refreshed) = oneshot::channel();
            ctx.tell(Command::RefreshRoster(reply));
            let _ = refreshed.await;
            ResponseBody::Joined(Box::new(accepted))
        }
        Err(e) => {
            tracing::warn!(%peer, "refused a join: {e}; the joining company is told why (make it a new invite with `elo invite` if it expired or was used)");
            refused(e.to_string())
        }
    }
}
