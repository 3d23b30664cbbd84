//! OAuth 2.0 and OpenID Connect as nuvola speaks them to an issuer, without
//! the transport: the discovery document (OpenID Connect Discovery 1.0
//! §3-4), the token endpoint's requests (RFC 6749 §4, the device grant of
//! RFC 8628 §3.4) and its answers and refusals (RFC 6749 §5). Each caller
//! sends them with its own HTTP client: the drivers' retrying one, the
//! identity module's, the dashboard's and the CLI's.

use serde::Deserialize;

/// The parts of an issuer's discovery document nuvola reads.
#[derive(Debug, Clone, Deserialize)]
pub struct Discovery {
    pub issuer: String,
    pub jwks_uri: String,
    #[serde(default)]
    pub authorization_endpoint: Option<String>,
    #[serde(default)]
    pub token_endpoint: Option<String>,
    #[serde(default)]
    pub device_authorization_endpoint: Option<String>,
    #[serde(default)]
    pub introspection_endpoint: Option<String>,
    #[serde(default)]
    pub revocation_endpoint: Option<String>,
    #[serde(default)]
    pub end_session_endpoint: Option<String>,
}

impl Discovery {
    /// Where `issuer` publishes its discovery document.
    pub fn url(issuer: &str) -> String {
        format!("{}/.well-known/openid-configuration", issuer.trim_end_matches('/'))
    }

    /// Reads the document fetched for `issuer`, which must name that issuer
    /// (§4.3: anything else may be an impostor's).
    pub fn parse(issuer: &str, body: &str) -> Result<Discovery, String> {
        let url = Discovery::url(issuer);
        let discovery: Discovery =
            serde_json::from_str(body).map_err(|e| format!("{url} is not a discovery document: {e}"))?;
        if !same_issuer(&discovery.issuer, issuer) {
            return Err(format!("the discovery document at {url} names issuer {}, not {issuer}", discovery.issuer));
        }
        Ok(discovery)
    }

    /// The token endpoint, which every flow nuvola uses needs.
    pub fn token_endpoint(&self) -> Result<&str, String> {
        self.token_endpoint.as_deref().ok_or_else(|| format!("the issuer {} names no token endpoint", self.issuer))
    }
}

/// Issuer URLs compare equal with or without a trailing slash.
pub fn same_issuer(a: &str, b: &str) -> bool {
    a.trim_end_matches('/') == b.trim_end_matches('/')
}

/// What a token request trades for tokens.
#[derive(Debug, Clone, Copy)]
pub enum Grant<'a> {
    /// The client's own identity (a confidential client, a robot).
    ClientCredentials,
    /// A refresh token from an earlier answer.
    RefreshToken(&'a str),
    /// The code of a browser sign-in, with its PKCE verifier (RFC 7636).
    AuthorizationCode { code: &'a str, redirect_uri: &'a str, verifier: &'a str },
    /// The device code of a device authorization (RFC 8628).
    DeviceCode(&'a str),
}

impl Grant<'_> {
    /// The grant in words, for messages.
    pub fn describe(&self) -> &'static str {
        match self {
            Grant::ClientCredentials => "client credentials",
            Grant::RefreshToken(_) => "refresh token",
            Grant::AuthorizationCode { .. } => "authorization code",
            Grant::DeviceCode(_) => "device code",
        }
    }
}

/// A request to an issuer's token endpoint.
#[derive(Debug, Clone)]
pub struct TokenRequest<'a> {
    pub client_id: &'a str,
    /// A confidential client's secret, sent with HTTP Basic
    /// (`client_secret_basic`); a public client names itself in the form.
    pub client_secret: Option<&'a str>,
    pub grant: Grant<'a>,
    /// Further parameters: `scope`, `audience`, `resource` (RFC 8707).
    pub extra: Vec<(&'a str, &'a str)>,
}

impl<'a> TokenRequest<'a> {
    pub fn new(client_id: &'a str, client_secret: Option<&'a str>, grant: Grant<'a>) -> Self {
        TokenRequest { client_id, client_secret, grant, extra: Vec::new() }
    }

    /// Adds parameter `name` when it has a value.
    pub fn with(mut self, name: &'a str, value: Option<&'a str>) -> Self {
        if let Some(value) = value {
            self.extra.push((name, value));
        }
        self
    }

    /// The form to POST (`application/x-www-form-urlencoded`).
    pub fn form(&self) -> Vec<(&'a str, &'a str)> {
        let mut form = match self.grant {
            Grant::ClientCredentials => vec![("grant_type", "client_credentials")],
            Grant::RefreshToken(token) => vec![("grant_type", "refresh_token"), ("refresh_token", token)],
            Grant::AuthorizationCode { code, redirect_uri, verifier } => vec![
                ("grant_type", "authorization_code"),
                ("code", code),
                ("redirect_uri", redirect_uri),
                ("code_verifier", verifier),
            ],
            Grant::DeviceCode(code) => {
                vec![("grant_type", "urn:ietf:params:oauth:grant-type:device_code"), ("device_code", code)]
            }
        };
        form.extend(self.extra.iter().copied());
        if self.client_secret.is_none() {
            form.push(("client_id", self.client_id));
        }
        form
    }

    /// The HTTP Basic credentials to send, for a confidential client.
    pub fn basic_auth(&self) -> Option<(&'a str, &'a str)> {
        self.client_secret.map(|secret| (self.client_id, secret))
    }
}

/// A successful token answer (RFC 6749 §5.1).
#[derive(Debug, Clone, Deserialize)]
pub struct Tokens {
    pub access_token: String,
    #[serde(default)]
    pub refresh_token: Option<String>,
    #[serde(default)]
    pub id_token: Option<String>,
    /// Seconds the access token lives.
    #[serde(default)]
    pub expires_in: Option<i64>,
}

/// Why a token request got no tokens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenError {
    /// The issuer said no (RFC 6749 §5.2): `error` is its code, e.g.
    /// `invalid_grant`, or `authorization_pending` while a device sign-in
    /// waits.
    Refused { status: u16, error: String, description: Option<String> },
    /// The answer is not one: a proxy's error page, or JSON without an
    /// access token.
    Garbled { status: u16, detail: String },
}

impl TokenError {
    /// The OAuth error code, when the issuer gave one.
    pub fn code(&self) -> Option<&str> {
        match self {
            TokenError::Refused { error, .. } => Some(error),
            TokenError::Garbled { .. } => None,
        }
    }

    /// Whether the request itself was wrong (a 4xx): asking again the same
    /// way will not help.
    pub fn is_client_error(&self) -> bool {
        let (TokenError::Refused { status, .. } | TokenError::Garbled { status, .. }) = self;
        (400..500).contains(status)
    }
}

impl std::fmt::Display for TokenError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TokenError::Refused { error, description: Some(d), .. } => write!(f, "{error}: {d}"),
            TokenError::Refused { error, description: None, .. } => f.write_str(error),
            TokenError::Garbled { status, detail } => write!(f, "HTTP {status}: {detail}"),
        }
    }
}

impl std::error::Error for TokenError {}

/// Reads the token endpoint's answer: its HTTP status and body.
pub fn token_answer(status: u16, body: &str) -> Result<Tokens, TokenError> {
    let excerpt = || {
        let text: String = body.trim().chars().take(200).collect();
        if text.is_empty() { "(an empty body)".to_string() } else { text }
    };
    if (200..300).contains(&status) {
        return serde_json::from_str(body)
            .map_err(|e| TokenError::Garbled { status, detail: format!("not a token answer ({e}): {}", excerpt()) });
    }
    #[derive(Deserialize)]
    struct Refusal {
        error: String,
        #[serde(default)]
        error_description: Option<String>,
    }
    Err(match serde_json::from_str::<Refusal>(body) {
        Ok(r) => TokenError::Refused { status, error: r.error, description: r.error_description },
        Err(_) => TokenError::Garbled { status, detail: excerpt() },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn public_clients_name_themselves_and_confidential_ones_use_basic() {
        let public = TokenRequest::new("cli", None, Grant::DeviceCode("dc")).with("scope", Some("openid"));
        assert_eq!(
            public.form(),
            [
                ("grant_type", "urn:ietf:params:oauth:grant-type:device_code"),
                ("device_code", "dc"),
                ("scope", "openid"),
                ("client_id", "cli")
            ]
        );
        assert_eq!(public.basic_auth(), None);
        let robot = TokenRequest::new("robot", Some("s3cret"), Grant::ClientCredentials).with("audience", None);
        assert_eq!(robot.form(), [("grant_type", "client_credentials")]);
        assert_eq!(robot.basic_auth(), Some(("robot", "s3cret")));
        let code = Grant::AuthorizationCode { code: "c", redirect_uri: "https://n/cb", verifier: "v" };
        let form = TokenRequest::new("web", None, code).form();
        assert!(form.contains(&("code_verifier", "v")) && form.contains(&("redirect_uri", "https://n/cb")));
        assert_eq!(Grant::RefreshToken("r").describe(), "refresh token");
    }

    #[test]
    fn answers_refusals_and_garbage_are_told_apart() {
        let tokens = token_answer(200, r#"{"access_token":"a","refresh_token":"r","expires_in":300}"#).unwrap();
        assert_eq!((tokens.access_token.as_str(), tokens.refresh_token.as_deref()), ("a", Some("r")));
        let refused = token_answer(400, r#"{"error":"invalid_grant","error_description":"expired"}"#).unwrap_err();
        assert_eq!(refused.to_string(), "invalid_grant: expired");
        assert!(refused.is_client_error() && refused.code() == Some("invalid_grant"));
        let pending = token_answer(400, r#"{"error":"authorization_pending"}"#).unwrap_err();
        assert_eq!(pending.code(), Some("authorization_pending"));
        let proxy = token_answer(502, "<html>Bad Gateway</html>").unwrap_err();
        assert_eq!(proxy.to_string(), "HTTP 502: <html>Bad Gateway</html>");
        assert!(!proxy.is_client_error() && proxy.code().is_none());
        let empty = token_answer(200, r#"{"token_type":"Bearer"}"#).unwrap_err();
        assert!(empty.to_string().contains("missing field `access_token`"), "{empty}");
    }

    #[test]
    fn discovery_must_name_the_issuer_asked() {
        let body = r#"{"issuer":"https://idp.example/","jwks_uri":"https://idp.example/jwks","token_endpoint":"https://idp.example/token"}"#;
        let d = Discovery::parse("https://idp.example", body).unwrap();
        assert_eq!(d.token_endpoint(), Ok("https://idp.example/token"));
        let err = Discovery::parse("https://other.example", body).unwrap_err();
        assert!(err.contains("names issuer https://idp.example/, not https://other.example"), "{err}");
        assert!(Discovery::parse("https://idp.example", "<html>").unwrap_err().contains("not a discovery document"));
        assert_eq!(Discovery::url("https://idp.example/"), "https://idp.example/.well-known/openid-configuration");
    }
}
