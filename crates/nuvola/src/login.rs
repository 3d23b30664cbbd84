//! `nuvola login` and `nuvola logout`: the OAuth 2.0 device authorization
//! flow (RFC 8628) against the configured OIDC issuer, and the token it
//! yields kept in the user's config directory
//! (`$XDG_CONFIG_HOME/nuvola/token.json`, else `~/.config/nuvola/`), readable
//! by the owner only. The CLI refreshes it with the refresh token when it
//! has expired; `NUVOLA_TOKEN` always wins over it.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, Result, anyhow, bail};
use nuvola_drivers::private_files::{private_dir, private_file};
use nuvola_identity::oidc::discover;
use nuvola_types::oauth::{Grant, TokenError, TokenRequest, Tokens, token_answer};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::config::Config;

/// Options of `nuvola login`.
#[derive(clap::Args)]
pub struct LoginArgs {
    /// The OIDC issuer URL (default: the configuration's first issuer with
    /// a `cli_client_id`).
    #[arg(long)]
    pub issuer: Option<String>,
    /// The public client registered for the CLI at the issuer.
    #[arg(long)]
    pub client_id: Option<String>,
    /// Scopes to ask for.
    #[arg(long, default_value = "openid offline_access")]
    pub scope: String,
    /// A resource indicator (RFC 8707) naming nuvola at the issuer, when it
    /// needs one to issue JWT access tokens for it.
    #[arg(long)]
    pub resource: Option<String>,
    /// Configuration to read the issuer from.
    #[arg(long, env = "NUVOLA_CONFIG")]
    pub config: Option<PathBuf>,
}

/// The token `nuvola login` stored.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StoredToken {
    pub issuer: String,
    pub client_id: String,
    pub token_endpoint: String,
    #[serde(default)]
    pub revocation_endpoint: Option<String>,
    pub access_token: String,
    #[serde(default)]
    pub refresh_token: Option<String>,
    /// Unix seconds.
    pub expires_at: i64,
}

/// Seconds before expiry at which a token counts as expired already.
const EXPIRY_MARGIN_SECS: i64 = 30;

/// Where the token is kept.
pub fn token_path() -> Result<PathBuf> {
    let base = match std::env::var_os("XDG_CONFIG_HOME").filter(|v| !v.is_empty()) {
        Some(dir) => PathBuf::from(dir),
        None => {
            PathBuf::from(std::env::var_os("HOME").ok_or_else(|| anyhow!("neither XDG_CONFIG_HOME nor HOME is set"))?)
                .join(".config")
        }
    };
    Ok(base.join("nuvola").join("token.json"))
}

/// The stored token, if any.
pub fn load() -> Result<Option<StoredToken>> {
    let path = token_path()?;
    match std::fs::read_to_string(&path) {
        Ok(text) => Ok(Some(serde_json::from_str(&text).with_context(|| format!("{} is damaged", path.display()))?)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e).with_context(|| format!("cannot read {}", path.display())),
    }
}

/// Writes the token readable by the owner only (the folder too), replacing
/// the old one in one step.
pub fn save(token: &StoredToken) -> Result<()> {
    let path = token_path()?;
    let dir = path.parent().expect("token path has a folder");
    private_dir(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let temp = dir.join(".token.json.new");
    let _ = std::fs::remove_file(&temp);
    let file = private_file(std::fs::OpenOptions::new().write(true).create_new(true), &temp)
        .with_context(|| format!("cannot create {}", temp.display()))?;
    serde_json::to_writer_pretty(&file, token)?;
    file.sync_all()?;
    std::fs::rename(&temp, &path).with_context(|| format!("cannot write {}", path.display()))?;
    Ok(())
}

fn now() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or(0)
}

/// The stored access token, refreshed first when it has expired.
pub async fn access_token(http: &reqwest::Client) -> Result<String> {
    let mut token = load()?.ok_or_else(not_logged_in)?;
    if token.expires_at - EXPIRY_MARGIN_SECS > now() {
        return Ok(token.access_token);
    }
    let Some(refresh) = token.refresh_token.clone() else {
        bail!("your login has expired and there is no refresh token: run `nuvola login` again");
    };
    let request = TokenRequest::new(&token.client_id, None, Grant::RefreshToken(&refresh));
    let granted = match token_call(http, &token.token_endpoint, &request).await? {
        Ok(granted) => granted,
        Err(e) => bail!("your login has expired and could not be refreshed ({e}): run `nuvola login` again"),
    };
    token.access_token = granted.access_token;
    token.expires_at = now() + granted.expires_in.unwrap_or(300);
    if granted.refresh_token.is_some() {
        token.refresh_token = granted.refresh_token;
    }
    save(&token)?;
    Ok(token.access_token)
}

/// The error for a CLI that has no token at all.
pub fn not_logged_in() -> anyhow::Error {
    anyhow!(
        "not logged in: run `nuvola login` (or set NUVOLA_TOKEN; with the embedded issuer, \
         `nuvola token issue --user NAME --group GROUP`)"
    )
}

/// Asks the token endpoint; the outer error is transport, the inner the
/// issuer's refusal.
async fn token_call(
    http: &reqwest::Client,
    endpoint: &str,
    request: &TokenRequest<'_>,
) -> Result<Result<Tokens, TokenError>> {
    let response =
        http.post(endpoint).form(&request.form()).send().await.with_context(|| format!("cannot reach {endpoint}"))?;
    let status = response.status().as_u16();
    let body = response.text().await.with_context(|| format!("cannot read the answer of {endpoint}"))?;
    Ok(token_answer(status, &body))
}

/// Posts a form; the outer error is transport, the inner the OAuth error code.
async fn post_form<T: serde::de::DeserializeOwned>(
    http: &reqwest::Client,
    url: &str,
    form: &[(&str, &str)],
) -> Result<Result<T, String>> {
    let response = http.post(url).form(form).send().await.with_context(|| format!("cannot reach {url}"))?;
    let status = response.status();
    let body: Value = response.json().await.with_context(|| format!("{url} did not answer JSON"))?;
    if status.is_success() {
        return Ok(Ok(serde_json::from_value(body).with_context(|| format!("unexpected answer from {url}"))?));
    }
    Ok(Err(body["error"].as_str().unwrap_or("unknown_error").to_string()))
}

#[derive(Debug, Deserialize)]
struct DeviceAuthorization {
    device_code: String,
    user_code: String,
    verification_uri: String,
    #[serde(default)]
    verification_uri_complete: Option<String>,
    expires_in: u64,
    #[serde(default)]
    interval: Option<u64>,
}

/// `nuvola login`: the device flow, then the token saved.
pub async fn login(args: LoginArgs) -> Result<()> {
    let (issuer, client_id) = match (args.issuer, args.client_id) {
        (Some(i), Some(c)) => (i, c),
        (issuer, client_id) => {
            let config = Config::load(args.config.as_deref())?;
            let known = config
                .identity
                .issuers
                .iter()
                .find(|i| issuer.as_ref().is_none_or(|want| nuvola_types::oauth::same_issuer(want, &i.issuer)))
                .filter(|i| i.cli_client_id.is_some() || client_id.is_some());
            match known {
                Some(i) => (i.issuer.clone(), client_id.or_else(|| i.cli_client_id.clone()).expect("checked")),
                None => bail!(
                    "no issuer to log in to: pass --issuer URL --client-id ID, or configure \
                     [[identity.issuers]] with cli_client_id"
                ),
            }
        }
    };
    let http = reqwest::Client::builder().timeout(Duration::from_secs(30)).build()?;
    let discovery = discover(&http, &issuer).await.map_err(|e| anyhow!("{e}"))?;
    let device_endpoint = discovery
        .device_authorization_endpoint
        .clone()
        .ok_or_else(|| anyhow!("{issuer} does not offer the device authorization flow"))?;
    let token_endpoint = discovery.token_endpoint().map_err(|e| anyhow!(e))?.to_string();
    let mut form = vec![("client_id", client_id.as_str()), ("scope", args.scope.as_str())];
    if let Some(r) = &args.resource {
        form.push(("resource", r));
    }
    let device: DeviceAuthorization = post_form(&http, &device_endpoint, &form)
        .await?
        .map_err(|e| anyhow!("{issuer} refused the device authorization request: {e}"))?;
    match &device.verification_uri_complete {
        Some(complete) => eprintln!(
            "To sign in, open {complete}\n(or open {} and enter the code {})",
            device.verification_uri, device.user_code
        ),
        None => eprintln!("To sign in, open {} and enter the code {}", device.verification_uri, device.user_code),
    }
    let mut interval = Duration::from_secs(device.interval.unwrap_or(5).max(1));
    let deadline = std::time::Instant::now() + Duration::from_secs(device.expires_in);
    let granted: Tokens = loop {
        tokio::time::sleep(interval).await;
        if std::time::Instant::now() > deadline {
            bail!("the code expired before the sign-in was completed; run `nuvola login` again");
        }
        let request = TokenRequest::new(&client_id, None, Grant::DeviceCode(&device.device_code));
        match token_call(&http, &token_endpoint, &request).await? {
            Ok(granted) => break granted,
            Err(e) => match e.code() {
                Some("authorization_pending") => {}
                Some("slow_down") => interval += Duration::from_secs(5),
                Some("access_denied") => bail!("the sign-in was refused"),
                Some("expired_token") => bail!("the code expired; run `nuvola login` again"),
                _ => bail!("{issuer} refused the login: {e}"),
            },
        }
    };
    let token = StoredToken {
        issuer: issuer.clone(),
        client_id,
        token_endpoint,
        revocation_endpoint: discovery.revocation_endpoint.clone(),
        access_token: granted.access_token,
        refresh_token: granted.refresh_token,
        expires_at: now() + granted.expires_in.unwrap_or(300),
    };
    save(&token)?;
    eprintln!("Logged in to {issuer}; the token is in {}", token_path()?.display());
    Ok(())
}

/// `nuvola logout`: revokes the refresh token at the issuer when it can
/// (best effort) and forgets the stored token.
pub async fn logout() -> Result<()> {
    let path = token_path()?;
    let Some(token) = load()? else {
        eprintln!("not logged in");
        return Ok(());
    };
    if let (Some(endpoint), Some(refresh)) = (&token.revocation_endpoint, &token.refresh_token) {
        let http = reqwest::Client::builder().timeout(Duration::from_secs(10)).build()?;
        let revoked = http
            .post(endpoint)
            .form(&[("token", refresh.as_str()), ("token_type_hint", "refresh_token"), ("client_id", &token.client_id)])
            .send()
            .await;
        if let Err(e) = revoked {
            eprintln!("warning: could not revoke the refresh token at {endpoint}: {e}");
        }
    }
    std::fs::remove_file(&path).with_context(|| format!("cannot remove {}", path.display()))?;
    eprintln!("Logged out of {}", token.issuer);
    Ok(())
}
