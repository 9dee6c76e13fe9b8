//! What a hosting operation can fail with, and how each failure reads to
//! the caller: a 4xx for what the caller did wrong, a 5xx (without
//! internals) for what the host did.

use crate::StoreError;

/// A hosting operation that did not complete.
#[derive(Debug, thiserror::Error)]
pub enum HostingError {
    /// The request is malformed or names something invalid.
    #[error("{message}")]
    BadRequest {
        /// A stable code, e.g. `invalid-id`.
        code: &'static str,
        /// What is wrong.
        message: String,
    },
    /// No such thing for this tenant.
    #[error("{what} `{id}` not found")]
    NotFound {
        /// What was looked for.
        what: &'static str,
        /// Its id.
        id: String,
    },
    /// The state does not allow it (a version uploaded twice, no active
    /// rule, …).
    #[error("{message}")]
    Conflict {
        /// A stable code.
        code: &'static str,
        /// What is in the way.
        message: String,
    },
    /// Well-formed, but refused on its content: a rule component that does
    /// not load, a campaign that does not parse.
    #[error("{message}")]
    Unprocessable {
        /// A stable code, e.g. `invalid-rule`.
        code: &'static str,
        /// Why, with the file and line where known.
        message: String,
    },
    /// Over a cap.
    #[error("{message}")]
    TooLarge {
        /// What is too large.
        message: String,
    },
    /// Too many requests or sends at once for this tenant.
    #[error("{0}")]
    Busy(String),
    /// The host cannot do it now (no capacity); try again later.
    #[error("{0}")]
    Unavailable(String),
    /// The storage layer failed.
    #[error("storage: {0}")]
    Store(#[source] StoreError),
    /// Anything else on the host's side.
    #[error("{0}")]
    Internal(String),
}

impl HostingError {
    /// The HTTP status that says it.
    pub fn status(&self) -> u16 {
        match self {
            HostingError::BadRequest { .. } => 400,
            HostingError::NotFound { .. } => 404,
            HostingError::Conflict { .. } => 409,
            HostingError::TooLarge { .. } => 413,
            HostingError::Unprocessable { .. } => 422,
            HostingError::Busy(_) => 429,
            HostingError::Unavailable(_) => 503,
            HostingError::Store(_) | HostingError::Internal(_) => 500,
        }
    }

    /// A stable code for the error body.
    pub fn code(&self) -> &'static str {
        match self {
            HostingError::BadRequest { code, .. }
            | HostingError::Conflict { code, .. }
            | HostingError::Unprocessable { code, .. } => code,
            HostingError::NotFound { .. } => "not-found",
            HostingError::TooLarge { .. } => "too-large",
            HostingError::Busy(_) => "too-many-requests",
            HostingError::Unavailable(_) => "unavailable",
            HostingError::Store(_) | HostingError::Internal(_) => "internal",
        }
    }

    /// The message the caller sees: the whole message for its own
    /// mistakes, a generic one for the host's (the details go to the log).
    pub fn public_message(&self) -> String {
        match self {
            HostingError::Store(_) | HostingError::Internal(_) => {
                "internal error; the operator's log has the details".into()
            }
            other => other.to_string(),
        }
    }

    /// A bad request with `code`.
    pub fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        HostingError::BadRequest {
            code,
            message: message.into(),
        }
    }
}

impl From<StoreError> for HostingError {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::NotFound { what, id } => HostingError::NotFound { what, id },
            StoreError::AlreadyExists { what, id } => HostingError::Conflict {
                code: "already-exists",
                message: format!("{what} `{id}` already exists"),
            },
            StoreError::InvalidId { .. } => {
                HostingError::bad_request("invalid-id", error.to_string())
            }
            StoreError::InvalidValue { .. } => {
                HostingError::bad_request("invalid-value", error.to_string())
            }
            StoreError::Conflict(message) => HostingError::Conflict {
                code: "conflict",
                message,
            },
            other => HostingError::Store(other),
        }
    }
}
