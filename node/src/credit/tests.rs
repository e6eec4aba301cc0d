//! Escrow at the founding company, against a real store: the rights follow
//! the limit as it changes, and no charge takes a customer further over it.

use elo_crdt::Kind;
use serde_json::json;

use super::{CreditChange, CreditContext, CreditError, change, set_escrow, write_keys};
use crate::records::put;
use crate::store::StoreHandle;

const ME: &str = "11222333000181";
const OTHER: &str = "11444777000161";
const CPF: &str = "52998224725";

fn store(dir: &tempfile::TempDir) -> StoreHandle {
    StoreHandle::spawn_in(dir, ME)
}

async fn charge(store: &StoreHandle, cents: i64) -> Result<super::CreditView, CreditError> {
    let context = CreditContext {
        founder: ME,
        ask_rights: None,
    };
    change(store, ME, CPF, CreditChange::Charge(cents), &context).await
}

async fn limit(store: &StoreHandle, amount: &str) {
    let body = json!({"cpf": CPF, "name": "Ana", "credit_limit": amount});
    put(store, Kind::Customer, None, &body, false)
        .await
        .unwrap();
}

#[tokio::test]
async fn escrow_follows_the_limit_and_never_goes_further_over_it() {
    let dir = tempfile::tempdir().unwrap();
    let store = store(&dir);
    let company = json!({"cnpj": ME, "name": "Matriz"});
    put(&store, Kind::Company, None, &company, false)
        .await
        .unwrap();
    set_escrow(&store, ME, ME, true).await.unwrap();

    // A customer given a limit after escrow was switched on.
    limit(&store, "100.00").await;
    let view = charge(&store, 6_000).await.unwrap();
    assert_eq!(view.used, "60.00");
    assert!(matches!(
        charge(&store, 5_000).await,
        Err(CreditError::OverLimit { .. })
    ));
    // Raising the limit is in escrow at once.
    limit(&store, "150.00").await;
    let view = charge(&store, 9_000).await.unwrap();
    assert_eq!(view.used, "150.00");
    assert_eq!(view.rights.unwrap()[ME], "0.00");

    // Another company charged apart before: the customer is over the limit,
    // and no charge takes it further, here where the rights are.
    let id = elo_crdt::DocId::from_key(Kind::Customer, CPF).unwrap();
    write_keys(
        &store,
        &id,
        vec![(format!("{}{OTHER}", super::CREDIT_USED), 20_000)],
    )
    .await
    .unwrap();
    limit(&store, "300.00").await;
    assert!(matches!(
        charge(&store, 100).await,
        Err(CreditError::OverLimit { .. })
    ));
    // Lowered below what is used: still nothing more.
    limit(&store, "200.00").await;
    assert!(matches!(
        charge(&store, 100).await,
        Err(CreditError::OverLimit { .. })
    ));
}
