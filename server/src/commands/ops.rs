//! Operator commands: `roster migrate [--status]`, `roster jobs list`, `roster backup`,
//! `roster restore`, `roster doctor`.

use std::path::{Path, PathBuf};

use roster_shared::store::{JobFilter, Store};

use crate::cli::{BackupArgs, DoctorArgs, JobsListArgs, MigrateArgs, RestoreArgs};

/// Applies pending migrations, or with `--status` lists them (connecting without migrating).
pub async fn migrate(args: MigrateArgs) -> anyhow::Result<()> {
    if !args.status {
        let store = super::open_store(&args.database.database_url).await?;
        store.close().await;
        tracing::info!("database is up to date");
        return Ok(());
    }
    let store = Store::connect(&args.database.database_url)
        .await
        .map_err(|e| anyhow::anyhow!("cannot open the database: {e}"))?;
    let states = store.migration_status().await;
    store.close().await;
    let states = states.map_err(|e| anyhow::anyhow!("{e}"))?;
    for m in &states {
        println!("{:>4}  {:<8} {}", m.version, m.state, m.description);
    }
    let pending = states.iter().filter(|m| m.state == "pending").count();
    let newer = states.iter().filter(|m| m.state == "newer").count();
    match (pending, newer) {
        (0, 0) => println!("The database is up to date."),
        (0, n) => println!("{n} migration(s) from a newer release are applied; this release runs on that schema."),
        (n, _) => println!("{n} migration(s) pending: `roster migrate` (or `roster serve`) applies them."),
    }
    Ok(())
}

/// Lists background jobs.
pub async fn jobs_list(args: JobsListArgs) -> anyhow::Result<()> {
    let store = super::open_store(&args.database.database_url).await?;
    let jobs =
        store.jobs(&JobFilter { tenant_id: args.tenant.clone(), state: args.state.clone(), limit: args.limit }).await;
    store.close().await;
    let jobs = jobs.map_err(|e| anyhow::anyhow!("{e}"))?;
    if args.json {
        for j in &jobs {
            println!("{}", roster_shared::service::tenants::job_json(j));
        }
        return Ok(());
    }
    if jobs.is_empty() {
        println!("No jobs.");
        return Ok(());
    }
    println!("{:<36}  {:<11} {:<9} {:>3}  {:<20} {:<36}  DETAIL", "ID", "KIND", "STATE", "TRY", "CREATED", "TENANT");
    for j in &jobs {
        let detail = match (j.state.as_str(), &j.error, &j.lease_owner) {
            ("running", _, Some(owner)) => format!("on {owner}"),
            ("queued", Some(e), _) => format!("next try {}: {e}", time(j.run_at)),
            (_, Some(e), _) => e.clone(),
            _ => String::new(),
        };
        println!(
            "{:<36}  {:<11} {:<9} {:>3}  {:<20} {:<36}  {}",
            j.id,
            j.kind,
            j.state,
            j.attempts,
            time(j.created_at),
            j.tenant_id.as_deref().unwrap_or("-"),
            detail
        );
    }
    Ok(())
}

/// `YYYY-MM-DD HH:MM:SS` UTC.
pub fn time(ms: i64) -> String {
    let fmt = time::macros::format_description!("[year]-[month]-[day] [hour]:[minute]:[second]");
    time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .ok()
        .and_then(|t| t.format(&fmt).ok())
        .unwrap_or_default()
}

/// The file of an SQLite database URL.
fn sqlite_file(url: &str) -> anyhow::Result<PathBuf> {
    let rest = url.strip_prefix("sqlite://").or_else(|| url.strip_prefix("sqlite:")).ok_or_else(|| {
        anyhow::anyhow!(
            "`roster backup` and `restore` copy SQLite databases. For PostgreSQL use its own tools:\n  \
             pg_dump --format=custom --file=roster.dump \"$ROSTER_DATABASE_URL\"\n  \
             pg_restore --clean --if-exists --dbname=\"$ROSTER_DATABASE_URL\" roster.dump\n\
             (see README, \"Backups\")"
        )
    })?;
    let path = rest.split('?').next().unwrap_or_default();
    if path.is_empty() || path == ":memory:" {
        anyhow::bail!("{url} is not a database file");
    }
    Ok(PathBuf::from(path))
}

/// Writes a consistent copy of the (running) SQLite database.
pub async fn backup(args: BackupArgs) -> anyhow::Result<()> {
    sqlite_file(&args.database.database_url)?;
    if args.to.exists() {
        anyhow::bail!("{} exists: choose a new file (a backup never overwrites one)", args.to.display());
    }
    // Written next to its final name, then renamed: a file with the name is a whole backup.
    let partial = partial_name(&args.to);
    let _ = std::fs::remove_file(&partial);
    let store = Store::connect(&args.database.database_url)
        .await
        .map_err(|e| anyhow::anyhow!("cannot open the database: {e}"))?;
    let started = std::time::Instant::now();
    let result = store.backup_sqlite(&partial).await;
    store.close().await;
    result.map_err(|e| anyhow::anyhow!("backup failed: {e}"))?;
    std::fs::rename(&partial, &args.to)
        .map_err(|e| anyhow::anyhow!("cannot name the backup {}: {e}", args.to.display()))?;
    let size = std::fs::metadata(&args.to).map(|m| m.len()).unwrap_or(0);
    println!(
        "Backed up to {} ({:.1} MB in {:.1} s).",
        args.to.display(),
        size as f64 / 1e6,
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

fn partial_name(path: &Path) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(".partial");
    path.with_file_name(name)
}

/// Replaces the SQLite database with a backup, keeping the replaced one beside it.
pub async fn restore(args: RestoreArgs) -> anyhow::Result<()> {
    let db = sqlite_file(&args.database.database_url)?;
    if !args.from.is_file() {
        anyhow::bail!("{} is not a file", args.from.display());
    }
    // The backup is copied next to the database first, and the copy checked: it must be a
    // whole, readable Roster database.
    let staged = partial_name(&db);
    remove_with_sidecars(&staged);
    std::fs::copy(&args.from, &staged).map_err(|e| anyhow::anyhow!("cannot copy the backup: {e}"))?;
    let checked = check_backup(&staged, &args.from).await;
    if let Err(e) = checked {
        remove_with_sidecars(&staged);
        return Err(e);
    }
    // The current database is kept (with its WAL) under a new name: nothing is lost by a
    // restore of the wrong file.
    let kept = if db.exists() {
        let stamp = time::OffsetDateTime::now_utc().unix_timestamp();
        let kept = db.with_extension(format!("before-restore-{stamp}.db"));
        let check = Store::connect(&args.database.database_url).await.map_err(|e| anyhow::anyhow!("{e}"))?;
        // Folds the WAL into the file, so that the kept copy is whole.
        let copied = check.backup_sqlite(&kept).await;
        check.close().await;
        copied.map_err(|e| anyhow::anyhow!("cannot keep the current database: {e}"))?;
        Some(kept)
    } else {
        None
    };
    remove_with_sidecars(&db);
    std::fs::rename(&staged, &db).map_err(|e| anyhow::anyhow!("cannot put the backup in place: {e}"))?;
    // Migrations newer than the backup are applied now, as `serve` would.
    let store = super::open_store(&args.database.database_url).await?;
    let rebuilt = store.rebuild_search_index().await;
    store.close().await;
    rebuilt.map_err(|e| anyhow::anyhow!("cannot rebuild the users' search index: {e}"))?;
    println!("Restored {} from {}.", db.display(), args.from.display());
    if let Some(kept) = kept {
        println!("The replaced database is kept as {}.", kept.display());
    }
    Ok(())
}

/// Removes an SQLite file with its `-wal` and `-shm` files.
fn remove_with_sidecars(file: &Path) {
    for suffix in ["", "-wal", "-shm"] {
        let mut side = file.as_os_str().to_os_string();
        side.push(suffix);
        let _ = std::fs::remove_file(PathBuf::from(side));
    }
}

/// Checks a copied backup: SQLite's integrity check, and Roster's migrations in it.
async fn check_backup(staged: &Path, from: &Path) -> anyhow::Result<()> {
    let url = format!("sqlite://{}", staged.display());
    let backup =
        Store::connect(&url).await.map_err(|e| anyhow::anyhow!("{} is not a database: {e}", from.display()))?;
    let integrity = backup.integrity_check().await;
    let migrations = backup.migration_status().await;
    backup.close().await;
    let integrity = integrity.map_err(|e| anyhow::anyhow!("{} is not a database: {e}", from.display()))?;
    if integrity != "ok" {
        anyhow::bail!("the backup is damaged: {integrity}");
    }
    let migrations = migrations.map_err(|e| anyhow::anyhow!("{e}"))?;
    if !migrations.iter().any(|m| m.state != "pending") {
        anyhow::bail!("{} is not a Roster database", from.display());
    }
    Ok(())
}

/// One check's line.
struct Check {
    ok: bool,
    what: String,
}

/// Checks the installation; fails if any check does.
pub async fn doctor(args: DoctorArgs) -> anyhow::Result<()> {
    let mut checks = Vec::new();
    // The database and its migrations.
    match Store::connect(&args.database.database_url).await {
        Err(e) => checks.push(Check { ok: false, what: format!("database: cannot connect: {e}") }),
        Ok(store) => {
            match store.ping().await {
                Ok(()) => checks.push(Check { ok: true, what: format!("database reachable ({:?})", store.backend()) }),
                Err(e) => checks.push(Check { ok: false, what: format!("database does not answer: {e}") }),
            }
            match store.migration_status().await {
                Ok(m) => {
                    let pending: Vec<String> =
                        m.iter().filter(|m| m.state == "pending").map(|m| m.version.to_string()).collect();
                    let newer = m.iter().filter(|m| m.state == "newer").count();
                    checks.push(if pending.is_empty() {
                        Check {
                            ok: true,
                            what: if newer > 0 {
                                format!("migrations current ({newer} from a newer release)")
                            } else {
                                "migrations current".into()
                            },
                        }
                    } else {
                        Check {
                            ok: false,
                            what: format!("migrations pending: {} (run `roster migrate`)", pending.join(", ")),
                        }
                    });
                }
                Err(e) => checks.push(Check { ok: false, what: format!("migrations: {e}") }),
            }
            store.close().await;
        }
    }
    // The dashboard's built assets.
    let pkg = Path::new(&args.site_root).join("pkg");
    let has = |ext: &str| {
        std::fs::read_dir(&pkg)
            .map(|d| d.flatten().any(|e| e.path().extension().is_some_and(|x| x == ext)))
            .unwrap_or(false)
    };
    let missing: Vec<&str> = ["js", "wasm", "css"].into_iter().filter(|e| !has(e)).collect();
    checks.push(if missing.is_empty() {
        Check { ok: true, what: format!("site assets present ({})", pkg.display()) }
    } else {
        Check {
            ok: false,
            what: format!(
                "site assets missing in {}: no .{} (build them: `cargo leptos build --release --split`, or use the release tarball)",
                pkg.display(),
                missing.join(", .")
            ),
        }
    });
    // The pages' split modules: the manifest the server reads to name each page's files, and
    // every file it names (a partly copied build leaves pages that cannot load their code).
    if missing.is_empty() {
        let hashes = roster_frontend::assets::built();
        checks.push(match roster_frontend::assets::PageModules::read(&args.site_root, "pkg", hashes) {
            Err(e) => Check { ok: false, what: format!("page modules: {e}") },
            Ok(modules) => match modules.missing_files(&args.site_root).as_slice() {
                [] => Check {
                    ok: true,
                    what: format!("page modules: {} in the manifest, every file present", modules.module_count()),
                },
                lost => Check {
                    ok: false,
                    what: format!(
                        "page modules: {} file{} the manifest names {} missing ({}{})",
                        lost.len(),
                        if lost.len() == 1 { "" } else { "s" },
                        if lost.len() == 1 { "is" } else { "are" },
                        lost.iter().take(3).cloned().collect::<Vec<_>>().join(", "),
                        if lost.len() > 3 { ", …" } else { "" }
                    ),
                },
            },
        });
    }
    // The public URL.
    checks.push(match &args.public_url {
        None => Check { ok: true, what: "public URL not set (defaults to http:// plus the bind address)".into() },
        Some(u) => match public_url_problem(u) {
            None => Check { ok: true, what: format!("public URL well-formed ({u})") },
            Some(p) => Check { ok: false, what: format!("public URL {u:?}: {p}") },
        },
    });
    // SMTP.
    checks.push(match roster_shared::service::email::Mailer::from_settings(&args.smtp.settings()) {
        Ok(None) => Check { ok: true, what: "email off (no --smtp-host)".into() },
        Err(e) => Check { ok: false, what: format!("SMTP settings: {e}") },
        Ok(Some(mailer)) => match mailer.test_connection().await {
            Ok(()) => Check { ok: true, what: format!("SMTP reachable ({})", mailer.describe()) },
            Err(e) => Check { ok: false, what: format!("SMTP {}: {e}", mailer.describe()) },
        },
    });
    let failed = checks.iter().filter(|c| !c.ok).count();
    for c in &checks {
        println!("{}  {}", if c.ok { "ok  " } else { "FAIL" }, c.what);
    }
    if failed > 0 {
        anyhow::bail!("{failed} check(s) failed");
    }
    println!("Everything looks right.");
    Ok(())
}

/// What is wrong with a public URL, if anything.
fn public_url_problem(u: &str) -> Option<String> {
    let parsed = match url::Url::parse(u) {
        Ok(p) => p,
        Err(e) => return Some(format!("not a URL ({e})")),
    };
    if !matches!(parsed.scheme(), "http" | "https") {
        return Some("must start with https:// (or http:// for a local trial)".into());
    }
    if parsed.host_str().is_none_or(str::is_empty) {
        return Some("has no host".into());
    }
    if parsed.query().is_some() || parsed.fragment().is_some() {
        return Some("must not have a query or fragment".into());
    }
    if parsed.path() != "/" && !parsed.path().is_empty() {
        return Some("must not have a path: Roster is served at the root of its host".into());
    }
    if parsed.scheme() == "http" && !matches!(parsed.host_str(), Some("localhost" | "127.0.0.1" | "[::1]")) {
        return Some("uses http:// on a non-local host: identity providers and browsers need https://".into());
    }
    None
}

#[cfg(test)]
mod tests {
    #[test]
    fn public_urls_are_checked() {
        assert_eq!(super::public_url_problem("https://roster.example.com"), None);
        assert_eq!(super::public_url_problem("http://127.0.0.1:3000"), None);
        assert!(super::public_url_problem("roster.example.com").is_some());
        assert!(super::public_url_problem("https://roster.example.com/app").is_some());
        assert!(super::public_url_problem("http://roster.example.com").is_some());
        assert!(super::public_url_problem("ftp://roster.example.com").is_some());
    }
}
