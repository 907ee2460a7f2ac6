//! Durable background jobs: a whole-tenant evaluation survives the death of its instance, failed
//! jobs are retried with backoff and then given up, the hourly maintenance runs once per
//! cluster, and retention keeps the audit trail longer than SCIM traffic.

use std::time::{Duration, Instant};

use roster_shared::clock::now_ms;
use roster_shared::ids::TenantId;
use roster_shared::rules::{Condition, RuleDef};
use roster_shared::service::activity::Actor;
use roster_shared::service::{jobs, mappings, provisioning::Scim};
use roster_shared::store::{JobFilter, NewActivity, NewJob};
use serde_json::json;

use crate::both_backends;
use crate::common::*;

both_backends!(
    failing_jobs_are_retried_with_backoff_then_given_up,
    maintenance_runs_once_per_cluster_and_keeps_the_audit_trail
);

/// 100,000 users take a while in a debug build with the rest of the suite running beside it.
const LONG: Duration = Duration::from_secs(900);

#[test]
fn sqlite_a_killed_instance_s_evaluation_is_finished_by_another() {
    run_within("sqlite_a_killed_instance…", LONG, a_killed_instance_s_evaluation_is_finished_by_another(Db::Sqlite));
}

#[test]
fn postgres_a_killed_instance_s_evaluation_is_finished_by_another() {
    run_within(
        "postgres_a_killed_instance…",
        LONG,
        a_killed_instance_s_evaluation_is_finished_by_another(Db::Postgres),
    );
}

/// Users in the evaluation that is killed midway.
const USERS: usize = 100_000;

/// A tenant with `n` users, every third of them in Sales.
async fn seeded_tenant(app: &TestApp, n: usize) -> (TenantId, String) {
    let email = format!("admin-{}@jobs.test", uuid::Uuid::new_v4().simple());
    app.sign_up("Jobs", &email, PASSWORD).await;
    let tenant = TenantId::parse(
        &app.raw_strings(&format!("SELECT tenant_id FROM console_accounts WHERE email_normalized = '{email}'")).await
            [0],
    )
    .expect("tenant id");
    let base = format!("{}/scim/v2/{}", app.public_url, tenant.as_str());
    let scim = Scim { store: &app.store, tenant: &tenant, base_url: &base };
    let mut i = 0;
    while i < n {
        let end = (i + 5_000).min(n);
        let bodies: Vec<_> = (i..end)
            .map(|k| {
                json!({
                    "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
                    "userName": format!("user{k:06}@jobs.test"),
                    "title": if k % 3 == 0 { "Sales" } else { "Engineering" },
                })
            })
            .collect();
        scim.create_users(&bodies).await.expect("seed");
        i = end;
    }
    (tenant, email)
}

/// The users the tenant's rules placed, sorted.
async fn placed(app: &TestApp, tenant: &TenantId) -> Vec<String> {
    let mut ids = app
        .raw_strings(&format!(
            "SELECT user_id FROM user_group_members WHERE tenant_id = '{}' AND reason = 'rule'",
            tenant.as_str()
        ))
        .await;
    ids.sort();
    ids
}

/// The users the rule should place, computed from the seed (every third one).
async fn expected(app: &TestApp, tenant: &TenantId) -> Vec<String> {
    let mut ids = app
        .raw_strings(&format!(
            // userName k is in Sales when k % 3 == 0: by the name, not by the stored title.
            "SELECT id FROM scim_users WHERE tenant_id = '{}' AND CAST(SUBSTR(user_name_norm, 5, 6) AS INTEGER) % 3 = 0",
            tenant.as_str(),
        ))
        .await;
    ids.sort();
    ids
}

async fn a_killed_instance_s_evaluation_is_finished_by_another(db: Db) {
    let mut first = TestApp::new(db).await;
    let started = Instant::now();
    let (tenant, email) = seeded_tenant(&first, USERS).await;
    eprintln!("seeded {USERS} users in {:.1} s", started.elapsed().as_secs_f64());
    let group = roster_shared::service::user_groups::create(
        &first.store,
        &tenant,
        &Actor::admin(&email),
        &roster_shared::dto::UserGroupInput {
            name: "Sales".into(),
            description: String::new(),
            role: roster_shared::dto::GroupRole::Member,
        },
    )
    .await
    .expect("group");
    // The rule starts the evaluation as a job, which the first instance claims at once.
    let rule = RuleDef {
        id: String::new(),
        condition: Condition::Attribute { filter: "title eq \"Sales\"".into() },
        user_group_id: group.id.clone(),
        enabled: true,
    };
    let run_started = Instant::now();
    mappings::create(&first.store, &tenant, &Actor::admin(&email), &rule).await.expect("rule");
    let run = mappings::latest_run(&first.store, &tenant).await.unwrap().expect("a run");

    // Kill the first instance once a tenth of the users are evaluated.
    loop {
        let now = mappings::latest_run(&first.store, &tenant).await.unwrap().expect("run");
        assert!(now.finished_at_ms.is_none(), "the run finished before it could be killed: {now:?}");
        if now.done >= (USERS / 10) as i64 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    if let Some(r) = first.jobs.0.take() {
        r.abort();
    }
    let at_kill = mappings::latest_run(&first.store, &tenant).await.unwrap().expect("run");
    let job = first.store.job(&run.id).await.unwrap().expect("job");
    eprintln!(
        "killed after {:.1} s at {} of {} users; job {} attempts {} owner {:?}",
        run_started.elapsed().as_secs_f64(),
        at_kill.done,
        at_kill.total,
        job.state,
        job.attempts,
        job.lease_owner
    );
    // Usually the first attempt; a later one if the instance stalled past its lease on a busy
    // machine and claimed the job again (the stalled claim then stopped).
    assert_eq!(job.state, "running");
    assert!(job.attempts >= 1);
    assert!(at_kill.done < USERS as i64, "{at_kill:?}");
    let attempts_at_kill = job.attempts;
    let instance_of = |owner: &str| owner.rsplit_once('#').map_or(owner, |(instance, _)| instance).to_string();
    let first_instance = instance_of(job.lease_owner.as_deref().expect("the first instance's lease"));

    // Dead means dead: once its lease has run out (nobody renewed it), the walk is where the
    // kill left it, short of the end.
    let stopped_at = loop {
        let j = first.store.job(&run.id).await.unwrap().expect("job");
        if j.lease_until.is_some_and(|until| until < now_ms()) {
            let progress: serde_json::Value = serde_json::from_str(j.progress.as_deref().unwrap_or("{}")).unwrap();
            break progress["done"].as_i64().unwrap_or(0);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(stopped_at < USERS as i64, "the killed instance walked on to {stopped_at}");
    // Another instance takes the job over once the dead one's lease runs out, and finishes it
    // from where it got to.
    let second = first.second_instance().await;
    let resumed = Instant::now();
    let mut taken_over_by = None;
    let finished = loop {
        let now = mappings::latest_run(&second.store, &tenant).await.unwrap().expect("run");
        if now.finished_at_ms.is_some() {
            break now;
        }
        if let Some(owner) = second.store.job(&run.id).await.unwrap().and_then(|j| j.lease_owner) {
            if instance_of(&owner) != first_instance {
                taken_over_by = Some(owner);
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    // The run is recorded as finished inside the job; the job's own end comes just after.
    let job = loop {
        let job = second.store.job(&run.id).await.unwrap().expect("job");
        if job.state != "running" {
            break job;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    eprintln!(
        "finished by the second instance {:.1} s after the kill: {finished:?}; job {} attempts {} progress {:?}",
        resumed.elapsed().as_secs_f64(),
        job.state,
        job.attempts,
        job.progress
    );
    assert_eq!(finished.error, None);
    assert_eq!(finished.done, USERS as i64, "every user evaluated once, the resumed part from the checkpoint on");
    assert_eq!((job.state.as_str(), job.error.as_deref()), ("done", None));
    assert!(job.attempts > attempts_at_kill, "taken over as a new attempt: {job:?}");
    assert!(taken_over_by.is_some(), "another instance held the job before it finished");

    // The result is a fresh evaluation's: what the rule says, and evaluating again moves no one.
    let after_job = placed(&second, &tenant).await;
    let want = expected(&second, &tenant).await;
    assert_eq!(want.len(), USERS.div_ceil(3));
    assert_eq!(after_job, want);
    mappings::place_all(&second.store, &tenant).await.expect("fresh evaluation");
    assert_eq!(placed(&second, &tenant).await, want);
    drop(first);
}

async fn failing_jobs_are_retried_with_backoff_then_given_up(db: Db) {
    let app = TestApp::new(db).await;
    let (tenant, _) = seeded_tenant(&app, 3).await;
    // A job this release cannot carry out: its arguments are not what the kind needs.
    let now = now_ms();
    app.store
        .enqueue_job(
            &NewJob {
                id: "broken".into(),
                tenant_id: Some(tenant.as_str().into()),
                kind: jobs::PLACE_ALL.into(),
                args: "not json".into(),
                unique_key: None,
                run_at: now,
            },
            now,
        )
        .await
        .unwrap();
    // And one of a kind only a newer release knows: left alone, for an instance that does.
    app.store
        .enqueue_job(
            &NewJob {
                id: "future".into(),
                kind: "from_the_future".into(),
                args: "{}".into(),
                run_at: now,
                ..Default::default()
            },
            now,
        )
        .await
        .unwrap();
    let mut seen_retry = false;
    let job = loop {
        let job = app.store.job("broken").await.unwrap().expect("job");
        if job.state == "queued" && job.attempts > 0 {
            // Between attempts: the next one waits (base 200 ms, doubled each time).
            assert!(job.run_at > job.updated_at, "{job:?}");
            assert!(job.error.as_deref().unwrap_or_default().contains("failed"), "{job:?}");
            seen_retry = true;
        }
        if job.state == "failed" {
            break job;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert!(seen_retry);
    assert_eq!(job.attempts, jobs::MAX_ATTEMPTS);
    assert!(job.error.as_deref().unwrap_or_default().contains("bad job arguments"), "{job:?}");
    let future = app.store.job("future").await.unwrap().expect("job");
    assert_eq!((future.state.as_str(), future.attempts), ("queued", 0));
    // Listed for operators.
    let listed =
        app.store.jobs(&JobFilter { state: Some("failed".into()), limit: 10, ..Default::default() }).await.unwrap();
    assert!(listed.iter().any(|j| j.id == "broken"));
}

async fn maintenance_runs_once_per_cluster_and_keeps_the_audit_trail(db: Db) {
    let app = TestApp::new(db).await;
    let other = app.second_instance().await;
    let third = app.second_instance().await;
    // Every instance offers this hour's maintenance; one job exists, and one instance ran it.
    let mut done = Vec::new();
    for _ in 0..500 {
        done = app
            .store
            .jobs(&JobFilter { limit: 100, ..Default::default() })
            .await
            .unwrap()
            .into_iter()
            .filter(|j| j.kind == jobs::MAINTENANCE)
            .collect();
        if done.iter().all(|j| j.state == "done") && !done.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(done.len(), 1, "{done:?}");
    assert_eq!((done[0].state.as_str(), done[0].attempts), ("done", 1));
    // Enqueuing it again this hour adds nothing, from any instance.
    assert!(!jobs::enqueue_maintenance(&other.store, now_ms()).await.unwrap());
    assert!(!jobs::enqueue_maintenance(&third.store, now_ms()).await.unwrap());

    // Retention: SCIM traffic after 90 days, the audit trail after 365.
    let (tenant, _) = seeded_tenant(&app, 1).await;
    let day = 86_400_000i64;
    let now = now_ms();
    let record = |actor: &str, age_days: i64, summary: &str| {
        (
            tenant.clone(),
            NewActivity {
                at: now - age_days * day,
                actor: actor.into(),
                summary: summary.into(),
                ..Default::default()
            },
        )
    };
    app.store
        .insert_activity(&[
            record("scim", 100, "old request"),
            record("scim", 10, "recent request"),
            record("admin", 100, "old admin action"),
            record("support", 400, "ancient support action"),
        ])
        .await
        .unwrap();
    jobs::maintain(&app.store, &jobs::Retention::default(), None, None).await.unwrap();
    let mut left = app
        .raw_strings(&format!(
            "SELECT summary FROM activity WHERE tenant_id = '{}' AND (summary LIKE '%old%' OR summary LIKE '%recent%' OR summary LIKE '%ancient%')",
            tenant.as_str()
        ))
        .await;
    left.sort();
    assert_eq!(left, vec!["old admin action".to_string(), "recent request".to_string()]);
    // The SCIM traffic's minutes go with the records they count.
    let recent = now - 10 * day;
    let minutes = app
        .raw_strings(&format!(
            "SELECT CAST(minute_at AS TEXT) || ' ' || CAST(requests AS TEXT) FROM scim_traffic WHERE tenant_id = '{}'",
            tenant.as_str()
        ))
        .await;
    assert_eq!(minutes, vec![format!("{} 1", recent - recent % 60_000)]);
}
