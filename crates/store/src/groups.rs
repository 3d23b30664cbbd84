//! Per-group settings that managers and administrators edit: today,
//! whether the members of a group see all of the group's deployments.

use sqlx::Row;

use crate::{Result, Store};

/// One group's settings; a group never edited has the defaults.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct GroupSettings {
    pub name: String,
    /// Members see (read) every deployment of the group, not only their own.
    pub members_see_group: bool,
    /// `subject@issuer` of the last editor (empty for the defaults).
    pub updated_by: String,
    pub updated_at: i64,
}

impl Store {
    /// A group's settings (the defaults when never edited).
    pub async fn group_settings(&self, name: &str) -> Result<GroupSettings> {
        let row =
            sqlx::query("SELECT name, members_see_group, updated_by, updated_at FROM group_settings WHERE name = $1")
                .bind(name)
                .fetch_optional(&self.pool)
                .await?;
        match row {
            Some(r) => Ok(GroupSettings {
                name: r.try_get("name")?,
                members_see_group: r.try_get::<i64, _>("members_see_group")? != 0,
                updated_by: r.try_get("updated_by")?,
                updated_at: r.try_get("updated_at")?,
            }),
            None => Ok(GroupSettings { name: name.to_string(), ..Default::default() }),
        }
    }

    /// Of `names`, the groups whose members see all the group's deployments.
    pub async fn groups_visible_to_members(&self, names: &[String]) -> Result<Vec<String>> {
        if names.is_empty() {
            return Ok(Vec::new());
        }
        let placeholders: Vec<String> = (1..=names.len()).map(|i| format!("${i}")).collect();
        let sql = format!(
            "SELECT name FROM group_settings WHERE members_see_group = 1 AND name IN ({}) ORDER BY name",
            placeholders.join(", ")
        );
        let mut query = sqlx::query(&sql);
        for n in names {
            query = query.bind(n.clone());
        }
        let rows = query.fetch_all(&self.pool).await?;
        rows.iter().map(|r| Ok(r.try_get("name")?)).collect()
    }

    /// Saves a group's settings.
    pub async fn put_group_settings(&self, s: &GroupSettings) -> Result<()> {
        sqlx::query(
            "INSERT INTO group_settings (name, members_see_group, updated_by, updated_at) VALUES ($1, $2, $3, $4)
             ON CONFLICT (name) DO UPDATE SET members_see_group = $2, updated_by = $3, updated_at = $4",
        )
        .bind(&s.name)
        .bind(i64::from(s.members_see_group))
        .bind(&s.updated_by)
        .bind(s.updated_at)
        .execute(&self.writer)
        .await?;
        Ok(())
    }
}

impl Store {
    /// Per group: its deployments not yet deleted, and everyone who ever
    /// deployed for it (sorted).
    pub async fn group_members(&self) -> Result<std::collections::BTreeMap<String, (i64, Vec<String>)>> {
        let rows = sqlx::query(
            "SELECT user_group, owner_subject,
                    SUM(CASE WHEN status = 'DELETE_COMPLETE' THEN 0 ELSE 1 END) AS active
             FROM deployments GROUP BY user_group, owner_subject ORDER BY user_group, owner_subject",
        )
        .fetch_all(&self.pool)
        .await?;
        let mut out: std::collections::BTreeMap<String, (i64, Vec<String>)> = Default::default();
        for r in rows {
            let group: String = r.try_get("user_group")?;
            let entry = out.entry(group).or_default();
            entry.0 += r.try_get::<i64, _>("active")?;
            entry.1.push(r.try_get("owner_subject")?);
        }
        Ok(out)
    }
}
