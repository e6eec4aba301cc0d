//! Credit rights moving between companies in escrow mode: handing over part
//! of what this company holds when a member asks, and asking the members
//! in turn until a charge is covered. The messages themselves travel with
//! replication; this is what they mean.

use std::future::Future;

use super::{CreditError, ONE_AT_A_TIME, load, write_keys};
use crate::store::StoreHandle;

/// A member (`to`) asked for up to `wanted` of this company's rights to a
/// customer's credit: hands over what it can spare. Returns how much.
pub async fn hand_over(
    store: &StoreHandle,
    me: &str,
    customer: &str,
    to: &str,
    wanted: i64,
) -> Result<i64, CreditError> {
    if wanted <= 0 {
        return Err(CreditError::BadAmount("ask for more than nothing".into()));
    }
    let _guard = ONE_AT_A_TIME.lock().await;
    let credit = load(store, customer).await?;
    let Some((gave_key, total, amount)) =
        credit.escrow.as_ref().and_then(|e| e.give(me, to, wanted))
    else {
        return Ok(0);
    };
    write_keys(store, &credit.id, vec![(gave_key, total)]).await?;
    if amount > 0 {
        tracing::info!(company = %to, %customer, given = amount, "handed over credit rights");
    }
    Ok(amount)
}

/// Asks `members`, one after another, for what is still missing of
/// `amount`, until it is covered. `ask(member, missing)` resolves to what
/// that member handed over. Returns (handed over in all, members asked).
pub async fn ask_in_turn<M, F, Fut>(members: Vec<M>, amount: i64, mut ask: F) -> (i64, usize)
where
    F: FnMut(M, i64) -> Fut,
    Fut: Future<Output = i64>,
{
    let mut received = 0;
    let mut asked = 0;
    for member in members {
        if received >= amount {
            break;
        }
        asked += 1;
        let given = ask(member, amount - received).await;
        if given > 0 {
            received += given.min(amount - received);
        }
    }
    (received, asked)
}

#[cfg(test)]
mod tests {
    use super::ask_in_turn;

    #[tokio::test]
    async fn members_are_asked_until_the_charge_is_covered() {
        let gives = [30, 0, 50, 40];
        let (got, asked) = ask_in_turn(gives.to_vec(), 70, |g, _| async move { g }).await;
        assert_eq!((got, asked), (70, 3));
        let (got, asked) = ask_in_turn(vec![10, 10], 70, |g, _| async move { g }).await;
        assert_eq!((got, asked), (20, 2));
    }
}
