//! The invitation a member gives a new company: one line a person can paste
//! in a chat, holding the group id, the group secret (from which the
//! private-network key comes), a one-time join secret, when it expires, and
//! the addresses where members listen.
//!
//! Format: `elo-invite:` followed by unpadded URL-safe base64 of a JSON
//! object. Decoding checks the prefix and the size before parsing.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};

const PREFIX: &str = "elo-invite:";
/// Longest invite accepted, so a pasted novel is refused before parsing.
const MAX_INVITE_LEN: usize = 16 * 1024;

/// What a new company needs to join.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct Invite {
    pub group: String,
    /// The group secret, hex.
    pub secret: String,
    /// The one-time join secret, hex.
    pub join: String,
    /// Milliseconds since the Unix epoch after which the invite is refused.
    pub expires_ms: i64,
    /// When it was made, by the clock of the member that made it (absent
    /// in invites of older versions): with it, a joining machine can tell
    /// that the two clocks disagree.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub made_ms: Option<i64>,
    /// Multiaddresses of the inviting member, with its `/p2p/` peer id.
    pub addrs: Vec<String>,
}

/// Why an invite string was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum InviteError {
    #[error("not an elo invite (it should start with {PREFIX})")]
    Prefix,
    #[error("the invite is too long ({0} characters)")]
    TooLong(usize),
    #[error("the invite is damaged (was it cut when copied?): {0}")]
    Damaged(String),
}

impl Invite {
    pub fn encode(&self) -> String {
        let json = serde_json::to_vec(self).unwrap_or_default();
        format!("{PREFIX}{}", URL_SAFE_NO_PAD.encode(json))
    }

    pub fn decode(text: &str) -> Result<Invite, InviteError> {
        let text = text.trim();
        if text.len() > MAX_INVITE_LEN {
            return Err(InviteError::TooLong(text.len()));
        }
        let body = text.strip_prefix(PREFIX).ok_or(InviteError::Prefix)?;
        let bytes = URL_SAFE_NO_PAD
            .decode(body)
            .map_err(|e| InviteError::Damaged(e.to_string()))?;
        serde_json::from_slice(&bytes).map_err(|e| InviteError::Damaged(e.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    proptest::proptest! {
        /// Whatever a person pastes, decoding answers with an error, never a panic.
        #[test]
        fn arbitrary_text_never_panics(text in "\\PC{0,200}", tail in "[A-Za-z0-9_-]{0,300}") {
            let _ = Invite::decode(&text);
            let _ = Invite::decode(&format!("{PREFIX}{tail}"));
        }
    }

    #[test]
    fn round_trip_and_damage() {
        let i = Invite {
            group: "g".into(),
            secret: "00ff".into(),
            join: "abcd".into(),
            expires_ms: 5,
            made_ms: Some(1),
            addrs: vec!["/ip4/127.0.0.1/tcp/4712/p2p/12D3KooW".into()],
        };
        let s = i.encode();
        assert_eq!(Invite::decode(&s), Ok(i));
        assert_eq!(Invite::decode("hello"), Err(InviteError::Prefix));
        assert!(matches!(
            Invite::decode(&s[..s.len() - 7]),
            Err(InviteError::Damaged(_))
        ));
        assert!(matches!(
            Invite::decode(&"x".repeat(20_000)),
            Err(InviteError::TooLong(_))
        ));
    }
}
