//! The errors of the record model, one per operation. Their text is shown to
//! users as is, so it names the field and says what is wrong with it.

use std::fmt;

/// One field that failed its check.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct FieldError {
    pub field: String,
    pub reason: String,
}

impl FieldError {
    pub fn new(field: impl Into<String>, reason: impl Into<String>) -> Self {
        FieldError {
            field: field.into(),
            reason: reason.into(),
        }
    }
}

impl fmt::Display for FieldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.field, self.reason)
    }
}

impl std::error::Error for FieldError {}

/// A record refused whole: every field that failed, so a user fixes them in
/// one go rather than one per attempt.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub struct ValidationError(pub Vec<FieldError>);

impl ValidationError {
    pub fn one(field: impl Into<String>, reason: impl Into<String>) -> Self {
        ValidationError(vec![FieldError::new(field, reason)])
    }
}

impl From<FieldError> for ValidationError {
    fn from(e: FieldError) -> Self {
        ValidationError(vec![e])
    }
}

impl fmt::Display for ValidationError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("; ")?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

/// A kind name that is not one of elo's kinds.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error(
    "unknown kind {0:?}: expected one of customer, supplier, carrier, product, unit, product_group, company"
)]
pub struct UnknownKind(pub String);

/// Stored or received document bytes that automerge could not load.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DocError {
    /// Boxed: automerge's error is large and documents load on hot paths.
    #[error("document bytes are not a valid automerge document: {0}")]
    Corrupt(Box<automerge::AutomergeError>),
    #[error("document {found:?} is not the expected {expected:?}")]
    WrongId { expected: String, found: String },
    #[error("a received change does not decode: {0}")]
    BadChange(String),
}

impl From<automerge::AutomergeError> for DocError {
    fn from(e: automerge::AutomergeError) -> Self {
        DocError::Corrupt(Box::new(e))
    }
}
