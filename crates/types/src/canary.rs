//! The provider canary's record: one run that creates the smallest VM a
//! provider offers, waits until it runs, deletes it and waits until it is
//! gone, each phase timed. The store keeps it from before anything is
//! created until the provider has confirmed the VM gone, so that a run cut
//! off at any point is known and finished later.

use serde::{Deserialize, Serialize};

use crate::spelled::{Spelled, spelled_traits};

/// A phase of a canary run, in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", try_from = "String")]
pub enum CanaryPhase {
    /// From the start until the provider accepted the create.
    Create,
    /// From the create accepted until the VM runs.
    Ready,
    /// From the delete asked until the provider holds nothing of it.
    Delete,
}

impl Spelled for CanaryPhase {
    const WHAT: &'static str = "canary phase";
    const ALL: &'static [CanaryPhase] = &[Self::Create, Self::Ready, Self::Delete];

    fn as_str(self) -> &'static str {
        match self {
            Self::Create => "create",
            Self::Ready => "ready",
            Self::Delete => "delete",
        }
    }
}

spelled_traits!(CanaryPhase);

/// One canary run on one provider.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CanaryRun {
    /// The attempt id its VM is tagged with on the provider.
    pub id: String,
    pub provider: String,
    /// The slot of the schedule it ran in: one run per provider and slot.
    pub slot: i64,
    /// The flavor and image it was made of.
    pub flavor: String,
    pub image: String,
    /// When it started (ms).
    pub started_at: i64,
    /// Until when its runner holds it (ms); a run not gone whose lease ran
    /// out is a leftover anyone may finish.
    pub lease_until: i64,
    /// How long the create took to be accepted (ms).
    pub create_ms: Option<i64>,
    /// How long after that the VM ran.
    pub ready_ms: Option<i64>,
    /// How long its delete took, until the provider held nothing.
    pub delete_ms: Option<i64>,
    /// When it ended; `None` while it runs, or once cut off.
    pub finished_at: Option<i64>,
    /// Its verdict: `None` while it runs, or when it was cut off (the
    /// server stopped), which says nothing of the provider.
    pub ok: Option<bool>,
    /// The phase that failed.
    pub failed_phase: Option<CanaryPhase>,
    /// Why it failed, in words anyone may read.
    pub error: Option<String>,
    /// What lay behind it, for operators only (a raw answer, an address).
    pub cause: Option<String>,
    /// Whether the provider confirmed it holds nothing of the run.
    pub gone: bool,
    /// Why the last try to delete a leftover failed.
    pub cleanup_error: Option<String>,
}

impl CanaryRun {
    /// A run of `flavor` and `image` on `provider`, begun at `started_at`
    /// in `slot` and held until `lease_until`: nothing timed yet.
    pub fn begun(
        id: impl Into<String>,
        provider: impl Into<String>,
        slot: i64,
        flavor: impl Into<String>,
        image: impl Into<String>,
        started_at: i64,
        lease_until: i64,
    ) -> CanaryRun {
        CanaryRun {
            id: id.into(),
            provider: provider.into(),
            slot,
            flavor: flavor.into(),
            image: image.into(),
            started_at,
            lease_until,
            create_ms: None,
            ready_ms: None,
            delete_ms: None,
            finished_at: None,
            ok: None,
            failed_phase: None,
            error: None,
            cause: None,
            gone: false,
            cleanup_error: None,
        }
    }

    /// Each phase with how long it took, in order.
    pub fn phases(&self) -> [(CanaryPhase, Option<i64>); 3] {
        [
            (CanaryPhase::Create, self.create_ms),
            (CanaryPhase::Ready, self.ready_ms),
            (CanaryPhase::Delete, self.delete_ms),
        ]
    }

    /// Whether the run is over and left something on the provider, or was
    /// cut off (its lease ran out before `now`) without the provider
    /// confirming it gone.
    pub fn leftover(&self, now: i64) -> bool {
        !self.gone && (self.finished_at.is_some() || self.lease_until <= now)
    }
}
