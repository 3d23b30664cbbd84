//! The one domain error. Its `Display` is fit to show a user; the API crate
//! alone maps each variant to an HTTP status.

/// Result with the domain error.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What went wrong, in words a user can act on.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The request itself is wrong (bad JSON, bad parameter, bad template).
    #[error("{0}")]
    Invalid(String),
    /// The caller is not authenticated or the token is bad.
    #[error("{0}")]
    Unauthenticated(String),
    /// The caller is authenticated but may not do this.
    #[error("{0}")]
    Forbidden(String),
    /// The thing does not exist, or the caller may not see it.
    #[error("{0}")]
    NotFound(String),
    /// The thing exists but is in a state that forbids the request.
    #[error("{0}")]
    Conflict(String),
    /// The caller tried too often (sign-in attempts); `message` says when
    /// to try again, `retry_after_secs` is the same for `Retry-After`.
    #[error("{message}")]
    TooManyRequests { message: String, retry_after_secs: u64 },
    /// Something broke on our side; the message is safe to show, the
    /// details went to the log.
    #[error("internal error: {0}")]
    Internal(String),
}

impl Error {
    /// The HTTP status code the API and the dashboard answer this error with.
    pub fn http_status(&self) -> u16 {
        match self {
            Error::Invalid(_) => 400,
            Error::Unauthenticated(_) => 401,
            Error::Forbidden(_) => 403,
            Error::NotFound(_) => 404,
            Error::Conflict(_) => 409,
            Error::TooManyRequests { .. } => 429,
            Error::Internal(_) => 500,
        }
    }

    /// The same error with its message changed by `f` (to take out what
    /// the caller may not read).
    pub fn map_message(self, f: impl FnOnce(&str) -> String) -> Self {
        match self {
            Error::Invalid(m) => Error::Invalid(f(&m)),
            Error::Unauthenticated(m) => Error::Unauthenticated(f(&m)),
            Error::Forbidden(m) => Error::Forbidden(f(&m)),
            Error::NotFound(m) => Error::NotFound(f(&m)),
            Error::Conflict(m) => Error::Conflict(f(&m)),
            Error::TooManyRequests { message, retry_after_secs } => {
                Error::TooManyRequests { message: f(&message), retry_after_secs }
            }
            Error::Internal(m) => Error::Internal(f(&m)),
        }
    }

    /// Shorthand for [`Error::Invalid`].
    pub fn invalid(msg: impl Into<String>) -> Self {
        Self::Invalid(msg.into())
    }
    /// Shorthand for [`Error::NotFound`].
    pub fn not_found(msg: impl Into<String>) -> Self {
        Self::NotFound(msg.into())
    }
    /// Shorthand for [`Error::Conflict`].
    pub fn conflict(msg: impl Into<String>) -> Self {
        Self::Conflict(msg.into())
    }
    /// Shorthand for [`Error::Internal`].
    pub fn internal(msg: impl Into<String>) -> Self {
        Self::Internal(msg.into())
    }
}
