//! Mapping rules, the service: admins manage the rules; every change that can move a user
//! re-places the users it touches. Evaluation itself is the pure [`crate::rules`].
//!
//! - A user write (SCIM, manual, and next JIT; see [`super::users`]) and a SCIM group write
//!   place the users they touch inside their own transaction, after their statements: they
//!   load the tenant's [`Placer`] first (`None`: nothing to place, the write stays one
//!   statement), open the transaction, take the tenant's placement lock
//!   ([`crate::store::TenantTx::lock_placement`]), write, then [`Placer::place`] reads the
//!   users as written, their IdP groups and rule memberships there and writes the difference.
//! - A rule or default-group change re-places the whole tenant in the background
//!   ([`start_place_all`]), in steps over the users in id order, each read (as ranges of ids)
//!   and placed in one transaction under the same lock, with its activity records and the
//!   run's progress. On SQLite a step reads [`BATCH`] users and places each; on PostgreSQL,
//!   where every rule is an attribute rule, the database looks at [`SPAN`] users a step and
//!   sends only those whose memberships are not what the rules give ([`Walk`]).
//!
//! Memberships made by admins are never touched: only rows with reason `rule` or `default`
//! are added or removed.

use super::events::{emit_access_changes, Access};
use std::collections::{BTreeMap, HashMap};

use serde_json::Value;

use crate::clock::now_ms;
use crate::dto::RulePreview;
use crate::error::{DomainError, DomainResult};
use crate::ids::TenantId;
use crate::rules::{self, Condition, Reason, Rule, RuleDef};
use crate::service::activity::{self, Actor};
use crate::store::{Backend, RuleMembership, RuleRecord, Store, TenantTx};

/// Users evaluated per batch.
const BATCH: usize = 1000;

/// How a run that a newer one replaced ends.
pub(crate) const SUPERSEDED: &str = "stopped: a newer evaluation started after a later change";

/// How far before its start a whole-tenant evaluation looks for writes that raced it: a write
/// takes its time before it commits (waiting for a connection or the SQLite lock), and the
/// clocks of several instances differ a little.
const CATCH_UP_MARGIN_MS: i64 = 30_000;

fn def(r: &RuleRecord) -> RuleDef {
    let condition = match (&r.idp_group_id, &r.filter) {
        (Some(g), _) => Condition::IdpGroup { group_id: g.clone() },
        (None, Some(f)) => Condition::Attribute { filter: f.clone() },
        (None, None) => Condition::Attribute { filter: String::new() },
    };
    RuleDef { id: r.id.clone(), condition, user_group_id: r.user_group_id.clone(), enabled: r.enabled }
}

/// The tenant's rules, in order.
pub async fn list(store: &Store, tenant: &TenantId) -> DomainResult<Vec<RuleDef>> {
    Ok(store.tenant(tenant).mapping_rules().await?.iter().map(def).collect())
}

async fn checked(store: &Store, tenant: &TenantId, d: &RuleDef) -> DomainResult<RuleRecord> {
    let t = store.tenant(tenant);
    if t.user_group(&d.user_group_id).await?.is_none() {
        return Err(DomainError::Invalid("Choose a user group that exists.".into()));
    }
    let (kind, idp_group_id, filter) = match &d.condition {
        Condition::IdpGroup { group_id } => {
            if t.group(group_id).await?.is_none() {
                return Err(DomainError::Invalid("Choose a group your identity provider pushed.".into()));
            }
            ("idp_group", Some(group_id.clone()), None)
        }
        Condition::Attribute { filter } => {
            let filter = friendly(filter)?;
            rules::check_filter(&filter).map_err(|e| DomainError::Invalid(format!("The condition: {}", e.detail)))?;
            ("attribute", None, Some(filter))
        }
    };
    Ok(RuleRecord {
        id: d.id.clone(),
        position: 0,
        kind: kind.to_string(),
        idp_group_id,
        filter,
        user_group_id: d.user_group_id.clone(),
        enabled: d.enabled,
    })
}

/// How many users [`attribute_suggestions`] looks at, at most.
const SUGGESTION_SAMPLE: usize = 2000;

/// The attributes rule conditions are usually written on, as the tenant's users have them: for
/// each, how many users have it and its most common values (for the rule form's picker). Looks
/// at a sample of users, so that it stays quick for any tenant.
pub async fn attribute_suggestions(
    store: &Store,
    tenant: &TenantId,
) -> DomainResult<Vec<crate::dto::AttributeSuggestion>> {
    use crate::scim::schema::ENTERPRISE_USER_URN;
    // (name in conditions, label, where in the resource)
    const ATTRIBUTES: [(&str, &str, &str, &str); 12] = [
        ("department", "Department", "ext", "department"),
        ("division", "Division", "ext", "division"),
        ("organization", "Organization", "ext", "organization"),
        ("costCenter", "Cost center", "ext", "costCenter"),
        ("title", "Job title", "core", "title"),
        ("userType", "User type", "core", "userType"),
        ("country", "Country", "address", "country"),
        ("locality", "City", "address", "locality"),
        ("region", "Region", "address", "region"),
        ("preferredLanguage", "Preferred language", "core", "preferredLanguage"),
        ("locale", "Locale", "core", "locale"),
        ("timezone", "Time zone", "core", "timezone"),
    ];
    let mut counts: Vec<(i64, HashMap<String, i64>)> = vec![(0, HashMap::new()); ATTRIBUTES.len()];
    let mut after = String::new();
    let mut seen = 0;
    while seen < SUGGESTION_SAMPLE {
        let Some(batch) = load_range(store, tenant, None, &mut after).await? else { break };
        seen += batch.users.len();
        for (_, _, r) in batch.users {
            for (i, (_, _, place, key)) in ATTRIBUTES.iter().enumerate() {
                let values: Vec<&str> = match *place {
                    "ext" => r
                        .get(ENTERPRISE_USER_URN)
                        .and_then(|e| e.get(key))
                        .and_then(Value::as_str)
                        .into_iter()
                        .collect(),
                    "address" => r
                        .get("addresses")
                        .and_then(Value::as_array)
                        .map(|a| a.iter().filter_map(|x| x.get(key).and_then(Value::as_str)).collect())
                        .unwrap_or_default(),
                    _ => r.get(key).and_then(Value::as_str).into_iter().collect(),
                };
                let values: Vec<&str> = values.into_iter().map(str::trim).filter(|v| !v.is_empty()).collect();
                if !values.is_empty() {
                    counts[i].0 += 1;
                    for v in values {
                        *counts[i].1.entry(v.to_string()).or_default() += 1;
                    }
                }
            }
        }
    }
    Ok(ATTRIBUTES
        .iter()
        .zip(counts)
        .filter(|(_, (users, _))| *users > 0)
        .map(|((name, label, _, _), (users, values))| {
            let mut values: Vec<(String, i64)> = values.into_iter().collect();
            values.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
            crate::dto::AttributeSuggestion {
                name: (*name).to_string(),
                label: (*label).to_string(),
                users,
                values: values.into_iter().take(8).map(|(v, _)| v).collect(),
            }
        })
        .collect())
}

/// A condition with the names admins use (`department`, `country`, …) resolved to SCIM paths.
fn friendly(filter: &str) -> DomainResult<String> {
    rules::resolve_friendly_names(filter).map_err(|e| DomainError::Invalid(format!("The condition: {}", e.detail)))
}

/// "users in IdP group “…” → user group" for the activity log.
async fn describe(store: &Store, tenant: &TenantId, d: &RuleDef) -> String {
    let idp = store.tenant(tenant).idp_group_names().await.unwrap_or_default();
    format!("users {} → user group {}", d.condition.describe(&idp), d.user_group_id)
}

/// Adds a rule at the end and starts placing the tenant's users; returns the rule's id.
pub async fn create(store: &Store, tenant: &TenantId, actor: &Actor, d: &RuleDef) -> DomainResult<String> {
    let mut d = d.clone();
    d.id = uuid::Uuid::new_v4().to_string();
    let record = checked(store, tenant, &d).await?;
    let summary = format!("created mapping rule: {}", describe(store, tenant, &d).await);
    let now = now_ms();
    let mut tx = store.tenant(tenant).begin().await?;
    // It may be the tenant's first: writes that place nothing hold the lock shared until they
    // commit (see `place_late`).
    tx.lock_placement().await?;
    tx.insert_mapping_rule(&record, now).await?;
    tx.record_activity(&[activity::action(actor, "MappingRule", Some(&d.id), &summary, now)]).await?;
    tx.commit().await?;
    start_place_all(store, tenant, "rule created").await?;
    Ok(d.id)
}

/// Changes a rule (condition, target, on/off) and starts re-placing the tenant's users.
pub async fn update(store: &Store, tenant: &TenantId, actor: &Actor, d: &RuleDef) -> DomainResult<()> {
    let record = checked(store, tenant, d).await?;
    let summary = format!("changed mapping rule: {}", describe(store, tenant, d).await);
    let now = now_ms();
    let mut tx = store.tenant(tenant).begin().await?;
    if !tx.update_mapping_rule(&record, now).await? {
        return Err(DomainError::NotFound);
    }
    tx.record_activity(&[activity::action(actor, "MappingRule", Some(&d.id), &summary, now)]).await?;
    tx.commit().await?;
    start_place_all(store, tenant, "rule changed").await?;
    Ok(())
}

/// Deletes a rule (its memberships go with it) and starts re-placing the tenant's users.
pub async fn delete(store: &Store, tenant: &TenantId, actor: &Actor, id: &str) -> DomainResult<()> {
    let now = now_ms();
    let mut tx = store.tenant(tenant).begin().await?;
    // Its memberships go now: under the lock, so that no placement running meanwhile reads them.
    tx.lock_placement().await?;
    if !tx.delete_mapping_rule(id).await? {
        return Err(DomainError::NotFound);
    }
    tx.record_activity(&[activity::action(actor, "MappingRule", Some(id), "deleted mapping rule", now)]).await?;
    tx.commit().await?;
    start_place_all(store, tenant, "rule deleted").await?;
    Ok(())
}

/// Puts the rules in this order (the order decides nothing about placement today; it is how
/// admins read the list).
pub async fn reorder(store: &Store, tenant: &TenantId, actor: &Actor, ids: &[String]) -> DomainResult<()> {
    let now = now_ms();
    let mut tx = store.tenant(tenant).begin().await?;
    tx.reorder_mapping_rules(ids, now).await?;
    tx.record_activity(&[activity::action(actor, "MappingRule", None, "reordered mapping rules", now)]).await?;
    tx.commit().await
}

/// The IdP (SCIM) groups rules can name: (id, displayName).
pub async fn idp_groups(store: &Store, tenant: &TenantId) -> DomainResult<Vec<(String, String)>> {
    store.tenant(tenant).idp_group_names().await
}

/// Re-places every user of the tenant, a batch at a time; returns how many were evaluated.
pub async fn place_all(store: &Store, tenant: &TenantId) -> DomainResult<usize> {
    let (n, outcome) = place_all_reporting(store, tenant, None, Checkpoint::default()).await;
    outcome.map(|_| n.done as usize)
}

/// How a whole-tenant run finds the users to place.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Walk {
    /// As the backend does best: on PostgreSQL the database finds the users the rules would
    /// move ([`Walk::Checked`], where every rule is an attribute rule); on SQLite every user
    /// is read ([`Walk::EveryUser`]).
    Auto,
    /// Every user's conditions and memberships are read and compared here, [`BATCH`] at a time.
    EveryUser,
    /// The database looks at `span` users a step and sends those out of place, `most` at a
    /// time (see [`crate::store::TenantTx::users_to_place_after`]); every user when a rule
    /// looks at IdP groups or a condition cannot be compiled.
    Checked {
        /// Users looked at per step.
        span: i64,
        /// Users placed per step, at most.
        most: usize,
    },
}

/// Users a run's step looks at in the database ([`Walk::Checked`]), under the tenant's
/// placement lock (SCIM writes of the tenant wait meanwhile): at a million users on
/// PostgreSQL a step of 10,000 took 61–70 ms (125 ms with the table partly out of the cache),
/// and a run with none out of place 7.0 s.
const SPAN: i64 = 10_000;

/// What [`place_all_walking`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Walked {
    /// Users evaluated.
    pub evaluated: usize,
    /// Users the walk handed to the placer (every user, or those found out of place).
    pub placed: usize,
    /// Users whose user groups changed.
    pub changed: usize,
}

/// [`place_all`] walking as `walk` says (and no catch-up of users written meanwhile). For tests
/// comparing the ways of walking; a run's job walks [`Walk::Auto`].
pub async fn place_all_walking(store: &Store, tenant: &TenantId, walk: Walk) -> DomainResult<Walked> {
    let (n, placed, outcome) = place_all_as(store, tenant, None, Checkpoint::default(), walk, false).await;
    outcome.map(|_| Walked { evaluated: n.done as usize, placed, changed: n.changed as usize })
}

/// Where a whole-tenant run got to: the last user id placed (users go in id order), users
/// evaluated, and how many of them changed user groups. A run's job stores it after every
/// batch, and a run resumed after a crash starts from it.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub(crate) struct Checkpoint {
    pub after: String,
    pub done: i64,
    pub changed: i64,
}

/// How a whole-tenant run ended.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum RunEnd {
    /// Every user was evaluated.
    Done,
    /// A newer run started (after a newer rule change) and takes over.
    Superseded,
    /// Its job's lease was lost (another instance took the job over) or the instance is
    /// stopping: it stopped between batches, and the job resumes from its checkpoint.
    Interrupted,
}

/// The users evaluated, and how the run ended. A run (`job`: the job of a mapping run, whose id
/// is the run's) stops before its next batch once a newer run of the tenant has started, on
/// this instance or another: the newer one has the newer rules, and two runs would only race
/// each other.
async fn place_all_reporting(
    store: &Store,
    tenant: &TenantId,
    job: Option<(&super::jobs::Lease, i64)>,
    from: Checkpoint,
) -> (Checkpoint, DomainResult<RunEnd>) {
    let (n, _, outcome) = place_all_as(store, tenant, job, from, Walk::Auto, true).await;
    (n, outcome)
}

/// [`place_all_reporting`] walking as `walk` says, and then (`catch_up`) placing the users
/// written meanwhile; also returns how many users the walk handed to the placer.
async fn place_all_as(
    store: &Store,
    tenant: &TenantId,
    job: Option<(&super::jobs::Lease, i64)>,
    from: Checkpoint,
    walk: Walk,
    catch_up: bool,
) -> (Checkpoint, usize, DomainResult<RunEnd>) {
    let t = store.tenant(tenant);
    let mut n = from;
    let mut placed_by_walk = 0;
    let outcome = async {
        let started = job.map_or_else(now_ms, |(_, started)| started);
        let placer = Placer::load(store, tenant).await?.for_run(store, walk);
        let walk = std::time::Instant::now();
        loop {
            // On SQLite a batch runs in place on the writer connection and may never wait (see
            // `store::writer`): without this, a walk held its runtime thread from start to end,
            // other tasks queued behind it, and an aborted job ran on to the end of its walk.
            tokio::task::yield_now().await;
            let lease = job.map(|(lease, _)| lease);
            let step = place_batch(store, tenant, &placer, Users::After(&n), lease).await?;
            match step {
                Step::Placed(placed) if placed.users == 0 => break,
                Step::Placed(placed) => {
                    placed_by_walk += placed.placed;
                    n = placed.next
                }
                Step::Superseded => return Ok(RunEnd::Superseded),
                Step::Interrupted => return Ok(RunEnd::Interrupted),
            }
        }
        if !catch_up {
            return Ok(RunEnd::Done);
        }
        // Writes that began before the change was seen (the tenant had nothing to place, so
        // they took no lock) may have landed after their users' batch: those users again.
        let since = started - CATCH_UP_MARGIN_MS;
        let (walked, catch_up) = (walk.elapsed(), std::time::Instant::now());
        let mut caught_up = 0;
        let mut after = (0, String::new());
        loop {
            tokio::task::yield_now().await;
            let written = t.users_written_since(since, &after, BATCH as i64).await?;
            let Some(last) = written.last() else { break };
            after = last.clone();
            let ids: Vec<String> = written.into_iter().map(|(_, id)| id).collect();
            caught_up += ids.len();
            n.changed += place_listed(store, tenant, &placer, &ids, job.map(|(l, _)| l)).await? as i64;
        }
        for ids in t.users_added_to_groups_since(since).await?.chunks(BATCH) {
            tokio::task::yield_now().await;
            caught_up += ids.len();
            n.changed += place_listed(store, tenant, &placer, ids, job.map(|(l, _)| l)).await? as i64;
        }
        tracing::info!(
            %tenant,
            walked = n.done,
            placed = placed_by_walk,
            walk_ms = walked.as_millis() as u64,
            caught_up,
            catch_up_ms = catch_up.elapsed().as_millis() as u64,
            "whole-tenant placement done"
        );
        Ok(RunEnd::Done)
    }
    .await;
    (n, placed_by_walk, outcome)
}

/// Starts re-placing every user of the tenant in the background (after a rule or default-group
/// change) and returns at once; progress is in [`latest_run`]. The run is a durable job
/// ([`super::jobs`]): saved with the run's record, it is carried out by whichever instance
/// claims it, and resumed from its last batch by another (or the restarted) instance if its
/// instance dies. A run still going for an earlier change stops at its next batch and is
/// recorded as superseded.
pub async fn start_place_all(store: &Store, tenant: &TenantId, reason: &str) -> DomainResult<String> {
    let id = uuid::Uuid::new_v4().to_string();
    let t = store.tenant(tenant);
    // Rules or the default group came, went or changed: SCIM writes must see it at once.
    t.cached_settings_changed().await?;
    // Strictly after the latest run, so that "the latest" is never a tie.
    let started = t.latest_mapping_run().await?.map_or(0, |r| r.started_at_ms + 1).max(now_ms());
    t.start_mapping_run(&id, reason, t.user_count().await?, started).await?;
    super::jobs::enqueue_place_all(store, tenant, &id, started).await?;
    Ok(id)
}

/// Carries out (or resumes) the whole-tenant evaluation `run` as the job `lease` holds, and
/// records how it ended in the run's record. `Ok(true)`: the job is over; `Ok(false)`: it was
/// interrupted and resumes later.
pub(crate) async fn run_place_all(
    store: &Store,
    tenant: &TenantId,
    lease: &super::jobs::Lease,
    started: i64,
    from: Checkpoint,
) -> DomainResult<bool> {
    let (n, outcome) = place_all_reporting(store, tenant, Some((lease, started)), from).await;
    let t = store.tenant(tenant);
    let error = match outcome? {
        RunEnd::Done => None,
        RunEnd::Superseded => Some(SUPERSEDED),
        RunEnd::Interrupted => return Ok(false),
    };
    store.tidy_after_run(n.done, n.changed).await;
    t.update_mapping_run(lease.job_id(), n.done, n.changed, Some(now_ms()), error).await?;
    Ok(true)
}

/// Records that the evaluation `run` failed for good (its job gave up).
pub(crate) async fn fail_run(store: &Store, tenant: &TenantId, run: &str, error: &str) -> DomainResult<()> {
    store.tenant(tenant).end_mapping_run(run, now_ms(), error).await
}

/// The latest whole-tenant evaluation.
pub async fn latest_run(store: &Store, tenant: &TenantId) -> DomainResult<Option<crate::dto::MappingRun>> {
    let Some(mut run) = store.tenant(tenant).latest_mapping_run().await? else { return Ok(None) };
    if run.finished_at_ms.is_none() {
        if let Some(job) = store.job(&run.id).await?.filter(|j| j.tenant_id.as_deref() == Some(tenant.as_str())) {
            let retrying = job.state == "queued" && job.attempts > 0 && job.error.is_some();
            run.job = Some(crate::dto::RunJob {
                next_attempt_ms: retrying.then_some(job.run_at),
                last_error: job.error,
                attempts: job.attempts,
                state: job.state,
            });
        }
    }
    Ok(Some(run))
}

/// What one batch of users looks like to the rules: each user's resource and IdP groups
/// (direct and nested).
struct Batch {
    users: Vec<(String, String, Value)>,
    idp: HashMap<String, Vec<String>>,
}

/// The next [`BATCH`] users after `after` (moved to the last of them), with their IdP groups
/// when `edges` (the tenant's group-in-group edges) is given; `None` past the last user (read
/// by ranges of ids, see [`crate::store::TenantStore::directory_users_after`]).
async fn load_range(
    store: &Store,
    tenant: &TenantId,
    edges: Option<&[(String, String)]>,
    after: &mut String,
) -> DomainResult<Option<Batch>> {
    let t = store.tenant(tenant);
    let rows = t.directory_users_after(after, BATCH as i64).await?;
    let Some(last) = rows.last().map(|r| r.id.clone()) else { return Ok(None) };
    let idp = match edges {
        Some(edges) => close_nesting(edges, t.direct_groups_in(after, &last).await?),
        None => HashMap::new(),
    };
    *after = last;
    let users =
        rows.into_iter().map(|u| (u.id, u.user_name, serde_json::from_str(&u.data).unwrap_or(Value::Null))).collect();
    Ok(Some(Batch { users, idp }))
}

/// Each user's groups, direct and through nested groups, from the direct memberships
/// ((user, group)) and the group-in-group edges ((member group, parent group)). Closed here
/// rather than in SQL: a batch's recursive query got a plan that scanned the tenant's
/// memberships once per step on SQLite.
fn close_nesting(edges: &[(String, String)], direct: Vec<(String, String)>) -> HashMap<String, Vec<String>> {
    let mut parents: HashMap<&str, Vec<&str>> = HashMap::new();
    for (child, parent) in edges {
        parents.entry(child.as_str()).or_default().push(parent.as_str());
    }
    let mut idp: HashMap<String, Vec<String>> = HashMap::new();
    for (user, group) in direct {
        let all = idp.entry(user).or_default();
        let mut todo = vec![group];
        while let Some(g) = todo.pop() {
            if all.contains(&g) {
                continue;
            }
            if let Some(ps) = parents.get(g.as_str()) {
                todo.extend(ps.iter().map(|p| p.to_string()));
            }
            all.push(g);
        }
    }
    idp
}

/// Rule- and default-made memberships to add and remove, planned and written inside a write's
/// transaction (see [`Placer::place`]).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Placement {
    /// To add.
    pub add: Vec<RuleMembership>,
    /// To remove.
    pub remove: Vec<RuleMembership>,
}

impl Placement {
    /// Whether nothing moves.
    pub fn is_empty(&self) -> bool {
        self.add.is_empty() && self.remove.is_empty()
    }
}

/// Opens a write of the tenant's users or groups: when the tenant has something to place (rules
/// or a default user group), a transaction under the placement lock, with the rules as they are
/// once the lock is held (a rule change that committed while the write waited is seen); else a
/// transaction without it (every write has at least its events to write with the change). A
/// write that places nothing hands the [`Seen`] to [`place_late`] once it has committed.
pub(crate) async fn begin_write<'a>(
    store: &'a Store,
    tenant: &'a TenantId,
) -> DomainResult<(TenantTx<'a>, Option<Placer>, Seen)> {
    begin_write_with(store, tenant, false).await
}

/// [`begin_write`]; `long`: a write of many users (see [`crate::store::TenantStore::begin_pooled`]).
pub(crate) async fn begin_write_with<'a>(
    store: &'a Store,
    tenant: &'a TenantId,
    long: bool,
) -> DomainResult<(TenantTx<'a>, Option<Placer>, Seen)> {
    // Taken before the settings are read: a change dropped after this is seen by `place_late`.
    let seen = Seen { epoch: store.cache.epoch(), placing: None };
    let t = store.tenant(tenant);
    let begin = || async {
        if long {
            t.begin_pooled().await
        } else {
            t.begin().await
        }
    };
    if Placer::load_active(store, tenant).await?.is_none() {
        let mut tx = begin().await?;
        if store.backend() == Backend::Sqlite {
            return Ok((tx, None, seen));
        }
        // The cache may not know yet of another instance's first rule, whose run may even have
        // ended: the database says, once the write holds the placement lock shared.
        if !tx.placing_now().await? {
            return Ok((tx, None, Seen { placing: Some(false), ..seen }));
        }
        tx.rollback().await?;
    }
    let mut tx = begin().await?;
    tx.lock_placement().await?;
    let placer = match store.backend() {
        // Another instance may have changed the rules a moment ago (its notice to drop the
        // cache may still be on its way): read them under the lock.
        Backend::Postgres => Placer::compile(tx.placement_settings().await?)?,
        // One instance, whose cache is dropped at every change: the cache is current.
        Backend::Sqlite => Placer::load_active(store, tenant).await?,
    };
    Ok((tx, placer, seen))
}

/// For a write that opens no transaction of its own (one statement, see
/// [`crate::store::TenantStore::update_user_alone`]): `Some` when the tenant has nothing to
/// place, with when that was read (for [`place_late`] after the write), as [`begin_write`]
/// decides it.
pub(crate) async fn nothing_to_place(store: &Store, tenant: &TenantId) -> DomainResult<Option<Seen>> {
    let seen = Seen { epoch: store.cache.epoch(), placing: None };
    Ok(Placer::load_active(store, tenant).await?.is_none().then_some(seen))
}

/// What a write that placed nothing knew of the tenant's placement settings (see
/// [`begin_write`], [`place_late`]).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Seen {
    /// The cache's epoch when the write read them (from the cache, which said: nothing to place).
    epoch: u64,
    /// PostgreSQL: whether the tenant had something to place as the write read it from the
    /// database under the placement lock, shared (`roster_placing`, migration 0040).
    placing: Option<bool>,
}

impl Seen {
    /// This, with what the write's own statement read of the tenant's placement settings
    /// (`None`: it read nothing, SQLite).
    pub(crate) fn read_by_write(self, placing: Option<bool>) -> Seen {
        Seen { placing: placing.or(self.placing), ..self }
    }
}

/// What a write that placed nothing touched (see [`place_late`]).
pub(crate) enum Touched<'a> {
    /// These users.
    Users(&'a [String]),
    /// These members of a group (users, and groups whose users are touched through nesting).
    Members(&'a [String]),
    /// Members it did not read (a replaced or deleted group's former members).
    Unknown,
}

/// After a write that placed nothing (its tenant had nothing to place when it began) has
/// committed: if the tenant has something to place now, its first rule or default group came
/// meanwhile, and the evaluation that change started may have read these users before this
/// write committed. So they are placed now, under the lock (a group's former members that were
/// not read: the whole tenant again). The write has committed whatever happens here: a failure
/// is logged, and the next evaluation of the tenant repairs what it left.
///
/// Whether something came meanwhile: on SQLite, settings were dropped from the cache since the
/// write read them (one instance, whose cache is dropped as the change commits) and the tenant
/// has something to place now. On PostgreSQL the cache is no witness: another instance may have
/// made the change, and its run ended, before this instance heard of it, and nothing would have
/// moved its epoch. So the write read it from the database ([`Seen::placing`]), after taking the
/// placement lock shared, which a change that gives a tenant its first rule or default group
/// takes exclusively before it commits: either the write committed first, and the run that the
/// change started saw it, or the write read the change.
pub(crate) async fn place_late(store: &Store, tenant: &TenantId, seen: Seen, touched: Touched<'_>) {
    if let Err(e) = try_place_late(store, tenant, seen, touched).await {
        tracing::error!(%tenant, "placing users after a write that raced a rule change failed: {e}");
    }
}

async fn try_place_late(store: &Store, tenant: &TenantId, seen: Seen, touched: Touched<'_>) -> DomainResult<()> {
    let placing = match seen.placing {
        Some(placing) => placing,
        // Most drops are of other tenants: ask the (cheap) cache first.
        None => store.cache.epoch() != seen.epoch && Placer::load_active(store, tenant).await?.is_some(),
    };
    if !placing {
        return Ok(());
    }
    let (mut tx, placer, _) = begin_write(store, tenant).await?;
    let Some(placer) = placer else { return Ok(()) };
    let users = match touched {
        Touched::Users(ids) => ids.to_vec(),
        Touched::Members(ids) => {
            let mut users = tx.users_below(ids).await?;
            users.extend(ids.iter().cloned());
            users.sort();
            users.dedup();
            users
        }
        Touched::Unknown => {
            tx.rollback().await?;
            start_place_all(store, tenant, "a group changed while the first rule was saved").await?;
            return Ok(());
        }
    };
    placer.place(&mut tx, &users, now_ms()).await?;
    tx.commit().await
}

/// The rules of a tenant, ready to place users.
pub(crate) struct Placer {
    rules: Vec<Rule>,
    default: Option<String>,
    /// For a whole-tenant run: the attribute rules compiled to SQL ([`Placer::for_run`]).
    conditions: Option<crate::store::RuleConditions>,
    /// For a whole-tenant run walking [`Walk::Checked`]: the database's test, and the users a
    /// step looks at and places at most.
    check: Option<(crate::store::PlacementCheck, i64, usize)>,
}

impl Placer {
    /// The tenant's enabled rules, compiled, and its default user group, for a whole-tenant run:
    /// read from the database, not the per-instance cache (see
    /// [`crate::store::TenantStore::stored_placement_settings`]; a run reads them once).
    async fn load(store: &Store, tenant: &TenantId) -> DomainResult<Placer> {
        let settings = store.tenant(tenant).stored_placement_settings().await?;
        Ok(Self::compile(settings)?.unwrap_or(Placer {
            rules: Vec::new(),
            default: None,
            conditions: None,
            check: None,
        }))
    }

    /// The tenant's rules and default user group through the per-instance cache that SCIM writes
    /// share (dropped on every rule or default change), compiled; `None` when the tenant has no
    /// rules (on or off) and no default user group: SCIM writes of such tenants have nothing to
    /// place and skip the rest.
    pub(crate) async fn load_active(store: &Store, tenant: &TenantId) -> DomainResult<Option<Placer>> {
        Placer::compile(store.tenant(tenant).placement_settings().await?)
    }

    /// The rules and default user group, compiled (`None` when there is neither).
    fn compile((records, default): (Vec<RuleRecord>, Option<String>)) -> DomainResult<Option<Placer>> {
        if records.is_empty() && default.is_none() {
            return Ok(None);
        }
        let defs: Vec<RuleDef> = records.iter().map(def).collect();
        let rules = rules::compile(&defs)
            .map_err(|(i, e)| DomainError::Internal(format!("stored mapping rule {i}: {}", e.detail)))?;
        Ok(Some(Placer { rules, default, conditions: None, check: None }))
    }

    /// This placer for a whole-tenant run walking as `walk` says. On PostgreSQL ([`Walk::Auto`])
    /// the database evaluates the attribute rules (see [`crate::store::RuleConditions`]): a
    /// run at 100,000 users took 0.73 s that way against 1.2 s reading and parsing every
    /// resource; and when every rule is an attribute rule, it also finds the users they would
    /// move ([`Walk::Checked`]). Not on SQLite: `json_extract` parses a user's JSON text again
    /// for each rule, and a run at a million users took 14.2 s that way against 11.2 s parsing
    /// each resource here once.
    fn for_run(mut self, store: &Store, walk: Walk) -> Placer {
        let walk = match (walk, store.backend()) {
            (Walk::Auto, Backend::Postgres) => Walk::Checked { span: SPAN, most: BATCH },
            (Walk::Auto, Backend::Sqlite) => Walk::EveryUser,
            (w, _) => w,
        };
        if walk != Walk::EveryUser || store.backend() == Backend::Postgres {
            let filters: Vec<_> = self.rules.iter().filter_map(Rule::attribute_filter).collect();
            self.conditions = crate::store::RuleConditions::compile(store, &filters);
        }
        if let Walk::Checked { span, most } = walk {
            // Rules on IdP groups are evaluated here only (a JIT user's groups come from its
            // claims as well as from SCIM): those tenants are walked user by user.
            let conditions = match &self.conditions {
                _ if rules::needs_idp_groups(&self.rules) => None,
                _ if self.rules.is_empty() => Some(crate::store::RuleConditions::none()),
                c => c.clone(),
            };
            let targets: Vec<(&str, &str)> = self.rules.iter().map(|r| (r.id(), r.user_group_id())).collect();
            self.check = conditions.map(|c| (c.check(&targets, self.default.as_deref()), span, most.max(1)));
        }
        self
    }

    /// Inside `tx`, which holds the tenant's placement lock: places these users as the
    /// transaction sees them (after the write), and returns what moved.
    pub(crate) async fn place(&self, tx: &mut TenantTx<'_>, users: &[String], now: i64) -> DomainResult<Placement> {
        let read = tx.placement_inputs(users, rules::needs_idp_groups(&self.rules)).await?;
        self.place_read(tx, read, users, now).await
    }

    /// [`Self::place`] of the users `read` holds (`users`: every user to place, also those
    /// that no longer exist).
    async fn place_read(
        &self,
        tx: &mut TenantTx<'_>,
        read: crate::store::PlacementInputs,
        users: &[String],
        now: i64,
    ) -> DomainResult<Placement> {
        let idp = close_nesting(&read.edges, read.direct);
        let groups = |id: &str| idp.get(id).map(Vec::as_slice).unwrap_or_default();
        let default = self.default.as_deref();
        let mut placement = if read.matched.is_empty() {
            let keys = rules::resource_keys(&self.rules);
            let parsed: Vec<(String, Value)> =
                read.users.iter().map(|(id, data)| (id.clone(), rules::parse_for_rules(data, &keys))).collect();
            let wanted =
                parsed.iter().map(|(id, v)| (id.as_str(), rules::evaluate(&self.rules, v, groups(id), default)));
            self.placement(wanted, read.current)
        } else {
            // The attribute rules were evaluated by the database: a `1` or `0` each, in order.
            let mut next = 0..;
            let flag: Vec<Option<usize>> =
                self.rules.iter().map(|r| r.attribute_filter().and_then(|_| next.next())).collect();
            let wanted = read.matched.iter().map(|(id, flags)| {
                let matches = |i: usize, r: &Rule| match flag[i] {
                    Some(f) => flags.as_bytes().get(f) == Some(&b'1'),
                    None => r.matches_groups(groups(id)),
                };
                (id.as_str(), rules::evaluate_with(&self.rules, matches, default))
            });
            self.placement(wanted, read.current)
        };
        super::safety::fit_seats(tx, &mut placement, users, now).await?;
        if placement.is_empty() {
            return Ok(placement);
        }
        // The users whose access may change: their user groups before and after, for the events.
        let mut moved: Vec<String> = placement.add.iter().chain(&placement.remove).map(|m| m.0.clone()).collect();
        moved.sort();
        moved.dedup();
        let before = Access::read(tx, &moved).await?;
        tx.apply_placement(&placement, now).await?;
        let after = Access::read(tx, &moved).await?;
        let default_role = super::events::default_role(tx).await?;
        let reasons: HashMap<(&str, &str), &str> =
            placement.add.iter().map(|(u, g, reason, _)| ((u.as_str(), g.as_str()), reason.as_str())).collect();
        let reason = |u: &str, g: &str| reasons.get(&(u, g)).copied().unwrap_or("rule").to_string();
        emit_access_changes(tx, &before, &after, default_role, &reason, now);
        Ok(placement)
    }

    /// The placement of users (id, the user groups the rules want them in) against their
    /// current rule memberships.
    fn placement<'u>(
        &self,
        users: impl Iterator<Item = (&'u str, BTreeMap<String, Vec<Reason>>)>,
        current_rows: Vec<RuleMembership>,
    ) -> Placement {
        let mut current: HashMap<String, Vec<(String, Reason)>> = HashMap::new();
        for (user, group, reason, rule) in current_rows {
            let r = if reason == "default" { Reason::Default } else { Reason::Rule(rule) };
            current.entry(user).or_default().push((group, r));
        }
        let row = |user: &str, (group, reason): (String, Reason)| -> RuleMembership {
            match reason {
                Reason::Rule(id) => (user.to_string(), group, "rule".into(), id),
                Reason::Default => (user.to_string(), group, "default".into(), String::new()),
            }
        };
        let mut out = Placement::default();
        for (id, wanted) in users {
            let d = rules::diff(current.get(id).map(Vec::as_slice).unwrap_or_default(), &wanted);
            out.add.extend(d.add.into_iter().map(|m| row(id, m)));
            out.remove.extend(d.remove.into_iter().map(|m| row(id, m)));
        }
        out
    }
}

/// Previews saving `candidate` (a new rule when its id is empty or unknown, else a change of
/// that rule; `delete` previews removing it): nothing is written. Counts placements by rules and
/// the default group (an admin's own assignments are not affected by rules either way).
pub async fn preview(
    store: &Store,
    tenant: &TenantId,
    candidate: &RuleDef,
    delete: bool,
) -> DomainResult<Vec<RulePreview>> {
    let (now_rules, next_rules, default) = preview_rules(store, tenant, candidate, delete).await?;
    if !rules::needs_idp_groups(&now_rules) && !rules::needs_idp_groups(&next_rules) {
        if let Some(out) = preview_in_database(store, tenant, &now_rules, &next_rules, default.as_deref()).await? {
            return Ok(out);
        }
    }
    preview_reading(store, tenant, &now_rules, &next_rules, default.as_deref()).await
}

/// [`preview`] reading every user and evaluating the rules here, as it does for rules on IdP
/// groups: what tests compare the database's evaluation with.
pub async fn preview_reading_every_user(
    store: &Store,
    tenant: &TenantId,
    candidate: &RuleDef,
    delete: bool,
) -> DomainResult<Vec<RulePreview>> {
    let (now_rules, next_rules, default) = preview_rules(store, tenant, candidate, delete).await?;
    preview_reading(store, tenant, &now_rules, &next_rules, default.as_deref()).await
}

/// The rules before and after saving (or deleting) `candidate`, and the default user group.
async fn preview_rules(
    store: &Store,
    tenant: &TenantId,
    candidate: &RuleDef,
    delete: bool,
) -> DomainResult<(Vec<Rule>, Vec<Rule>, Option<String>)> {
    let t = store.tenant(tenant);
    let defs = list(store, tenant).await?;
    let mut next_defs: Vec<RuleDef> = defs.iter().filter(|d| d.id != candidate.id).cloned().collect();
    if !delete {
        let mut c = candidate.clone();
        if let Condition::Attribute { filter } = &mut c.condition {
            *filter = friendly(filter)?;
            rules::check_filter(filter).map_err(|e| DomainError::Invalid(format!("The condition: {}", e.detail)))?;
        }
        if c.id.is_empty() {
            c.id = "preview".into();
        }
        match defs.iter().position(|d| d.id == candidate.id) {
            Some(i) => next_defs.insert(i.min(next_defs.len()), c),
            None => next_defs.push(c),
        }
    }
    let now_rules = rules::compile(&defs).map_err(|(_, e)| DomainError::Invalid(e.detail))?;
    let next_rules = rules::compile(&next_defs).map_err(|(_, e)| DomainError::Invalid(e.detail))?;
    let default = t.default_user_group().await?;
    Ok((now_rules, next_rules, default))
}

/// [`preview`] of the rules `now` and `next`, reading every user (with its IdP groups when a
/// rule needs them) and evaluating both here.
async fn preview_reading(
    store: &Store,
    tenant: &TenantId,
    now_rules: &[Rule],
    next_rules: &[Rule],
    default: Option<&str>,
) -> DomainResult<Vec<RulePreview>> {
    let t = store.tenant(tenant);
    let needs_idp = rules::needs_idp_groups(now_rules) || rules::needs_idp_groups(next_rules);
    let mut out: BTreeMap<String, RulePreview> = BTreeMap::new();
    let mut after = String::new();
    let edges = if needs_idp { Some(t.group_edges().await?) } else { None };
    while let Some(batch) = load_range(store, tenant, edges.as_deref(), &mut after).await? {
        for (id, user_name, resource) in &batch.users {
            let groups = batch.idp.get(id).map(Vec::as_slice).unwrap_or_default();
            let before = rules::evaluate(now_rules, resource, groups, default);
            let then = rules::evaluate(next_rules, resource, groups, default);
            for (g, gain) in changes(&before, &then) {
                let (count, sample) = side(&mut out, g, gain);
                *count += 1;
                if sample.len() < SAMPLE {
                    sample.push(user_name.clone());
                }
            }
        }
    }
    Ok(out.into_values().collect())
}

/// [`preview`] of attribute rules (`now` and `next`: the rules before and after), evaluated by
/// the database: it counts the tenant's users by which of the rules' conditions they meet (one
/// scan, a row back per combination met), the rules are evaluated here once per combination,
/// and only the samples are read as users. Reading and parsing every user's resource here took
/// 12–29 s at a million users on PostgreSQL (past the request timeout on a busy machine).
/// `None` when a condition cannot be compiled to SQL: the preview then reads every user.
async fn preview_in_database<'r>(
    store: &Store,
    tenant: &TenantId,
    now: &'r [Rule],
    next: &'r [Rule],
    default: Option<&str>,
) -> DomainResult<Option<Vec<RulePreview>>> {
    // Each distinct condition once (the rules after a change are mostly the rules before it):
    // where each rule's `1` or `0` is in the combination.
    fn position<'r>(rules: &'r [Rule], filters: &mut Vec<&'r crate::scim::filter::Filter>) -> Vec<Option<usize>> {
        rules
            .iter()
            .map(|r| {
                let f = r.attribute_filter()?;
                Some(filters.iter().position(|g| *g == f).unwrap_or_else(|| {
                    filters.push(f);
                    filters.len() - 1
                }))
            })
            .collect()
    }
    let mut filters = Vec::new();
    let (now_at, next_at) = (position(now, &mut filters), position(next, &mut filters));
    let Some(conditions) = crate::store::RuleConditions::compile_for_tenant(store, &filters) else {
        return Ok(None);
    };
    let t = store.tenant(tenant);
    let mut out: BTreeMap<String, RulePreview> = BTreeMap::new();
    // Per user group: the combinations that gain it and those that lose it (for the samples).
    let mut combinations: BTreeMap<(String, bool), Vec<String>> = BTreeMap::new();
    for (flags, users) in t.users_by_conditions(&conditions).await? {
        let met = |at: &[Option<usize>], i: usize| at[i].is_some_and(|p| flags.as_bytes().get(p) == Some(&b'1'));
        let before = rules::evaluate_with(now, |i, _| met(&now_at, i), default);
        let then = rules::evaluate_with(next, |i, _| met(&next_at, i), default);
        for (g, gain) in changes(&before, &then) {
            *side(&mut out, g, gain).0 += usize::try_from(users).unwrap_or(0);
            combinations.entry((g.clone(), gain)).or_default().push(flags.clone());
        }
    }
    // The first users (in id order) of each, as reading every user gives them.
    for ((g, gain), flags) in combinations {
        *side(&mut out, &g, gain).1 = t.users_meeting_conditions(&conditions, &flags, SAMPLE as i64).await?;
    }
    Ok(Some(out.into_values().collect()))
}

/// The userNames a preview shows per user group and direction.
const SAMPLE: usize = 5;

/// The user groups a user gains (`true`) and loses (`false`) going from the rules' placement
/// `before` to `then`.
fn changes<'a, V>(
    before: &'a BTreeMap<String, V>,
    then: &'a BTreeMap<String, V>,
) -> impl Iterator<Item = (&'a String, bool)> {
    let gained = then.keys().filter(|g| !before.contains_key(*g)).map(|g| (g, true));
    gained.chain(before.keys().filter(|g| !then.contains_key(*g)).map(|g| (g, false)))
}

/// A preview's count and sample of the users who gain (`gain`) or lose user group `g`.
fn side<'o>(out: &'o mut BTreeMap<String, RulePreview>, g: &str, gain: bool) -> (&'o mut usize, &'o mut Vec<String>) {
    let e =
        out.entry(g.to_string()).or_insert_with(|| RulePreview { user_group_id: g.to_string(), ..Default::default() });
    if gain {
        (&mut e.gain, &mut e.gain_sample)
    } else {
        (&mut e.lose, &mut e.lose_sample)
    }
}

/// Places a batch of users in one transaction under the tenant's placement lock, so that a
/// SCIM write of the same users waits for it or comes after it (never in between its read and
/// its write). Each change is in the user's timeline ("placed in user group “Sales” by the
/// mapping rules"), written in the same transaction.
///
/// A batch of a run's walk ([`Users::After`]) with its job (`lease`) first checks that no newer
/// run has started and that the instance is not stopping, and records the run's progress (the
/// job's checkpoint, the run's counts) in the same transaction: it commits with the
/// placements it counts, or not at all (a lost lease rolls the batch back).
///
/// On SQLite the transaction runs in place on the writer connection (a batch's reads through
/// sqlx's connection thread cost more than their SQLite work, see [`crate::store::direct`]),
/// off the runtime's workers ([`Store::run_long`]).
async fn place_batch(
    store: &Store,
    tenant: &TenantId,
    placer: &Placer,
    users: Users<'_>,
    lease: Option<&super::jobs::Lease>,
) -> DomainResult<Step> {
    store.run_long(place_batch_now(store, tenant, placer, users, lease)).await
}

/// [`place_batch`] of these users, outside a run's walk; returns how many changed user groups.
async fn place_listed(
    store: &Store,
    tenant: &TenantId,
    placer: &Placer,
    ids: &[String],
    lease: Option<&super::jobs::Lease>,
) -> DomainResult<usize> {
    match place_batch(store, tenant, placer, Users::Listed(ids), lease).await? {
        Step::Placed(placed) => Ok(placed.changed),
        // Only a walk's batch keeps books and stops early.
        Step::Superseded | Step::Interrupted => Err(DomainError::Internal("a listed batch stopped".into())),
    }
}

/// Which users a batch places.
#[derive(Clone, Copy, Debug)]
enum Users<'a> {
    /// These.
    Listed(&'a [String]),
    /// The next [`BATCH`] in id order after the run's checkpoint (a whole-tenant run's walk).
    After(&'a Checkpoint),
}

/// How a batch ended.
#[derive(Debug)]
enum Step {
    /// It committed.
    Placed(Placed),
    /// A newer run has started: nothing was done.
    Superseded,
    /// The instance is stopping or lost the job: nothing was done.
    Interrupted,
}

/// What a batch placed.
#[derive(Debug, Default)]
struct Placed {
    /// Users evaluated.
    users: usize,
    /// Users handed to the placer (of a run's step that only places users out of place, fewer
    /// than evaluated).
    placed: usize,
    /// Users whose user groups changed.
    changed: usize,
    /// [`Users::After`]: the run's checkpoint after this batch.
    next: Checkpoint,
}

async fn place_batch_now(
    store: &Store,
    tenant: &TenantId,
    placer: &Placer,
    users: Users<'_>,
    lease: Option<&super::jobs::Lease>,
) -> DomainResult<Step> {
    // A run's walk keeps its job's books (the catch-up at its end runs to its end).
    let books = lease.filter(|_| matches!(users, Users::After(_)));
    if books.is_some_and(|l| l.stopping()) {
        return Ok(Step::Interrupted);
    }
    let mut tx = store.tenant(tenant).begin().await?;
    let cause = lease.map_or_else(
        || super::events::Cause::System("mapping evaluation".into()),
        |l| super::events::Cause::Rules(l.job_id().to_string()),
    );
    super::events::set_cause(&mut tx, &cause);
    tx.lock_placement().await?;
    if let Some(lease) = books {
        if !tx.is_latest_mapping_run(lease.job_id()).await? {
            return Ok(Step::Superseded);
        }
    }
    let now = now_ms();
    let needs_idp = rules::needs_idp_groups(&placer.rules);
    // The users to place, how many were evaluated and the last of those.
    let (read, ids, evaluated, last) = match (users, &placer.check) {
        (Users::Listed(ids), _) => {
            (tx.placement_inputs(ids, needs_idp).await?, ids.to_vec(), ids.len(), ids.last().cloned())
        }
        (Users::After(at), Some((check, span, most))) => {
            let found = tx.users_to_place_after(&at.after, *span, *most, check).await?;
            let ids: Vec<String> = found.read.matched.iter().map(|(id, _)| id.clone()).collect();
            (found.read, ids, found.evaluated, found.last)
        }
        (Users::After(at), None) => {
            let read =
                tx.placement_inputs_after(&at.after, BATCH as i64, needs_idp, placer.conditions.as_ref()).await?;
            let ids: Vec<String> = read.users.iter().chain(&read.matched).map(|(id, _)| id.clone()).collect();
            let (evaluated, last) = (ids.len(), ids.last().cloned());
            (read, ids, evaluated, last)
        }
    };
    let Some(last) = last else { return Ok(Step::Placed(Placed::default())) };
    let placement = placer.place_read(&mut tx, read, &ids, now).await?;
    let changes = membership_changes(&placement);
    if !changes.is_empty() {
        let names = tx.user_group_names().await?;
        let name = |id: &str| names.get(id).cloned().unwrap_or_else(|| id.to_string());
        let listed = |groups: &[String]| groups.iter().map(|g| format!("“{}”", name(g))).collect::<Vec<_>>().join(", ");
        let actor = Actor { kind: "rules", name: "Mapping rules".into() };
        let records: Vec<crate::store::NewActivity> = changes
            .iter()
            .map(|(user, (gained, lost))| {
                let mut parts = Vec::new();
                if !gained.is_empty() {
                    parts.push(format!("placed in user group {} by the mapping rules", listed(gained)));
                }
                if !lost.is_empty() {
                    parts.push(format!("taken out of user group {} (no rule places them there now)", listed(lost)));
                }
                activity::action(&actor, "User", Some(user), &parts.join("; "), now)
            })
            .collect();
        tx.record_activity(&records).await?;
    }
    let next = match users {
        Users::After(at) => {
            Checkpoint { after: last, done: at.done + evaluated as i64, changed: at.changed + changes.len() as i64 }
        }
        Users::Listed(_) => Checkpoint::default(),
    };
    if let Some(lease) = books {
        if !lease.checkpoint_in(&mut tx, &next).await? {
            return Ok(Step::Interrupted);
        }
        tx.mapping_run_progress(lease.job_id(), next.done, next.changed).await?;
    }
    tx.commit().await?;
    Ok(Step::Placed(Placed { users: evaluated, placed: ids.len(), changed: changes.len(), next }))
}

/// Per user, the user groups a placement adds them to and takes them out of. A membership that
/// only changes its reason (another rule, or the default group) is no change of groups.
fn membership_changes(p: &Placement) -> std::collections::BTreeMap<String, (Vec<String>, Vec<String>)> {
    use std::collections::{BTreeMap, BTreeSet};
    let added: BTreeSet<(&str, &str)> = p.add.iter().map(|(u, g, _, _)| (u.as_str(), g.as_str())).collect();
    let removed: BTreeSet<(&str, &str)> = p.remove.iter().map(|(u, g, _, _)| (u.as_str(), g.as_str())).collect();
    let mut out: BTreeMap<String, (Vec<String>, Vec<String>)> = BTreeMap::new();
    for (u, g) in added.difference(&removed) {
        out.entry((*u).to_string()).or_default().0.push((*g).to_string());
    }
    for (u, g) in removed.difference(&added) {
        out.entry((*u).to_string()).or_default().1.push((*g).to_string());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dto::ConsoleRole;
    use crate::ids::AccountId;
    use crate::store::mappings::{
        add_rule_memberships_sql, remove_rule_memberships_sql, rule_memberships_sql, DIRECT_GROUPS_RANGE_SQL,
        RULE_MEMBERSHIPS_RANGE_SQL,
    };
    use crate::store::{NewAccount, NewTenant};

    /// A store on a SQLite file in `dir` with one tenant.
    async fn tenant_on_file(dir: &std::path::Path) -> (Store, TenantId) {
        let store = Store::connect(&format!("sqlite://{}/t.db", dir.display())).await.expect("store");
        store.migrate().await.expect("migrate");
        let tenant = TenantId::random();
        let admin = NewAccount {
            id: AccountId::random(),
            role: ConsoleRole::OrgAdmin,
            email: "a@x.test".into(),
            email_normalized: "a@x.test".into(),
            name: "A".into(),
            password_hash: "x".into(),
        };
        store.create_tenant_with_admin(&NewTenant { id: tenant.clone(), name: "X".into() }, &admin, 1).await.unwrap();
        (store, tenant)
    }

    #[tokio::test]
    async fn a_run_stops_once_a_newer_one_has_started() {
        let dir = tempfile::tempdir().expect("temp dir");
        let (store, tenant) = tenant_on_file(dir.path()).await;
        let t = store.tenant(&tenant);
        t.start_mapping_run("older", "rule created", 0, 10).await.unwrap();
        t.start_mapping_run("newer", "rule changed", 0, 11).await.unwrap();
        let claim = |id: &'static str| {
            let store = store.clone();
            let tenant = tenant.clone();
            async move {
                super::super::jobs::enqueue_place_all(&store, &tenant, id, 10).await.unwrap();
                super::super::jobs::Lease::claim_for_test(&store, id).await
            }
        };
        let older = claim("older").await;
        let (n, end) = place_all_reporting(&store, &tenant, Some((&older, 10)), Checkpoint::default()).await;
        assert_eq!((n, end.unwrap()), (Checkpoint::default(), RunEnd::Superseded));
        let newer = claim("newer").await;
        let (_, end) = place_all_reporting(&store, &tenant, Some((&newer, 11)), Checkpoint::default()).await;
        assert_eq!(end.unwrap(), RunEnd::Done);
        // A run started now is strictly the latest, even within the same millisecond.
        let id = start_place_all(&store, &tenant, "re-evaluate").await.unwrap();
        assert_eq!(t.latest_mapping_run().await.unwrap().map(|r| r.id), Some(id));
    }

    /// A tenant on a SQLite file with `n` users (every third in Sales) and a rule placing
    /// Sales in a user group, whose run is queued as a job; returns the store, the tenant and
    /// the run's id.
    async fn tenant_with_a_queued_run(dir: &std::path::Path, n: usize) -> (Store, TenantId, String) {
        let (store, tenant) = tenant_on_file(dir).await;
        let scim = crate::service::provisioning::Scim { store: &store, tenant: &tenant, base_url: "http://x/scim/v2" };
        let bodies: Vec<Value> = (0..n)
            .map(|k| {
                serde_json::json!({
                    "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
                    "userName": format!("u{k}@x.test"),
                    "title": if k % 3 == 0 { "Sales" } else { "Engineering" },
                })
            })
            .collect();
        scim.create_users(&bodies).await.map_err(|(_, e)| e.detail).expect("seed");
        let actor = Actor { kind: "admin", name: "a@x.test".into() };
        let group = member_group(&store, &tenant, "Sales").await;
        let rule = RuleDef {
            id: String::new(),
            condition: Condition::Attribute { filter: "title eq \"Sales\"".into() },
            user_group_id: group.id,
            enabled: true,
        };
        create(&store, &tenant, &actor, &rule).await.expect("rule");
        let run = store.tenant(&tenant).latest_mapping_run().await.unwrap().expect("a run").id;
        (store, tenant, run)
    }

    /// The first `n` user ids of the tenant, in id order.
    async fn ids_of(store: &Store, tenant: &TenantId, n: usize) -> Vec<String> {
        let rows = store.tenant(tenant).directory_users_after("", n as i64).await.expect("users");
        rows.into_iter().map(|u| u.id).collect()
    }

    /// A user group of members named `name`, made by an admin.
    async fn member_group(store: &Store, tenant: &TenantId, name: impl Into<String>) -> crate::dto::UserGroupView {
        let actor = Actor { kind: "admin", name: "a@x.test".into() };
        let input = crate::dto::UserGroupInput {
            name: name.into(),
            description: String::new(),
            role: crate::dto::GroupRole::Member,
        };
        super::super::user_groups::create(store, tenant, &actor, &input).await.expect("group")
    }

    async fn rule_members(store: &Store, tenant: &TenantId) -> i64 {
        let crate::store::Pool::Sqlite(pool) = &store.pool else { unreachable!() };
        sqlx::query_scalar("SELECT COUNT(*) FROM user_group_members WHERE tenant_id = $1 AND reason = 'rule'")
            .bind(tenant.as_str())
            .fetch_one(pool)
            .await
            .expect("count")
    }

    /// Each batch of a run's walk commits with its job's checkpoint and the run's counts, so a
    /// run resumed elsewhere starts exactly after the last batch that committed.
    #[tokio::test]
    async fn a_walk_records_its_progress_with_each_batch() {
        let dir = tempfile::tempdir().expect("temp dir");
        let users = 2 * BATCH + 100;
        let (store, tenant, run) = tenant_with_a_queued_run(dir.path(), users).await;
        let lease = super::super::jobs::Lease::claim_for_test(&store, &run).await;
        let (n, end) = place_all_reporting(&store, &tenant, Some((&lease, now_ms())), Checkpoint::default()).await;
        assert_eq!(end.unwrap(), RunEnd::Done);
        let sales = users.div_ceil(3) as i64;
        let last = ids_of(&store, &tenant, users).await.pop().expect("users");
        assert_eq!(n, Checkpoint { after: last, done: users as i64, changed: sales });
        let job = store.job(&run).await.unwrap().expect("job");
        let progress: Checkpoint = serde_json::from_str(job.progress.as_deref().expect("progress")).expect("json");
        assert_eq!(progress, n, "the job's checkpoint is the last batch's");
        let recorded = store.tenant(&tenant).latest_mapping_run().await.unwrap().expect("run");
        assert_eq!((recorded.done, recorded.changed), (users as i64, sales));
        assert_eq!(rule_members(&store, &tenant).await, sales);
    }

    /// On SQLite a walk's batch runs in place on the writer (`block_in_place`, on a
    /// multi-threaded runtime) and its thread hands what the batch freed back to the system
    /// after it (see `crate::memory`): at least once per batch.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn each_batch_of_a_walk_hands_its_memory_back() {
        let dir = tempfile::tempdir().expect("temp dir");
        let users = 2 * BATCH + 100;
        let (store, tenant, _run) = tenant_with_a_queued_run(dir.path(), users).await;
        let before = crate::memory::testing::releases();
        let walked = place_all_walking(&store, &tenant, Walk::EveryUser).await.expect("walk");
        assert_eq!(walked.evaluated, users);
        // Three batches of users and the empty one that ends the walk.
        assert!(crate::memory::testing::releases() >= before + 4);
    }

    /// A preview reads the tenant a batch of ids at a time, with each batch's IdP groups read by
    /// its range: over several batches and a rule on a nested IdP group, it counts exactly the
    /// users that saving the rule then places, and writes nothing.
    #[tokio::test]
    async fn a_preview_over_many_batches_counts_what_saving_the_rule_places() {
        let dir = tempfile::tempdir().expect("temp dir");
        let users = 2 * BATCH + 100;
        let (store, tenant, _run) = tenant_with_a_queued_run(dir.path(), users).await;
        let ids = ids_of(&store, &tenant, users).await;
        let scim = crate::service::provisioning::Scim { store: &store, tenant: &tenant, base_url: "http://x/scim/v2" };
        const GROUP: &str = "urn:ietf:params:scim:schemas:core:2.0:Group";
        // Every fourth user (in id order, so in every batch) through a nested group, and one
        // more directly.
        let team: Vec<Value> = ids.iter().step_by(4).map(|id| serde_json::json!({"value": id})).collect();
        let team = scim
            .create_group(&serde_json::json!({"schemas": [GROUP], "displayName": "Team", "members": team}))
            .await
            .expect("team");
        let staff = scim
            .create_group(&serde_json::json!({"schemas": [GROUP], "displayName": "All staff", "members": [
                {"value": team.id, "type": "Group"}, {"value": ids[1]}
            ]}))
            .await
            .expect("all staff");
        let expected = ids.len().div_ceil(4) + 1;
        let actor = Actor { kind: "admin", name: "a@x.test".into() };
        let group = member_group(&store, &tenant, "Staff").await;
        let rule = RuleDef {
            id: String::new(),
            condition: Condition::IdpGroup { group_id: staff.id },
            user_group_id: group.id.clone(),
            enabled: true,
        };
        let preview = preview(&store, &tenant, &rule, false).await.expect("preview");
        let staff_preview = preview.iter().find(|p| p.user_group_id == group.id).expect("the new group");
        assert_eq!((staff_preview.gain, staff_preview.lose), (expected, 0));
        assert_eq!(staff_preview.gain_sample.len(), 5);
        let crate::store::Pool::Sqlite(pool) = &store.pool else { unreachable!() };
        let members_of = |g: String| async move {
            sqlx::query_scalar::<_, i64>("SELECT COUNT(*) FROM user_group_members WHERE group_id = $1")
                .bind(g)
                .fetch_one(pool)
                .await
                .expect("count")
        };
        assert_eq!(members_of(group.id.clone()).await, 0, "a preview writes nothing");
        create(&store, &tenant, &actor, &rule).await.expect("rule");
        place_all(&store, &tenant).await.expect("place");
        assert_eq!(members_of(group.id).await, expected as i64);
    }

    /// A batch whose job was taken over by another instance meanwhile rolls back: nothing it
    /// placed or counted stays, and the run stops (the new holder resumes it).
    #[tokio::test]
    async fn a_batch_of_a_lost_job_is_rolled_back() {
        let dir = tempfile::tempdir().expect("temp dir");
        let (store, tenant, run) = tenant_with_a_queued_run(dir.path(), 300).await;
        let lease = super::super::jobs::Lease::claim_for_test(&store, &run).await;
        let crate::store::Pool::Sqlite(pool) = &store.pool else { unreachable!() };
        sqlx::query("UPDATE jobs SET lease_owner = 'another instance' WHERE id = $1")
            .bind(&run)
            .execute(pool)
            .await
            .expect("take over");
        let (n, end) = place_all_reporting(&store, &tenant, Some((&lease, now_ms())), Checkpoint::default()).await;
        assert_eq!((n, end.unwrap()), (Checkpoint::default(), RunEnd::Interrupted));
        assert_eq!(rule_members(&store, &tenant).await, 0);
        assert_eq!(store.job(&run).await.unwrap().expect("job").progress, None);
        let recorded = store.tenant(&tenant).latest_mapping_run().await.unwrap().expect("run");
        assert_eq!((recorded.done, recorded.changed), (0, 0));
    }

    /// An instance that stalled past its lease and claimed the job again (its other task, or
    /// the same job after a retry) holds a new lease: the stalled claim's batches roll back and
    /// it stops, so one instance never runs a job twice at once.
    #[tokio::test]
    async fn a_claim_that_ran_out_stops_once_the_same_instance_claims_again() {
        let dir = tempfile::tempdir().expect("temp dir");
        let (store, tenant, run) = tenant_with_a_queued_run(dir.path(), 300).await;
        let stalled = super::super::jobs::Lease::claim_for_test(&store, &run).await;
        let crate::store::Pool::Sqlite(pool) = &store.pool else { unreachable!() };
        sqlx::query("UPDATE jobs SET lease_until = 0 WHERE id = $1").bind(&run).execute(pool).await.expect("run out");
        let now = now_ms();
        let again = store.claim_job("test", &super::super::jobs::KINDS, now, now + 60_000).await.unwrap();
        let again = again.expect("the job, claimed again");
        assert_eq!((again.attempts, again.lease_owner.as_deref()), (2, Some("test#2")));
        let (n, end) = place_all_reporting(&store, &tenant, Some((&stalled, now_ms())), Checkpoint::default()).await;
        assert_eq!((n, end.unwrap()), (Checkpoint::default(), RunEnd::Interrupted));
        assert_eq!(rule_members(&store, &tenant).await, 0);
        let job = store.job(&run).await.unwrap().expect("job");
        assert_eq!((job.progress, job.lease_owner.as_deref()), (None, Some("test#2")));
    }

    /// A run that has the database evaluate the attribute rules (compiled to SQL) places what
    /// the rules say evaluated here on each user's resource, over attributes of every
    /// kind: case-insensitive strings, the enterprise extension, multi-valued attributes with
    /// value paths, booleans, presence, negation.
    #[tokio::test]
    async fn a_run_s_database_evaluation_agrees_with_the_rules() {
        let dir = tempfile::tempdir().expect("temp dir");
        let (store, tenant) = tenant_on_file(dir.path()).await;
        const ENT: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
        let scim = crate::service::provisioning::Scim { store: &store, tenant: &tenant, base_url: "http://x/scim/v2" };
        let titles = ["Sales", "sales", "SALES rep", "Engineer", "", "Manager"];
        let departments = ["Engineering", "eng", "Sales", "Support"];
        let countries = ["US", "us", "DE", "FR"];
        let bodies: Vec<Value> = (0..96)
            .map(|k| {
                let mut u = serde_json::json!({
                    "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User", ENT],
                    "userName": format!("User{k}@X.test"),
                    "active": k % 5 != 0,
                    "name": {"givenName": if k % 2 == 0 { "Anna" } else { "Bob" }},
                    "emails": [{"value": format!("u{k}@{}", if k % 3 == 0 { "x.test" } else { "y.test" }), "type": if k % 4 == 0 { "home" } else { "work" }}],
                    "addresses": [{"type": "work", "country": countries[k % 4]}],
                });
                if !titles[k % 6].is_empty() {
                    u["title"] = titles[k % 6].into();
                }
                if k % 7 != 0 {
                    u[ENT] = serde_json::json!({"department": departments[k % 4]});
                }
                u
            })
            .collect();
        scim.create_users(&bodies).await.map_err(|(_, e)| e.detail).expect("seed");
        let actor = Actor { kind: "admin", name: "a@x.test".into() };
        let filters = [
            "title eq \"sales\"",
            &format!("{ENT}:department sw \"Eng\""),
            "emails[type eq \"work\" and value ew \"@X.TEST\"]",
            "addresses[country eq \"us\"]",
            "not (active eq true)",
            "name.givenName co \"nn\" and title pr",
            "title gt \"m\" or userName sw \"user1\"",
            &format!("{ENT}:department ne \"Sales\""),
        ];
        for (i, filter) in filters.iter().enumerate() {
            let group = member_group(&store, &tenant, format!("G{i}")).await;
            let rule = RuleDef {
                id: String::new(),
                condition: Condition::Attribute { filter: filter.to_string() },
                user_group_id: group.id,
                enabled: true,
            };
            create(&store, &tenant, &actor, &rule).await.expect("rule");
        }
        // PostgreSQL's runs use the conditions (SQLite's do not, see `for_run`): here the
        // SQLite dialect of the same compiler, which the SCIM filter tests check on both.
        let mut placer = Placer::load(&store, &tenant).await.unwrap();
        let filters: Vec<_> = placer.rules.iter().filter_map(Rule::attribute_filter).collect();
        placer.conditions = crate::store::RuleConditions::compile(&store, &filters);
        assert!(placer.conditions.is_some(), "every filter compiles to SQL");
        // One batch of a run's walk (place_all would also re-place the users just written in
        // its catch-up, by the resources).
        let Step::Placed(placed) =
            place_batch(&store, &tenant, &placer, Users::After(&Checkpoint::default()), None).await.expect("batch")
        else {
            panic!("the batch did not run")
        };
        assert_eq!(placed.users, 96);

        let crate::store::Pool::Sqlite(pool) = &store.pool else { unreachable!() };
        let mut placed: Vec<(String, String)> = sqlx::query_as(
            "SELECT user_id, group_id FROM user_group_members WHERE tenant_id = $1 AND reason = 'rule' ORDER BY 1, 2",
        )
        .bind(tenant.as_str())
        .fetch_all(pool)
        .await
        .expect("placed");
        placed.sort();
        let mut wanted = Vec::new();
        let ids = ids_of(&store, &tenant, 1000).await;
        for u in store.tenant(&tenant).directory_users(&ids).await.unwrap() {
            let resource: Value = serde_json::from_str(&u.data).expect("json");
            for group in rules::evaluate(&placer.rules, &resource, &[], None).into_keys() {
                wanted.push((u.id.clone(), group));
            }
        }
        wanted.sort();
        assert!(wanted.len() > 96, "the rules place many users: {}", wanted.len());
        assert_eq!(placed, wanted);
    }

    /// `sql` with every parameter (`?`, `$1`) a text literal.
    fn literal(sql: &str) -> String {
        let mut out = String::new();
        let mut chars = sql.chars().peekable();
        while let Some(c) = chars.next() {
            match c {
                '?' => out.push_str("'x'"),
                '$' => {
                    while chars.peek().is_some_and(char::is_ascii_digit) {
                        chars.next();
                    }
                    out.push_str("'x'");
                }
                c => out.push(c),
            }
        }
        out
    }

    /// What every SCIM write of a tenant with rules asks must be index lookups, not scans of
    /// the tenant's memberships (SQLite, without statistics, chose the scan before 0006).
    #[tokio::test]
    async fn placement_queries_use_their_indexes() {
        let dir = tempfile::tempdir().expect("temp dir");
        let url = format!("sqlite://{}/t.db", dir.path().display());
        let store = Store::connect(&url).await.expect("store");
        store.migrate().await.expect("migrate");
        let crate::store::Pool::Sqlite(pool) = &store.pool else { unreachable!() };
        for (sql, index) in [
            (literal(&rule_memberships_sql(2)).as_str(), "user_group_members_user (tenant_id=? AND user_id=?)"),
            (
                "SELECT member_id, group_id FROM scim_group_members WHERE tenant_id = 't' AND member_type = 'Group'",
                "scim_group_members_nested",
            ),
            (
                "SELECT member_id, group_id FROM scim_group_members WHERE tenant_id = 't' AND member_id IN ('a')",
                "scim_group_members_member",
            ),
            // A whole-tenant run's batch: ranges of ids.
            (
                "SELECT t.id, t.data FROM scim_users t WHERE t.tenant_id = 't' AND t.id > 'a' ORDER BY t.id LIMIT 1000",
                "sqlite_autoindex_scim_users_1 (tenant_id=? AND id>?)",
            ),
            (&literal(RULE_MEMBERSHIPS_RANGE_SQL), "user_group_members_user (tenant_id=? AND user_id>? AND user_id<?)"),
            (&literal(DIRECT_GROUPS_RANGE_SQL), "scim_group_members_member (tenant_id=? AND member_id>? AND member_id<?)"),
            (&literal(DIRECT_GROUPS_RANGE_SQL), "sso_claim_groups_1 (tenant_id=? AND user_id>? AND user_id<?)"),
            // Rule memberships added and removed a few hundred at a time.
            (&literal(&remove_rule_memberships_sql(3, true)), "sqlite_autoindex_user_group_members_1 (tenant_id=? AND group_id=? AND user_id=? AND reason=? AND rule_id=?)"),
            (&literal(&add_rule_memberships_sql(3, true)), "sqlite_autoindex_scim_users_1 (tenant_id=? AND id=?)"),
            (&literal(&add_rule_memberships_sql(3, true)), "sqlite_autoindex_user_groups_1 (tenant_id=? AND id=?)"),
        ] {
            let plan: Vec<(i64, i64, i64, String)> =
                sqlx::query_as(&format!("EXPLAIN QUERY PLAN {sql}")).fetch_all(pool).await.expect("plan");
            let detail = plan.iter().map(|p| p.3.as_str()).collect::<Vec<_>>().join("; ");
            assert!(detail.contains(index), "{sql}: {detail}");
            // Nothing but the statement's own list of values is scanned.
            assert!(
                plan.iter().all(|p| !p.3.starts_with("SCAN ") || p.3.contains("CONSTANT ROWS") || p.3.contains("VALUES CLAUSE") || p.3.contains("subquery") || p.3 == "SCAN v" || p.3 == "SCAN m"),
                "{sql}: {detail}"
            );
        }
    }
}
