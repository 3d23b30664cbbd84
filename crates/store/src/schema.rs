//! Schema migrations, applied in order and recorded in `nuvola_migrations`.
//! Append new steps; never edit a released one.

use sqlx::Executor;

use crate::{Backend, Result, Store};

/// Each migration: a version and its statements. `{id}` is replaced by the
/// dialect's auto-increment primary key, `{bytewise}` by the collation
/// that orders text by its bytes (SQLite's default, `"C"` on PostgreSQL),
/// `{without_rowid}` after a table's definition by SQLite's `WITHOUT ROWID`.
const MIGRATIONS: &[(i64, &[&str])] = &[
    (
        1,
        &[
            "CREATE TABLE deployments (
            id TEXT PRIMARY KEY,
            owner_subject TEXT NOT NULL,
            owner_issuer TEXT NOT NULL,
            user_group TEXT NOT NULL,
            catalogue_id TEXT,
            description TEXT,
            status TEXT NOT NULL,
            status_reason TEXT,
            task TEXT NOT NULL,
            template TEXT NOT NULL,
            parameters TEXT NOT NULL,
            inputs TEXT NOT NULL,
            requirements TEXT NOT NULL,
            plan TEXT NOT NULL,
            outputs TEXT NOT NULL,
            held TEXT NOT NULL,
            callback TEXT,
            timeout_mins BIGINT NOT NULL,
            provider_timeout_mins BIGINT NOT NULL,
            max_providers_retry BIGINT NOT NULL,
            keep_last_attempt BIGINT NOT NULL,
            provider TEXT,
            endpoint TEXT,
            physical_id TEXT,
            workflow TEXT,
            next_run_at BIGINT,
            lease_owner TEXT,
            lease_until BIGINT NOT NULL,
            deadline_at BIGINT NOT NULL,
            created_at BIGINT NOT NULL,
            updated_at BIGINT NOT NULL,
            revision BIGINT NOT NULL DEFAULT 0
        )",
            "CREATE INDEX deployments_owner ON deployments (owner_subject, owner_issuer, created_at)",
            "CREATE INDEX deployments_group ON deployments (user_group, created_at)",
            "CREATE INDEX deployments_due ON deployments (next_run_at)",
            "CREATE TABLE attempts (
            deployment_id TEXT NOT NULL REFERENCES deployments (id) ON DELETE CASCADE,
            number BIGINT NOT NULL,
            attempt_id TEXT NOT NULL,
            provider TEXT NOT NULL,
            state TEXT NOT NULL,
            reason TEXT,
            started_at BIGINT NOT NULL,
            finished_at BIGINT,
            PRIMARY KEY (deployment_id, number)
        )",
            "CREATE TABLE deployment_log (
            seq {id},
            deployment_id TEXT NOT NULL REFERENCES deployments (id) ON DELETE CASCADE,
            at BIGINT NOT NULL,
            message TEXT NOT NULL
        )",
            "CREATE INDEX deployment_log_by_deployment ON deployment_log (deployment_id, seq)",
        ],
    ),
    (
        2,
        &["CREATE TABLE providers (
            name TEXT PRIMARY KEY,
            position BIGINT NOT NULL,
            spec TEXT NOT NULL,
            config_hash TEXT,
            updated_at BIGINT NOT NULL
        )"],
    ),
    (
        3,
        &[
            "CREATE TABLE group_settings (
            name TEXT PRIMARY KEY,
            members_see_group BIGINT NOT NULL,
            updated_by TEXT NOT NULL,
            updated_at BIGINT NOT NULL
        )",
            "CREATE TABLE audit_log (
            seq {id},
            at BIGINT NOT NULL,
            subject TEXT NOT NULL,
            issuer TEXT NOT NULL,
            action TEXT NOT NULL,
            target TEXT NOT NULL,
            detail TEXT NOT NULL,
            client_ip TEXT
        )",
            "CREATE INDEX audit_log_at ON audit_log (at)",
        ],
    ),
    (
        4,
        &[
            "CREATE TABLE policies (
            version BIGINT PRIMARY KEY,
            text TEXT NOT NULL,
            published_by TEXT NOT NULL,
            published_at BIGINT NOT NULL
        )",
            "CREATE TABLE policy_acceptances (
            subject TEXT NOT NULL,
            issuer TEXT NOT NULL,
            version BIGINT NOT NULL REFERENCES policies (version),
            accepted_at BIGINT NOT NULL,
            PRIMARY KEY (subject, issuer, version)
        )",
        ],
    ),
    (
        5,
        &[
            "CREATE TABLE access_requests (
            id TEXT PRIMARY KEY,
            subject TEXT NOT NULL,
            issuer TEXT NOT NULL,
            email TEXT,
            kind TEXT NOT NULL,
            target TEXT NOT NULL,
            reason TEXT NOT NULL,
            status TEXT NOT NULL,
            decided_by TEXT,
            comment TEXT,
            created_at BIGINT NOT NULL,
            decided_at BIGINT
        )",
            "CREATE INDEX access_requests_by_target ON access_requests (kind, target, status)",
        ],
    ),
    (
        6,
        &[
            // Dashboard sessions; the cookie holds the id, the table its hash.
            "CREATE TABLE web_sessions (
            id_hash TEXT PRIMARY KEY,
            principal TEXT NOT NULL,
            active_group TEXT,
            csrf TEXT NOT NULL,
            refresh_token TEXT,
            created_at BIGINT NOT NULL,
            expires_at BIGINT NOT NULL
        )",
            "CREATE INDEX web_sessions_expiry ON web_sessions (expires_at)",
            // Logins in flight: the authorization request's state, PKCE
            // verifier and nonce until the issuer redirects back.
            "CREATE TABLE web_logins (
            state_hash TEXT PRIMARY KEY,
            issuer TEXT NOT NULL,
            verifier TEXT NOT NULL,
            nonce TEXT NOT NULL,
            return_to TEXT NOT NULL,
            created_at BIGINT NOT NULL
        )",
        ],
    ),
    (
        7,
        &[
            // Listings (newest first, filtered by owner, group and status,
            // and counted) and statistics read only these columns: they are
            // answered from this index, in its order, reading whole rows
            // (whose templates are large) only for the page shown.
            "CREATE INDEX deployments_listing ON deployments
                (created_at, id, owner_subject, owner_issuer, user_group, status, catalogue_id, updated_at)",
        ],
    ),
    (
        8,
        &[
            // What each group's live deployments hold where (quota use in
            // placement, the providers page), without reading whole rows.
            "CREATE INDEX deployments_holding ON deployments (user_group, provider, held)
                WHERE status <> 'DELETE_COMPLETE'",
            // Who deploys for each group (the groups page).
            "CREATE INDEX deployments_members ON deployments (user_group, owner_subject, status)",
        ],
    ),
    (
        9,
        &[
            // When an attempt was cleaned or deleted: the orphan scan
            // waits a grace period after it before reporting what the
            // provider still holds for it (`finished_at` is when it
            // stopped building).
            "ALTER TABLE attempts ADD COLUMN ended_at BIGINT",
            // The orphan scan looks up the attempts a provider's resources
            // are tagged with.
            "CREATE INDEX attempts_by_attempt_id ON attempts (attempt_id)",
        ],
    ),
    (
        10,
        &[
            // A deployment's secret inputs, sealed apart from its plain
            // parameters and inputs (see sealed.rs); NULL in rows written
            // before it.
            "ALTER TABLE deployments ADD COLUMN secrets TEXT",
        ],
    ),
    (
        11,
        &[
            // A login in flight is bound to the browser that started it: the
            // hash of a random value in that browser's cookie (logins from
            // before have none, and can no longer be completed).
            "ALTER TABLE web_logins ADD COLUMN browser_hash TEXT NOT NULL DEFAULT ''",
            // Who started it, so that one address cannot fill the table;
            // old ones are purged by age.
            "ALTER TABLE web_logins ADD COLUMN client_ip TEXT",
            "CREATE INDEX web_logins_by_client ON web_logins (client_ip, created_at)",
            "CREATE INDEX web_logins_by_age ON web_logins (created_at)",
        ],
    ),
    (
        12,
        &[
            // Every probe's result, one row per probe per round (see
            // probes.rs); a round written twice keeps its first rows.
            // Targets compare byte by byte on both backends, so that a
            // prefix (`endpoint/<deployment>/`) is a range of the key.
            "CREATE TABLE probe_results (
            target TEXT {bytewise} NOT NULL,
            probe TEXT {bytewise} NOT NULL,
            at BIGINT NOT NULL,
            ok BIGINT NOT NULL,
            latency_ms BIGINT NOT NULL,
            detail TEXT NOT NULL,
            PRIMARY KEY (target, probe, at)
        )",
            // Pruning and charts of every target read by time.
            "CREATE INDEX probe_results_by_at ON probe_results (at)",
            // The latest result per target and probe, upserted with each
            // round: what the status page and placement read.
            "CREATE TABLE probe_latest (
            target TEXT {bytewise} NOT NULL,
            probe TEXT {bytewise} NOT NULL,
            at BIGINT NOT NULL,
            ok BIGINT NOT NULL,
            latency_ms BIGINT NOT NULL,
            detail TEXT NOT NULL,
            PRIMARY KEY (target, probe)
        )",
            // A status-page component's changes of state, kept for its history.
            "CREATE TABLE component_states (
            component TEXT NOT NULL,
            at BIGINT NOT NULL,
            state TEXT NOT NULL,
            reason TEXT NOT NULL,
            PRIMARY KEY (component, at)
        )",
            // An operator's word on a component, shown over its probes.
            "CREATE TABLE component_overrides (
            component TEXT PRIMARY KEY,
            state TEXT NOT NULL,
            note TEXT NOT NULL,
            set_by TEXT NOT NULL,
            set_at BIGINT NOT NULL
        )",
        ],
    ),
    (
        13,
        &[
            // Incidents, newest first (the page's history, 10,000 of them
            // and more); open ones alone for the summary.
            "CREATE TABLE incidents (
            id TEXT PRIMARY KEY,
            title TEXT NOT NULL,
            impact TEXT NOT NULL,
            status TEXT NOT NULL,
            created_by TEXT NOT NULL,
            created_at BIGINT NOT NULL,
            updated_at BIGINT NOT NULL,
            resolved_at BIGINT
        )",
            "CREATE INDEX incidents_listing ON incidents (created_at, id)",
            "CREATE INDEX incidents_open ON incidents (created_at, id) WHERE resolved_at IS NULL",
            "CREATE TABLE incident_updates (
            seq {id},
            incident_id TEXT NOT NULL REFERENCES incidents (id) ON DELETE CASCADE,
            at BIGINT NOT NULL,
            status TEXT NOT NULL,
            body TEXT NOT NULL,
            author TEXT NOT NULL
        )",
            "CREATE INDEX incident_updates_by_incident ON incident_updates (incident_id, seq)",
            "CREATE TABLE incident_components (
            incident_id TEXT NOT NULL REFERENCES incidents (id) ON DELETE CASCADE,
            component TEXT NOT NULL,
            state TEXT NOT NULL,
            PRIMARY KEY (incident_id, component)
        )",
            // Status-page subscribers; tokens are stored as their hashes.
            "CREATE TABLE subscriptions (
            id {id},
            kind TEXT NOT NULL,
            address TEXT NOT NULL,
            components TEXT NOT NULL,
            secret TEXT,
            confirm_hash TEXT NOT NULL UNIQUE,
            confirmed_at BIGINT,
            unsubscribe_hash TEXT NOT NULL UNIQUE,
            created_at BIGINT NOT NULL
        )",
            "CREATE INDEX subscriptions_unconfirmed ON subscriptions (created_at) WHERE confirmed_at IS NULL",
            // The alert engine's state between rounds, one row: its alerts,
            // acknowledgements and silences live in it (see nuvola-monitor's
            // alerts module).
            "CREATE TABLE alert_engine_state (
            id BIGINT PRIMARY KEY,
            state TEXT NOT NULL,
            saved_at BIGINT NOT NULL
        )",
            "CREATE TABLE notifications_sent (
            seq {id},
            at BIGINT NOT NULL,
            channel TEXT NOT NULL,
            recipient TEXT NOT NULL,
            subject TEXT NOT NULL,
            about TEXT NOT NULL,
            outcome TEXT NOT NULL
        )",
            "CREATE INDEX notifications_sent_about ON notifications_sent (about, seq)",
            // Users' endpoints: whether the owner is told (watched and told
            // when there is no row), the latest check of each output, and
            // its ups and downs.
            "CREATE TABLE endpoint_watch (
            deployment_id TEXT PRIMARY KEY REFERENCES deployments (id) ON DELETE CASCADE,
            notify BIGINT NOT NULL
        )",
            "CREATE TABLE endpoint_checks (
            deployment_id TEXT NOT NULL REFERENCES deployments (id) ON DELETE CASCADE,
            output TEXT NOT NULL,
            url TEXT NOT NULL,
            up BIGINT NOT NULL,
            since BIGINT NOT NULL,
            last_at BIGINT NOT NULL,
            latency_ms BIGINT NOT NULL,
            detail TEXT NOT NULL,
            cert_expires_at BIGINT,
            PRIMARY KEY (deployment_id, output)
        )",
            "CREATE TABLE endpoint_events (
            seq {id},
            deployment_id TEXT NOT NULL REFERENCES deployments (id) ON DELETE CASCADE,
            output TEXT NOT NULL,
            at BIGINT NOT NULL,
            up BIGINT NOT NULL,
            detail TEXT NOT NULL
        )",
            "CREATE INDEX endpoint_events_by_deployment ON endpoint_events (deployment_id, seq)",
            // The periodic bulletins, kept as pages: one per period, the
            // first replica to write it sends it.
            "CREATE TABLE bulletins (
            id TEXT PRIMARY KEY,
            period_start BIGINT NOT NULL,
            period_end BIGINT NOT NULL,
            created_at BIGINT NOT NULL,
            body TEXT NOT NULL
        )",
            "CREATE INDEX bulletins_by_period ON bulletins (period_start)",
        ],
    ),
    (
        14,
        &[
            // Where the owner of a deployment is mailed when its endpoints
            // go down: the address their identity provider gave at creation.
            "ALTER TABLE deployments ADD COLUMN owner_email TEXT",
            // The endpoint prober reads the ready deployments each round.
            "CREATE INDEX deployments_status ON deployments (status)",
        ],
    ),
    (
        15,
        &[
            // The provider canary's runs: recorded before anything is
            // created, kept until the provider confirmed the VM gone. One
            // run per provider and slot of the schedule, whichever replica
            // claims it first.
            "CREATE TABLE canary_runs (
            id TEXT PRIMARY KEY,
            provider TEXT NOT NULL,
            slot BIGINT NOT NULL,
            flavor TEXT NOT NULL,
            image TEXT NOT NULL,
            started_at BIGINT NOT NULL,
            lease_until BIGINT NOT NULL,
            create_ms BIGINT,
            ready_ms BIGINT,
            delete_ms BIGINT,
            finished_at BIGINT,
            ok BIGINT,
            failed_phase TEXT,
            error TEXT,
            cause TEXT,
            gone BIGINT NOT NULL,
            cleanup_error TEXT,
            UNIQUE (provider, slot)
        )",
            "CREATE INDEX canary_runs_by_start ON canary_runs (started_at)",
            "CREATE INDEX canary_runs_not_gone ON canary_runs (gone, lease_until)",
        ],
    ),
    (
        16,
        &[
            // Accounting (see accounting.rs). Cloud usage as APEL's VMs
            // table keeps it: the last loaded record per VM and month, with
            // who sent it and when. `month_key` is year × 12 + month − 1 (−1
            // for APEL's zero date); decimals are stored in thousandths;
            // `digest` tells a re-sent record from a changed one.
            "CREATE TABLE accounting_vm_months (
            vm_uuid TEXT {bytewise} NOT NULL,
            month_key BIGINT NOT NULL,
            year BIGINT NOT NULL,
            month BIGINT NOT NULL,
            measured_at BIGINT,
            record_create_time BIGINT,
            site_name TEXT NOT NULL,
            cloud_compute_service TEXT,
            machine_name TEXT,
            local_user_id TEXT,
            local_group_id TEXT,
            global_user_name TEXT,
            fqan TEXT,
            vo TEXT,
            vo_group TEXT,
            vo_role TEXT,
            status TEXT,
            start_time BIGINT,
            end_time BIGINT,
            suspend_duration BIGINT,
            wall_duration BIGINT,
            cpu_duration BIGINT,
            cpu_count BIGINT NOT NULL,
            network_type TEXT,
            network_inbound BIGINT,
            network_outbound BIGINT,
            public_ip_count BIGINT,
            memory BIGINT,
            disk BIGINT,
            benchmark_type TEXT,
            benchmark BIGINT NOT NULL,
            storage_record_id TEXT,
            image_id TEXT,
            cloud_type TEXT,
            digest BIGINT NOT NULL,
            source TEXT NOT NULL,
            loaded_at BIGINT NOT NULL,
            revision BIGINT NOT NULL,
            PRIMARY KEY (vm_uuid, month_key)
        )",
            "CREATE INDEX accounting_vm_months_by_month ON accounting_vm_months (month_key, site_name)",
            // SummariseVMs' monthly summaries, with RAM·hours.
            "CREATE TABLE accounting_cloud_summaries (
            month_key BIGINT NOT NULL,
            year BIGINT NOT NULL,
            month BIGINT NOT NULL,
            site_name TEXT NOT NULL,
            cloud_compute_service TEXT,
            global_user_name TEXT,
            vo TEXT,
            vo_group TEXT,
            vo_role TEXT,
            status TEXT,
            cloud_type TEXT,
            image_id TEXT,
            earliest_start_time BIGINT,
            latest_start_time BIGINT,
            wall_duration BIGINT,
            cpu_duration BIGINT,
            cpu_count BIGINT,
            network_inbound BIGINT,
            network_outbound BIGINT,
            memory BIGINT,
            disk BIGINT,
            benchmark_type TEXT,
            benchmark BIGINT,
            number_of_vms BIGINT NOT NULL,
            ram_mb_hours DOUBLE PRECISION NOT NULL
        )",
            "CREATE INDEX accounting_cloud_summaries_by_month ON accounting_cloud_summaries (month_key, site_name)",
            "CREATE INDEX accounting_cloud_summaries_by_vo ON accounting_cloud_summaries (vo, month_key)",
            "CREATE INDEX accounting_cloud_summaries_by_user ON accounting_cloud_summaries (global_user_name, month_key)",
            // Accelerator records, keyed as APEL's AcceleratorRecords (a
            // missing model is '').
            "CREATE TABLE accounting_accelerators (
            year BIGINT NOT NULL,
            month BIGINT NOT NULL,
            month_key BIGINT NOT NULL,
            associated_record_type TEXT NOT NULL,
            associated_record TEXT NOT NULL,
            site_name TEXT NOT NULL,
            model TEXT NOT NULL,
            global_user_name TEXT,
            fqan TEXT NOT NULL,
            vo TEXT,
            count BIGINT NOT NULL,
            cores BIGINT,
            active_duration BIGINT,
            available_duration BIGINT NOT NULL,
            benchmark_type TEXT,
            benchmark BIGINT,
            accelerator_type TEXT NOT NULL,
            cloud_type TEXT,
            cloud_compute_service TEXT,
            digest BIGINT NOT NULL,
            source TEXT NOT NULL,
            loaded_at BIGINT NOT NULL,
            revision BIGINT NOT NULL,
            PRIMARY KEY (year, month, associated_record_type, associated_record, site_name, model)
        )",
            "CREATE INDEX accounting_accelerators_by_month ON accounting_accelerators (month_key, site_name)",
            // Public IP counts, one per project, IP version and measurement
            // (a missing text of the key is '').
            "CREATE TABLE accounting_public_ips (
            measurement_time BIGINT NOT NULL,
            month_key BIGINT NOT NULL,
            site_name TEXT NOT NULL,
            cloud_compute_service TEXT NOT NULL,
            cloud_type TEXT NOT NULL,
            local_user TEXT NOT NULL,
            local_group TEXT NOT NULL,
            global_user_name TEXT NOT NULL,
            fqan TEXT NOT NULL,
            vo TEXT,
            ip_version BIGINT NOT NULL,
            ip_count BIGINT NOT NULL,
            uuid TEXT,
            digest BIGINT NOT NULL,
            source TEXT NOT NULL,
            loaded_at BIGINT NOT NULL,
            revision BIGINT NOT NULL,
            PRIMARY KEY (site_name, cloud_compute_service, local_group, local_user, global_user_name, fqan,
                         ip_version, measurement_time)
        )",
            "CREATE INDEX accounting_public_ips_by_month ON accounting_public_ips (month_key, site_name)",
            // StAR storage records by their identifier; capacities exact as
            // text, and in GB for sums. The month is the end time's.
            "CREATE TABLE accounting_storage (
            record_id TEXT PRIMARY KEY,
            month_key BIGINT NOT NULL,
            create_time BIGINT NOT NULL,
            storage_system TEXT NOT NULL,
            site TEXT,
            storage_share TEXT,
            storage_media TEXT,
            storage_class TEXT,
            file_count BIGINT,
            directory_path TEXT,
            local_user TEXT,
            local_group TEXT,
            user_identity TEXT,
            vo TEXT,
            sub_group TEXT,
            role TEXT,
            start_time BIGINT NOT NULL,
            end_time BIGINT NOT NULL,
            resource_capacity_used TEXT NOT NULL,
            logical_capacity_used TEXT,
            resource_capacity_allocated TEXT,
            group_attributes TEXT NOT NULL,
            used_gb DOUBLE PRECISION NOT NULL,
            digest BIGINT NOT NULL,
            source TEXT NOT NULL,
            loaded_at BIGINT NOT NULL,
            revision BIGINT NOT NULL
        )",
            "CREATE INDEX accounting_storage_by_month ON accounting_storage (month_key, site)",
            // One row that every accounting load updates first, so that
            // loads (and their summary recomputes) follow one another.
            "CREATE TABLE accounting_loads (id BIGINT PRIMARY KEY, loads BIGINT NOT NULL)",
            "INSERT INTO accounting_loads (id, loads) VALUES (1, 0)",
        ],
    ),
    (
        17,
        &[
            // nuvola's own public IP records now name their user, one per
            // provider, group, user and day: those it made per group, with
            // no user, would count twice beside them. Its next pass of own
            // usage (the first of a process gathers every month) makes them
            // again, per user.
            "DELETE FROM accounting_public_ips WHERE source = 'nuvola' AND global_user_name = ''",
        ],
    ),
    (
        18,
        &[
            // The cloud summaries added up per month, group, site and user
            // (over what the views do not tell apart: image, status, role,
            // benchmark...), kept with them, so that a page reads a few
            // narrow rows in key order instead of every summary. A missing
            // group or user is ''.
            "CREATE TABLE accounting_usage_months (
            month_key BIGINT NOT NULL,
            vo TEXT {bytewise} NOT NULL,
            site_name TEXT {bytewise} NOT NULL,
            global_user_name TEXT {bytewise} NOT NULL,
            cpu_duration BIGINT NOT NULL,
            wall_duration BIGINT NOT NULL,
            ram_mb_hours DOUBLE PRECISION NOT NULL,
            disk BIGINT NOT NULL,
            number_of_vms BIGINT NOT NULL,
            PRIMARY KEY (month_key, vo, site_name, global_user_name)
        ){without_rowid}",
            "INSERT INTO accounting_usage_months
             SELECT month_key, COALESCE(vo, ''), site_name, COALESCE(global_user_name, ''),
                    COALESCE(SUM(cpu_duration), 0), COALESCE(SUM(wall_duration), 0), SUM(ram_mb_hours),
                    COALESCE(SUM(disk), 0), SUM(number_of_vms)
             FROM accounting_cloud_summaries
             GROUP BY month_key, COALESCE(vo, ''), site_name, COALESCE(global_user_name, '')",
        ],
    ),
];

pub(crate) async fn migrate(store: &Store) -> Result<()> {
    let pool = &store.pool;
    pool.execute(
        "CREATE TABLE IF NOT EXISTS nuvola_migrations (version BIGINT PRIMARY KEY, applied_at BIGINT NOT NULL)",
    )
    .await?;
    let id = match store.backend {
        Backend::Sqlite => "INTEGER PRIMARY KEY AUTOINCREMENT",
        Backend::Postgres => "BIGSERIAL PRIMARY KEY",
    };
    let bytewise = match store.backend {
        Backend::Sqlite => "",
        Backend::Postgres => "COLLATE \"C\"",
    };
    // A table kept in its primary key's order, its rows in the key's
    // b-tree (PostgreSQL keeps every table in a heap beside its indexes).
    let without_rowid = match store.backend {
        Backend::Sqlite => " WITHOUT ROWID",
        Backend::Postgres => "",
    };
    for (version, statements) in MIGRATIONS {
        let mut tx = pool.begin().await?;
        // The insert comes first so that concurrent migrators serialise on
        // it: the loser fails on the primary key and finds the work done.
        let claimed =
            sqlx::query("INSERT INTO nuvola_migrations (version, applied_at) VALUES ($1, $2) ON CONFLICT DO NOTHING")
                .bind(*version)
                .bind(nuvola_types::now_ms())
                .execute(&mut *tx)
                .await?
                .rows_affected();
        if claimed == 0 {
            tx.rollback().await?;
            continue;
        }
        for statement in *statements {
            let statement = statement.replace("{id}", id).replace("{bytewise}", bytewise);
            tx.execute(statement.replace("{without_rowid}", without_rowid).as_str()).await?;
        }
        tx.commit().await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use nuvola_accounting::public_ip::PublicIpRecord;

    use crate::{Store, StoreOptions, UsageFilter};

    fn ips(user: Option<&str>, count: i64) -> PublicIpRecord {
        PublicIpRecord {
            measurement_time: 1_772_323_200,
            site_name: "recas-bari".into(),
            cloud_compute_service: None,
            cloud_type: "nuvola".into(),
            local_user: None,
            local_group: "physics".into(),
            global_user_name: user.map(str::to_owned),
            fqan: "/physics/Role=NULL/Capability=NULL".into(),
            ip_version: 4,
            ip_count: count,
            uuid: None,
        }
    }

    #[tokio::test]
    async fn nuvola_s_own_public_ips_of_no_user_are_forgotten_once() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("nuvola.sqlite").display());
        let store = Store::open(StoreOptions::new(url)).await.unwrap();
        // As a store before migration 17 held them: nuvola's per group, and
        // a site's record of no user, which stays.
        for (source, record) in
            [("nuvola", ips(None, 3)), ("nuvola", ips(Some("alice@nuvola"), 2)), ("site", ips(None, 1))]
        {
            let mut load = store.begin_accounting_load(source, 1).await.unwrap();
            let mut record = record;
            record.cloud_compute_service = Some(source.into());
            load.public_ips(&[record]).await.unwrap();
            load.commit().await.unwrap();
        }
        sqlx::query("DELETE FROM nuvola_migrations WHERE version = 17").execute(&store.pool).await.unwrap();
        super::migrate(&store).await.unwrap();
        let left = store.accounting_public_ips_of(&UsageFilter::default(), 2026, 3).await.unwrap();
        let left: Vec<_> = left.iter().map(|r| (r.global_user_name.as_deref(), r.ip_count)).collect();
        assert_eq!(left, [(None, 1), (Some("alice@nuvola"), 2)]);
    }
}
