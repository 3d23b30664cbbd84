//! For the tests of the store and of the crates above it (feature
//! `testing`): the PostgreSQL that `.ci/services.sh` starts, and fresh
//! stores in schemas of their own on it.

use std::sync::atomic::{AtomicU64, Ordering};

use crate::{Store, StoreOptions};

/// The URL of the CI's PostgreSQL (`NUVOLA_TEST_POSTGRES_URL`). Without it
/// a test fails under CI (`CI=true`) and is skipped, saying why, on a
/// developer's machine (`None`).
pub fn postgres_url() -> Option<String> {
    match std::env::var("NUVOLA_TEST_POSTGRES_URL") {
        Ok(url) => Some(url),
        Err(_) => {
            assert!(
                std::env::var("CI").as_deref() != Ok("true"),
                "NUVOLA_TEST_POSTGRES_URL is not set under CI: .ci/services.sh should have started PostgreSQL"
            );
            eprintln!("skipping: NUVOLA_TEST_POSTGRES_URL not set (source .ci/services.sh to start PostgreSQL)");
            None
        }
    }
}

/// A store in a fresh schema of the PostgreSQL at `url`, named after
/// `prefix`; drop it with [`Store::drop_schema`] and the name returned.
pub async fn fresh_postgres(url: &str, prefix: &str) -> (Store, String) {
    static MADE: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default().subsec_nanos();
    let schema = format!("{prefix}_{}_{nanos}_{}", std::process::id(), MADE.fetch_add(1, Ordering::Relaxed));
    let options = StoreOptions { schema: Some(schema.clone()), ..StoreOptions::new(url) };
    let store = Store::open(options).await.unwrap_or_else(|e| panic!("opening schema {schema}: {e}"));
    (store, schema)
}
