//! The status page's components: each one's changes of state over time
//! (its history, and the timelines availability is computed from), and
//! the operators' overrides shown over what the probes say.
//!
//! A change is kept once per component and time, so a change recorded
//! again (a retried round, two replicas) stays one row.

use nuvola_types::{ComponentState, Spelled};
use sqlx::Row;
use sqlx::any::AnyRow;

use crate::{Result, Store, parse_word};

/// A component's state from a time on, and why.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ComponentChange {
    /// `<group>/<name>`: `clouds/recas-bari`, `paas/store`.
    pub component: String,
    /// Milliseconds since the epoch.
    pub at: i64,
    pub state: ComponentState,
    /// What made it change (the failing probes, "back to normal").
    pub reason: String,
}

/// An operator's word on a component, shown instead of what the probes
/// say until cleared.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ComponentOverride {
    pub component: String,
    pub state: ComponentState,
    /// Shown beside the state.
    pub note: String,
    /// Who set it (`subject@issuer`).
    pub set_by: String,
    pub set_at: i64,
}

impl Store {
    /// Records that `component` is in `state` from `at` on; returns
    /// whether this is new (a change already recorded at `at` stays as
    /// it was).
    pub async fn record_component_state(
        &self,
        component: &str,
        at: i64,
        state: ComponentState,
        reason: &str,
    ) -> Result<bool> {
        let done = sqlx::query(
            "INSERT INTO component_states (component, at, state, reason) VALUES ($1, $2, $3, $4)
             ON CONFLICT (component, at) DO NOTHING",
        )
        .bind(component)
        .bind(at)
        .bind(state.as_str())
        .bind(reason)
        .execute(&self.writer)
        .await?;
        Ok(done.rows_affected() > 0)
    }

    /// `component`'s changes from `since` (inclusive) to `until`
    /// (exclusive), oldest first, led by the last change before `since`
    /// when there is one and none at `since`: the state the window starts
    /// in.
    pub async fn component_timeline(&self, component: &str, since: i64, until: i64) -> Result<Vec<ComponentChange>> {
        let rows = sqlx::query(
            "SELECT component, at, state, reason FROM component_states
             WHERE component = $1 AND at < $3 AND at >= COALESCE(
                (SELECT MAX(at) FROM component_states WHERE component = $1 AND at <= $2), $2)
             ORDER BY at",
        )
        .bind(component)
        .bind(since)
        .bind(until)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(change).collect()
    }

    /// Every component's changes from `since` to `until`, as
    /// [`Store::component_timeline`] reads one's, in one query: by
    /// component, oldest first. The status page's history of every
    /// component costs one round trip.
    pub async fn component_timelines(&self, since: i64, until: i64) -> Result<Vec<ComponentChange>> {
        let rows = sqlx::query(
            "SELECT c.component, c.at, c.state, c.reason FROM component_states c
             WHERE c.at < $2 AND c.at >= COALESCE(
                (SELECT MAX(l.at) FROM component_states l WHERE l.component = c.component AND l.at <= $1), $1)
             ORDER BY c.component, c.at",
        )
        .bind(since)
        .bind(until)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(change).collect()
    }

    /// Every component's latest change, by component.
    pub async fn current_component_states(&self) -> Result<Vec<ComponentChange>> {
        let rows = sqlx::query(
            "SELECT c.component, c.at, c.state, c.reason FROM component_states c
             WHERE c.at = (SELECT MAX(l.at) FROM component_states l WHERE l.component = c.component)
             ORDER BY c.component",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(change).collect()
    }

    /// Sets (or replaces) the operator's override of `component`.
    pub async fn set_component_override(
        &self,
        component: &str,
        state: ComponentState,
        note: &str,
        by: &str,
        at: i64,
    ) -> Result<()> {
        sqlx::query(
            "INSERT INTO component_overrides (component, state, note, set_by, set_at) VALUES ($1, $2, $3, $4, $5)
             ON CONFLICT (component) DO UPDATE SET state = excluded.state, note = excluded.note,
                set_by = excluded.set_by, set_at = excluded.set_at",
        )
        .bind(component)
        .bind(state.as_str())
        .bind(note)
        .bind(by)
        .bind(at)
        .execute(&self.writer)
        .await?;
        Ok(())
    }

    /// Clears `component`'s override; returns whether it had one.
    pub async fn clear_component_override(&self, component: &str) -> Result<bool> {
        let done = sqlx::query("DELETE FROM component_overrides WHERE component = $1")
            .bind(component)
            .execute(&self.writer)
            .await?;
        Ok(done.rows_affected() > 0)
    }

    /// Every override in place, by component.
    pub async fn component_overrides(&self) -> Result<Vec<ComponentOverride>> {
        let rows =
            sqlx::query("SELECT component, state, note, set_by, set_at FROM component_overrides ORDER BY component")
                .fetch_all(&self.pool)
                .await?;
        rows.iter()
            .map(|r| {
                Ok(ComponentOverride {
                    component: r.try_get("component")?,
                    state: parse_word("component_overrides.state", &r.try_get::<String, _>("state")?)?,
                    note: r.try_get("note")?,
                    set_by: r.try_get("set_by")?,
                    set_at: r.try_get("set_at")?,
                })
            })
            .collect()
    }
}

fn change(r: &AnyRow) -> Result<ComponentChange> {
    Ok(ComponentChange {
        component: r.try_get("component")?,
        at: r.try_get("at")?,
        state: parse_word("component_states.state", &r.try_get::<String, _>("state")?)?,
        reason: r.try_get("reason")?,
    })
}
