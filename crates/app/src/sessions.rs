//! Dashboard sessions and the sign-ins on their way to an issuer and back.
//! The dashboard makes the secrets and hands over only their hashes; these
//! use cases keep the rows, so that no transport reaches the store itself.

use nuvola_store::{LoginsInFlight, WebLogin, WebSession};
use nuvola_types::Result;

use crate::App;

impl App {
    /// Stores a new dashboard session, then forgets the sessions that ran
    /// out and the logins started before `logins_before`. The new session
    /// stands even if forgetting fails (it is retried at the next sign-in).
    pub async fn open_session(&self, session: &WebSession, logins_before: i64) -> Result<()> {
        self.store().insert_session(session).await?;
        if let Err(e) = self.store().purge_sessions(self.now_ms(), logins_before).await {
            tracing::warn!(error = %e, "expired dashboard sessions and logins were not purged");
        }
        Ok(())
    }

    /// The session whose id hashes to `id_hash`, unless it ran out.
    pub async fn session(&self, id_hash: &str) -> Result<Option<WebSession>> {
        Ok(self.store().session(id_hash, self.now_ms()).await?)
    }

    /// Makes the session act for `group` (the caller checked membership).
    pub async fn set_session_group(&self, id_hash: &str, group: &str) -> Result<()> {
        Ok(self.store().set_session_group(id_hash, Some(group)).await?)
    }

    /// Ends a session (sign-out); ending an unknown one does nothing.
    pub async fn close_session(&self, id_hash: &str) -> Result<()> {
        Ok(self.store().delete_session(id_hash).await?)
    }

    /// Forgets the logins started before `since`, then counts those still
    /// in flight, from `client` and from everyone.
    pub async fn logins_in_flight(&self, client: &str, since: i64) -> Result<LoginsInFlight> {
        self.store().purge_logins(since).await?;
        Ok(self.store().logins_in_flight(client, since).await?)
    }

    /// Records a login on its way to the issuer.
    pub async fn start_login(&self, login: &WebLogin) -> Result<()> {
        Ok(self.store().insert_login(login).await?)
    }

    /// Takes (once) the login with this state hash, when the browser whose
    /// cookie hashes to `browser_hash` started it.
    pub async fn take_login(&self, state_hash: &str, browser_hash: &str) -> Result<Option<WebLogin>> {
        Ok(self.store().take_login(state_hash, browser_hash).await?)
    }
}
