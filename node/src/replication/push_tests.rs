//! Announcements that carry the changes: real stores in temporary files,
//! the announcement built as a node sends it and taken as a node takes it,
//! with a link that counts (and refuses) every request, so a push that
//! needed a round trip fails the test.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use elo_net::PeerId;
use elo_net::protocol::{RequestBody, ResponseBody};

use super::error::PullError;
use super::link::Link;
use super::log::Source;
use super::push::{self, Taken, Told};
use super::serve::Serving;
use super::tests::{TestNode, checkpoint, member, product_at, roster_of, write_products};
use crate::group::{ReceivePolicy, Roster};
use crate::store::ReplicatedLog;

/// A link to a member that asks nothing of it: every request is counted
/// and refused.
#[derive(Clone, Default)]
struct NoRoundTrips(Arc<AtomicUsize>);

impl Link for NoRoundTrips {
    async fn request(&self, _peer: PeerId, _body: RequestBody) -> Result<ResponseBody, PullError> {
        self.0.fetch_add(1, Ordering::SeqCst);
        Err(PullError::Link("no round trips in this test".into()))
    }
}

/// What A announces to B, told up to `told`.
async fn announced(a: &TestNode, roster: &Roster, b: &TestNode, told: Option<Told>) -> RequestBody {
    let serving = Serving {
        store: a.store.clone(),
        group: "grupo-teste".into(),
        company: a.cnpj.clone(),
    };
    push::announcement(&serving, roster, b.peer, told)
        .await
        .expect("announcement")
        .expect("something to announce")
        .0
}

async fn told_now(a: &TestNode) -> Told {
    Told {
        records: a.store.last_seq().await.expect("seq"),
        stock: 0,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_announced_to_a_member_in_step_is_stored_there_without_asking() {
    let (a, b) = (
        TestNode::open("11222333000181"),
        TestNode::open("11444777000161"),
    );
    let members = vec![member(&a, &[&a, &b]), member(&b, &[&a, &b])];
    let roster = roster_of(&a, &members);
    // B walked A's log this far: it is in step with it.
    let link = NoRoundTrips::default();
    let from = Source::new(&link, &b.store, a.peer, &ReceivePolicy::everything());
    let told = told_now(&a).await;
    write_products(&a, 0, 1).await;
    let body = announced(&a, &roster, &b, Some(told)).await;
    let RequestBody::Announce {
        latest_seq,
        push: Some(push),
        ..
    } = body
    else {
        panic!("not a push: {body:?}");
    };
    assert_eq!(push.entries.len(), 2, "the product and its sale-price part");
    assert_eq!(push.docs.len(), 2, "both documents carried");

    let taken = push::take(&from, &a.cnpj, latest_seq, &push)
        .await
        .expect("take");
    assert_eq!(
        taken,
        Taken {
            stored: 2,
            checkpoint: Some(latest_seq),
            pull: false
        }
    );
    assert_eq!(link.0.load(Ordering::SeqCst), 0, "nothing was asked of A");
    let (at_a, at_b) = (product_at(&a, 0).await, product_at(&b, 0).await);
    assert_eq!(at_a.expect("at A").values, at_b.expect("at B").values);
    assert_eq!(checkpoint(&b, &a, ReplicatedLog::Records).await, latest_seq);
    // The same push again stores nothing and asks nothing.
    let again = push::take(&from, &a.cnpj, latest_seq, &push)
        .await
        .expect("again");
    assert_eq!(again.stored, 0);
    assert!(!again.pull);
    // Nothing new: nothing to announce.
    let serving = Serving {
        store: a.store.clone(),
        group: "grupo-teste".into(),
        company: a.cnpj.clone(),
    };
    let nothing = push::announcement(&serving, &roster, b.peer, Some(told_now(&a).await))
        .await
        .expect("announcement");
    assert!(nothing.is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_push_after_a_gap_or_to_a_new_connection_leaves_the_work_to_a_pull() {
    let (a, b) = (
        TestNode::open("11222333000181"),
        TestNode::open("11444777000161"),
    );
    let members = vec![member(&a, &[&a, &b]), member(&b, &[&a, &b])];
    let roster = roster_of(&a, &members);
    write_products(&a, 0, 3).await;
    // Just connected: a plain announcement, the member walks the log.
    let first = announced(&a, &roster, &b, None).await;
    assert!(matches!(first, RequestBody::Announce { push: None, .. }));
    // B never walked A's log; A believes B has its first three products.
    let told = told_now(&a).await;
    write_products(&a, 3, 4).await;
    let RequestBody::Announce {
        latest_seq,
        push: Some(push),
        ..
    } = announced(&a, &roster, &b, Some(told)).await
    else {
        panic!("not a push");
    };
    let link = NoRoundTrips::default();
    let from = Source::new(&link, &b.store, a.peer, &ReceivePolicy::everything());
    let taken = push::take(&from, &a.cnpj, latest_seq, &push)
        .await
        .expect("take");
    assert!(taken.pull, "the gap is left to a pull");
    assert_eq!(taken.checkpoint, None);
    assert!(
        product_at(&b, 3).await.is_none(),
        "nothing stored past a gap"
    );
    assert_eq!(checkpoint(&b, &a, ReplicatedLog::Records).await, 0);
    assert_eq!(link.0.load(Ordering::SeqCst), 0);
}
