//! The console's logins: one-time tickets (`elo console` asks for one with
//! the API token) and the browser sessions they open, each with its own
//! CSRF token. Kept in memory only: a node that restarts ends every
//! session, and the person runs `elo console` again.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rand::RngCore;
use subtle::ConstantTimeEq;

/// How long a login link works: long enough to click it, too short to be
/// worth stealing from a terminal's scroll-back.
pub const TICKET_TTL: Duration = Duration::from_secs(120);

/// A session unused this long ends by itself.
pub const SESSION_IDLE: Duration = Duration::from_secs(8 * 3600);

/// At most this many sessions at once: the oldest goes first (only a
/// holder of the API token makes tickets, so this bounds a mistake, not an
/// attack).
const MAX_SESSIONS: usize = 64;

/// The session cookie's name.
pub const COOKIE: &str = "elo_session";

/// A logged-in browser.
#[derive(Clone)]
pub struct Session {
    /// Sent back with every request that changes something.
    pub csrf: String,
    last_used: Instant,
}

#[derive(Default)]
struct Inner {
    tickets: HashMap<String, Instant>,
    sessions: HashMap<String, Session>,
}

/// Every ticket and session of this node.
#[derive(Clone, Default)]
pub struct Sessions(Arc<Mutex<Inner>>);

/// 32 random bytes from the system's generator, as hex.
fn secret() -> String {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    hex::encode(bytes)
}

impl Sessions {
    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // A panic while holding the lock leaves maps that are still whole.
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A new one-time login ticket.
    pub fn ticket(&self) -> String {
        let ticket = secret();
        let mut inner = self.lock();
        let now = Instant::now();
        inner
            .tickets
            .retain(|_, made| now.duration_since(*made) < TICKET_TTL);
        inner.tickets.insert(ticket.clone(), now);
        ticket
    }

    /// Trades a ticket, once and while fresh, for a new session id.
    pub fn login(&self, ticket: &str) -> Option<String> {
        let mut inner = self.lock();
        let made = inner.tickets.remove(ticket)?;
        let now = Instant::now();
        if now.duration_since(made) >= TICKET_TTL {
            return None;
        }
        inner
            .sessions
            .retain(|_, s| now.duration_since(s.last_used) < SESSION_IDLE);
        if inner.sessions.len() >= MAX_SESSIONS {
            let oldest = inner
                .sessions
                .iter()
                .min_by_key(|(_, s)| s.last_used)
                .map(|(id, _)| id.clone());
            if let Some(id) = oldest {
                inner.sessions.remove(&id);
            }
        }
        let id = secret();
        let session = Session {
            csrf: secret(),
            last_used: now,
        };
        inner.sessions.insert(id.clone(), session);
        Some(id)
    }

    /// The live session `id` names, marked as used now.
    pub fn get(&self, id: &str) -> Option<Session> {
        let mut inner = self.lock();
        let now = Instant::now();
        let session = inner.sessions.get_mut(id)?;
        if now.duration_since(session.last_used) >= SESSION_IDLE {
            inner.sessions.remove(id);
            return None;
        }
        session.last_used = now;
        Some(session.clone())
    }

    /// Ends a session: its cookie opens nothing any more.
    pub fn logout(&self, id: &str) {
        self.lock().sessions.remove(id);
    }
}

/// Whether two secrets are equal, in constant time.
pub fn same_secret(given: &str, expected: &str) -> bool {
    !expected.is_empty() && bool::from(given.as_bytes().ct_eq(expected.as_bytes()))
}

/// The value of cookie `name` in a `Cookie` header.
pub fn cookie<'a>(header: &'a str, name: &str) -> Option<&'a str> {
    header.split(';').find_map(|pair| {
        let (k, v) = pair.trim().split_once('=')?;
        (k == name).then_some(v)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_ticket_opens_one_session_once() {
        let s = Sessions::default();
        let t = s.ticket();
        let id = s.login(&t).expect("a fresh ticket logs in");
        assert!(s.login(&t).is_none(), "a ticket works once");
        assert!(s.login("not-a-ticket").is_none());
        let session = s.get(&id).expect("the session is live");
        assert_eq!(session.csrf.len(), 64);
        s.logout(&id);
        assert!(s.get(&id).is_none(), "logged out");
    }

    #[test]
    fn cookies_are_read_by_name() {
        let h = "elo_lang=en; elo_session=abc; other=1";
        assert_eq!(cookie(h, COOKIE), Some("abc"));
        assert_eq!(cookie(h, "missing"), None);
        assert!(same_secret("abc", "abc"));
        assert!(!same_secret("abd", "abc"));
        assert!(!same_secret("", ""));
    }
}
