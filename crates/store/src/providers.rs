//! The federation registry: every provider's description (flavors, images,
//! networks, SLAs, maintenance), as one JSON document per provider.
//!
//! Providers come from the configuration file or the admin API. Each row
//! remembers the hash of the configuration it last came from, so a restart
//! with an unchanged file keeps the edits made through the API, while a
//! changed file wins for the providers it changed.

use nuvola_types::ProviderSpec;
use sha2::{Digest, Sha256};
use sqlx::Row;

use crate::{Backend, Result, Store, StoreError, from_json, to_json};
use nuvola_types::now_ms;

/// What [`Store::sync_config_providers`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ConfigSync {
    /// Providers new in the configuration.
    pub added: Vec<String>,
    /// Providers whose configuration changed (API edits replaced).
    pub updated: Vec<String>,
    /// Providers that came from the configuration and left it.
    pub removed: Vec<String>,
}

impl Store {
    /// Every provider in the registry, in order.
    pub async fn providers(&self) -> Result<Vec<ProviderSpec>> {
        let rows = sqlx::query("SELECT spec FROM providers ORDER BY position, name").fetch_all(&self.pool).await?;
        rows.iter().map(|r| from_json("providers.spec", &r.try_get::<String, _>("spec")?)).collect()
    }

    /// Adds or replaces one provider (an admin's edit).
    pub async fn put_provider(&self, spec: &ProviderSpec) -> Result<()> {
        sqlx::query(
            "INSERT INTO providers (name, position, spec, config_hash, updated_at)
             VALUES ($1, (SELECT COALESCE(MAX(position), -1) + 1 FROM providers), $2, NULL, $3)
             ON CONFLICT (name) DO UPDATE SET spec = excluded.spec, updated_at = excluded.updated_at",
        )
        .bind(&spec.name)
        .bind(to_json(spec))
        .bind(now_ms())
        .execute(&self.writer)
        .await?;
        Ok(())
    }

    /// Changes provider `name` with `edit`, reading and writing it in one
    /// transaction that holds the row's write lock, so that two edits at
    /// once (from this server or another) cannot lose each other's
    /// changes. `Ok(None)` when there is no such provider; an error from
    /// `edit` leaves the row as it was.
    pub async fn update_provider<E: From<StoreError>>(
        &self,
        name: &str,
        edit: impl FnOnce(ProviderSpec) -> Result<ProviderSpec, E>,
    ) -> Result<Option<ProviderSpec>, E> {
        let mut tx = self.writer.begin().await.map_err(StoreError::from)?;
        let select = match self.backend {
            Backend::Postgres => "SELECT spec FROM providers WHERE name = $1 FOR UPDATE",
            Backend::Sqlite => {
                // SQLite locks the whole database, on the first write.
                sqlx::query("UPDATE providers SET position = position WHERE 1 = 0")
                    .execute(&mut *tx)
                    .await
                    .map_err(StoreError::from)?;
                "SELECT spec FROM providers WHERE name = $1"
            }
        };
        let row = sqlx::query(select).bind(name).fetch_optional(&mut *tx).await.map_err(StoreError::from)?;
        let Some(row) = row else { return Ok(None) };
        let current = from_json("providers.spec", &row.try_get::<String, _>("spec").map_err(StoreError::from)?)?;
        let updated = edit(current)?;
        sqlx::query("UPDATE providers SET spec = $2, updated_at = $3 WHERE name = $1")
            .bind(name)
            .bind(to_json(&updated))
            .bind(now_ms())
            .execute(&mut *tx)
            .await
            .map_err(StoreError::from)?;
        tx.commit().await.map_err(StoreError::from)?;
        Ok(Some(updated))
    }

    /// Removes one provider; returns whether it existed.
    pub async fn delete_provider(&self, name: &str) -> Result<bool> {
        let done = sqlx::query("DELETE FROM providers WHERE name = $1").bind(name).execute(&self.writer).await?;
        Ok(done.rows_affected() > 0)
    }

    /// Replaces the whole registry with `specs`, atomically (an import).
    pub async fn replace_providers(&self, specs: &[ProviderSpec]) -> Result<()> {
        let mut tx = self.writer.begin().await?;
        sqlx::query("DELETE FROM providers").execute(&mut *tx).await?;
        for (position, spec) in specs.iter().enumerate() {
            sqlx::query(
                "INSERT INTO providers (name, position, spec, config_hash, updated_at) VALUES ($1, $2, $3, NULL, $4)",
            )
            .bind(&spec.name)
            .bind(position as i64)
            .bind(to_json(spec))
            .bind(now_ms())
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Applies the configuration file's providers: new ones are added,
    /// changed ones replaced, ones that came from the file and left it
    /// removed; unchanged ones keep the edits made since through the API.
    pub async fn sync_config_providers(&self, specs: &[ProviderSpec]) -> Result<ConfigSync> {
        let mut report = ConfigSync::default();
        let mut tx = self.writer.begin().await?;
        // Take the write lock first (SQLite) so that two starting servers
        // do not interleave their syncs.
        sqlx::query("UPDATE providers SET position = position WHERE 1 = 0").execute(&mut *tx).await?;
        let rows = sqlx::query("SELECT name, config_hash FROM providers").fetch_all(&mut *tx).await?;
        let mut known = std::collections::BTreeMap::new();
        for r in &rows {
            known.insert(r.try_get::<String, _>("name")?, r.try_get::<Option<String>, _>("config_hash")?);
        }
        for (position, spec) in specs.iter().enumerate() {
            let json = to_json(spec);
            let hash = format!("{:x}", Sha256::digest(json.as_bytes()));
            let action = match known.get(&spec.name) {
                None => Some(&mut report.added),
                Some(old) if old.as_deref() != Some(hash.as_str()) => Some(&mut report.updated),
                Some(_) => None,
            };
            if let Some(list) = action {
                list.push(spec.name.clone());
                sqlx::query(
                    "INSERT INTO providers (name, position, spec, config_hash, updated_at) VALUES ($1, $2, $3, $4, $5)
                     ON CONFLICT (name) DO UPDATE SET position = excluded.position, spec = excluded.spec,
                        config_hash = excluded.config_hash, updated_at = excluded.updated_at",
                )
                .bind(&spec.name)
                .bind(position as i64)
                .bind(&json)
                .bind(&hash)
                .bind(now_ms())
                .execute(&mut *tx)
                .await?;
            }
        }
        for (name, hash) in &known {
            if hash.is_some() && !specs.iter().any(|s| &s.name == name) {
                sqlx::query("DELETE FROM providers WHERE name = $1").bind(name).execute(&mut *tx).await?;
                report.removed.push(name.clone());
            }
        }
        tx.commit().await?;
        Ok(report)
    }
}
