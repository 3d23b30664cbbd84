//! Dashboard sessions and logins in flight. Every secret is stored as its SHA-256 (the caller
//! hashes): a copy of the database opens no session.

use sqlx::Row;

use crate::{Result, Store, StoreError};

/// A signed-in dashboard user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebSession {
    pub id_hash: String,
    /// The caller as authenticated at login, JSON.
    pub principal: String,
    /// The group the user acts for (`userGroup`).
    pub active_group: Option<String>,
    /// The anti-CSRF token every form of this session carries.
    pub csrf: String,
    /// The issuer's refresh token, encrypted by the caller.
    pub refresh_token: Option<String>,
    pub created_at: i64,
    pub expires_at: i64,
}

/// How many logins are in flight, from one client and from everyone.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LoginsInFlight {
    pub from_client: i64,
    /// When the client's oldest started.
    pub client_oldest: Option<i64>,
    pub total: i64,
    /// When the oldest of all started.
    pub oldest: Option<i64>,
}

/// An authorization request on its way to the issuer and back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebLogin {
    pub state_hash: String,
    /// The hash of the value the starting browser holds in a cookie: only
    /// that browser can complete the login.
    pub browser_hash: String,
    pub issuer: String,
    pub verifier: String,
    pub nonce: String,
    pub return_to: String,
    /// The address that started it.
    pub client_ip: Option<String>,
    pub created_at: i64,
}

fn session(r: &sqlx::any::AnyRow) -> Result<WebSession> {
    Ok(WebSession {
        id_hash: r.try_get("id_hash")?,
        principal: r.try_get("principal")?,
        active_group: r.try_get("active_group")?,
        csrf: r.try_get("csrf")?,
        refresh_token: r.try_get("refresh_token")?,
        created_at: r.try_get("created_at")?,
        expires_at: r.try_get("expires_at")?,
    })
}

impl Store {
    /// Stores a new session.
    pub async fn insert_session(&self, s: &WebSession) -> Result<()> {
        sqlx::query(
            "INSERT INTO web_sessions (id_hash, principal, active_group, csrf, refresh_token, created_at, expires_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(&s.id_hash)
        .bind(&s.principal)
        .bind(&s.active_group)
        .bind(&s.csrf)
        .bind(&s.refresh_token)
        .bind(s.created_at)
        .bind(s.expires_at)
        .execute(&self.writer)
        .await?;
        Ok(())
    }

    /// The session with this id hash, unless it expired before `now`.
    pub async fn session(&self, id_hash: &str, now: i64) -> Result<Option<WebSession>> {
        let row = sqlx::query("SELECT * FROM web_sessions WHERE id_hash = $1 AND expires_at > $2")
            .bind(id_hash)
            .bind(now)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(session).transpose()
    }

    /// Changes the group a session acts for.
    pub async fn set_session_group(&self, id_hash: &str, group: Option<&str>) -> Result<()> {
        sqlx::query("UPDATE web_sessions SET active_group = $1 WHERE id_hash = $2")
            .bind(group)
            .bind(id_hash)
            .execute(&self.writer)
            .await?;
        Ok(())
    }

    /// Ends a session (logout). Ending an unknown one is a no-op.
    pub async fn delete_session(&self, id_hash: &str) -> Result<()> {
        sqlx::query("DELETE FROM web_sessions WHERE id_hash = $1").bind(id_hash).execute(&self.writer).await?;
        Ok(())
    }

    /// Forgets sessions and logins that expired before `now` and `logins_before`.
    pub async fn purge_sessions(&self, now: i64, logins_before: i64) -> Result<u64> {
        let sessions =
            sqlx::query("DELETE FROM web_sessions WHERE expires_at <= $1").bind(now).execute(&self.writer).await?;
        let logins = sqlx::query("DELETE FROM web_logins WHERE created_at < $1")
            .bind(logins_before)
            .execute(&self.writer)
            .await?;
        Ok(sessions.rows_affected() + logins.rows_affected())
    }

    /// Forgets logins started before `before` (expired); returns how many.
    pub async fn purge_logins(&self, before: i64) -> Result<u64> {
        let done =
            sqlx::query("DELETE FROM web_logins WHERE created_at < $1").bind(before).execute(&self.writer).await?;
        Ok(done.rows_affected())
    }

    /// The logins started at or after `since`, from `client` and overall.
    pub async fn logins_in_flight(&self, client: &str, since: i64) -> Result<LoginsInFlight> {
        let mine = sqlx::query(
            "SELECT COUNT(*) AS n, MIN(created_at) AS oldest FROM web_logins WHERE client_ip = $1 AND created_at >= $2",
        )
        .bind(client)
        .bind(since)
        .fetch_one(&self.pool)
        .await?;
        let all = sqlx::query("SELECT COUNT(*) AS n, MIN(created_at) AS oldest FROM web_logins WHERE created_at >= $1")
            .bind(since)
            .fetch_one(&self.pool)
            .await?;
        Ok(LoginsInFlight {
            from_client: mine.try_get("n")?,
            client_oldest: mine.try_get("oldest")?,
            total: all.try_get("n")?,
            oldest: all.try_get("oldest")?,
        })
    }

    /// Records a login in flight.
    pub async fn insert_login(&self, l: &WebLogin) -> Result<()> {
        sqlx::query(
            "INSERT INTO web_logins (state_hash, browser_hash, issuer, verifier, nonce, return_to, client_ip, created_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(&l.state_hash)
        .bind(&l.browser_hash)
        .bind(&l.issuer)
        .bind(&l.verifier)
        .bind(&l.nonce)
        .bind(&l.return_to)
        .bind(&l.client_ip)
        .bind(l.created_at)
        .execute(&self.writer)
        .await?;
        Ok(())
    }

    /// Takes (reads and deletes, once) the login with this state hash,
    /// when it was started by the browser whose cookie hashes to
    /// `browser_hash`; another browser's attempt leaves it in place.
    pub async fn take_login(&self, state_hash: &str, browser_hash: &str) -> Result<Option<WebLogin>> {
        let row = sqlx::query("DELETE FROM web_logins WHERE state_hash = $1 AND browser_hash = $2 RETURNING *")
            .bind(state_hash)
            .bind(browser_hash)
            .fetch_optional(&self.writer)
            .await?;
        row.map(|r| {
            Ok::<_, StoreError>(WebLogin {
                state_hash: r.try_get("state_hash")?,
                browser_hash: r.try_get("browser_hash")?,
                issuer: r.try_get("issuer")?,
                verifier: r.try_get("verifier")?,
                nonce: r.try_get("nonce")?,
                return_to: r.try_get("return_to")?,
                client_ip: r.try_get("client_ip")?,
                created_at: r.try_get("created_at")?,
            })
        })
        .transpose()
    }
}
