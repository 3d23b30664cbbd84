//! The one domain error. Its `Display` is fit to show a user; what went
//! wrong inside (a database's message, a provider's raw answer) is kept
//! apart as the cause, which goes to the server log and is never shown.

/// Result with the domain error.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What went wrong, in words a user can act on.
#[derive(Debug, Clone, thiserror::Error)]
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
    /// Something broke on our side: `message` is safe to show, `cause`
    /// (the details) is only logged, by whoever answers the request or
    /// reports the failure.
    #[error("internal error: {message}")]
    Internal { message: String, cause: Option<String> },
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
            Error::Internal { .. } => 500,
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
            Error::Internal { message, cause } => Error::Internal { message: f(&message), cause },
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
    /// Shorthand for [`Error::Internal`] with nothing more to log.
    pub fn internal(msg: impl Into<String>) -> Self {
        Self::Internal { message: msg.into(), cause: None }
    }
    /// [`Error::Internal`] saying `msg` to the user, and `cause` only to
    /// the log.
    pub fn internal_because(msg: impl Into<String>, cause: impl std::fmt::Display) -> Self {
        Self::Internal { message: msg.into(), cause: Some(cause.to_string()) }
    }

    /// The internal cause, for the log; never to be shown.
    pub fn cause(&self) -> Option<&str> {
        match self {
            Error::Internal { cause, .. } => cause.as_deref(),
            _ => None,
        }
    }

    /// The error as the server log should read it: the message, then the
    /// cause when there is one.
    pub fn logged(&self) -> Logged<'_> {
        Logged(self)
    }
}

/// An [`Error`] displayed for the server log, cause included.
pub struct Logged<'a>(&'a Error);

impl std::fmt::Display for Logged<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.0.cause() {
            Some(cause) => write!(f, "{}: {cause}", self.0),
            None => write!(f, "{}", self.0),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_internal_cause_is_logged_but_not_shown() {
        let e =
            Error::internal_because("provider a did not answer", "GET http://10.0.0.1:8774/v2.1: connection refused");
        assert_eq!(e.to_string(), "internal error: provider a did not answer");
        assert!(!e.to_string().contains("10.0.0.1"));
        assert_eq!(
            e.logged().to_string(),
            "internal error: provider a did not answer: GET http://10.0.0.1:8774/v2.1: connection refused"
        );
        let shown = e.map_message(|m| m.replace("provider a", "a provider"));
        assert_eq!(shown.to_string(), "internal error: a provider did not answer");
        assert_eq!(shown.cause(), Some("GET http://10.0.0.1:8774/v2.1: connection refused"));
        assert_eq!(Error::invalid("bad").logged().to_string(), "bad");
    }
}
