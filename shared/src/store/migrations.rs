//! The embedded migrations of both backends: forward-only, same numbering, one SQL file each in
//! `migrations/sqlite/` and `migrations/postgres/`.
//!
//! We build sqlx's `Migrator` ourselves from `include_str!` rather than with `sqlx::migrate!`,
//! which would pull in sqlx's proc-macro crate and compile both database drivers a second time.

use std::borrow::Cow;

use sqlx::migrate::{Migration, MigrationType, Migrator};

macro_rules! migrations {
    ($dir:literal: $(($version:literal, $desc:literal, $file:literal)),* $(,)?) => {
        vec![$(Migration::new(
            $version,
            Cow::Borrowed($desc),
            MigrationType::Simple,
            Cow::Borrowed(include_str!(concat!("../../../migrations/", $dir, "/", $file))),
            false,
        )),*]
    };
}

fn migrator(migrations: Vec<Migration>) -> Migrator {
    // `ignore_missing`: a database a newer release migrated further is fine for this one (a
    // rolling upgrade, or a rollback of the binary): see docs/UPGRADES.md.
    Migrator { migrations: Cow::Owned(migrations), ignore_missing: true, locking: true, no_tx: false }
}

pub(super) fn sqlite() -> Migrator {
    migrator(migrations!("sqlite":
        (1, "foundation", "0001_foundation.sql"),
        (2, "scim", "0002_scim.sql"),
        (3, "user groups", "0003_user_groups.sql"),
        (4, "mappings", "0004_mappings.sql"),
        (5, "support", "0005_support.sql"),
        (6, "placement indexes", "0006_placement_indexes.sql"),
        (7, "scrub passwords", "0007_scrub_passwords.sql"),
        (8, "sign-up throttle", "0008_sign_up_throttle.sql"),
        (9, "credential replaced by", "0009_credential_replaced_by.sql"),
        (10, "mapping run changed", "0010_mapping_run_changed.sql"),
        (11, "sso", "0011_sso.sql"),
        (12, "domains", "0012_domains.sql"),
        (13, "invitations", "0013_invitations.sql"),
        (14, "jit", "0014_jit.sql"),
        (15, "operations", "0015_operations.sql"),
        (16, "activity at", "0016_activity_at.sql"),
        (17, "email", "0017_email.sql"),
        (18, "safety", "0018_safety.sql"),
        (19, "adopt key", "0019_adopt_key.sql"),
        (20, "events", "0020_events.sql"),
        (21, "unnumbered events", "0021_pending_events.sql"),
        (22, "search index", "0022_search_index.sql"),
        (23, "search index built", "0023_search_index_built.sql"),
        (24, "search b-tree dropped", "0024_search_btree_dropped.sql"),
        (25, "user counts", "0025_user_counts.sql"),
        (26, "sparse filters", "0026_sparse_filters.sql"),
        (27, "sparse filters built", "0027_sparse_filters_built.sql"),
        (28, "unassigned", "0028_unassigned.sql"),
        (29, "membership counts", "0029_membership_counts.sql"),
        (30, "one held change per user", "0030_one_held_change_per_user.sql"),
        (31, "one held change per user index", "0031_one_held_change_per_user_index.sql"),
        (32, "search index at commit", "0032_search_index_at_commit.sql"),
        (33, "update order", "0033_update_order.sql"),
        (34, "update order index dropped", "0034_update_order_index_dropped.sql"),
        (35, "held change asked again", "0035_held_change_asked_again.sql"),
        (36, "scim traffic", "0036_scim_traffic.sql"),
        (37, "activity failures", "0037_activity_failures.sql"),
        (38, "activity by resource", "0038_activity_by_resource.sql"),
        (39, "search index filed in bulk", "0039_search_index_filed_in_bulk.sql"),
        (40, "placing read by writes", "0040_placing_read_by_writes.sql"),
    ))
}

/// PostgreSQL migrations that run outside a transaction (`CREATE INDEX CONCURRENTLY`: writes go
/// on while the index builds). Each is a single statement.
const POSTGRES_NO_TX: [i64; 9] = [16, 19, 23, 24, 26, 27, 31, 34, 37];

pub(super) fn postgres() -> Migrator {
    let mut all = postgres_migrations();
    for m in &mut all {
        m.no_tx = POSTGRES_NO_TX.contains(&m.version);
    }
    migrator(all)
}

fn postgres_migrations() -> Vec<Migration> {
    migrations!("postgres":
        (1, "foundation", "0001_foundation.sql"),
        (2, "scim", "0002_scim.sql"),
        (3, "user groups", "0003_user_groups.sql"),
        (4, "mappings", "0004_mappings.sql"),
        (5, "support", "0005_support.sql"),
        (6, "placement indexes", "0006_placement_indexes.sql"),
        (7, "scrub passwords", "0007_scrub_passwords.sql"),
        (8, "sign-up throttle", "0008_sign_up_throttle.sql"),
        (9, "credential replaced by", "0009_credential_replaced_by.sql"),
        (10, "mapping run changed", "0010_mapping_run_changed.sql"),
        (11, "sso", "0011_sso.sql"),
        (12, "domains", "0012_domains.sql"),
        (13, "invitations", "0013_invitations.sql"),
        (14, "jit", "0014_jit.sql"),
        (15, "operations", "0015_operations.sql"),
        (16, "activity at", "0016_activity_at.sql"),
        (17, "email", "0017_email.sql"),
        (18, "safety", "0018_safety.sql"),
        (19, "adopt key", "0019_adopt_key.sql"),
        (20, "events", "0020_events.sql"),
        (21, "unnumbered events", "0021_pending_events.sql"),
        (22, "search index", "0022_search_index.sql"),
        (23, "search index built", "0023_search_index_built.sql"),
        (24, "search b-tree dropped", "0024_search_btree_dropped.sql"),
        (25, "user counts", "0025_user_counts.sql"),
        (26, "sparse filters", "0026_sparse_filters.sql"),
        (27, "sparse filters built", "0027_sparse_filters_built.sql"),
        (28, "unassigned", "0028_unassigned.sql"),
        (29, "membership counts", "0029_membership_counts.sql"),
        (30, "one held change per user", "0030_one_held_change_per_user.sql"),
        (31, "one held change per user index", "0031_one_held_change_per_user_index.sql"),
        (32, "search index at commit", "0032_search_index_at_commit.sql"),
        (33, "update order", "0033_update_order.sql"),
        (34, "update order index dropped", "0034_update_order_index_dropped.sql"),
        (35, "held change asked again", "0035_held_change_asked_again.sql"),
        (36, "scim traffic", "0036_scim_traffic.sql"),
        (37, "activity failures", "0037_activity_failures.sql"),
        (38, "activity by resource", "0038_activity_by_resource.sql"),
        (39, "search index filed in bulk", "0039_search_index_filed_in_bulk.sql"),
        (40, "placing read by writes", "0040_placing_read_by_writes.sql"),
    )
}

#[cfg(test)]
mod tests {
    #[test]
    fn both_backends_have_the_same_migration_numbers() {
        let a: Vec<_> = super::sqlite().iter().map(|m| (m.version, m.description.to_string())).collect();
        let b: Vec<_> = super::postgres().iter().map(|m| (m.version, m.description.to_string())).collect();
        assert_eq!(a, b);
    }
}
