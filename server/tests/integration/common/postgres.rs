//! A throwaway PostgreSQL for the tests, unless `ROSTER_TEST_POSTGRES_URL` names one.
//!
//! The cluster is created once per test binary: `initdb` in a temp dir (as `nobody` when the
//! tests run as root, which PostgreSQL refuses), a server on a free loopback port with fsync
//! off, and a watchdog process that stops the server and removes the dir when the test binary
//! exits. Each test gets its own database in it. If PostgreSQL cannot be started, the tests
//! fail with the reason: they never skip.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;

static SERVER: OnceLock<Result<String, String>> = OnceLock::new();

/// A URL to a new, empty database.
pub async fn fresh_database() -> String {
    let base = match std::env::var("ROSTER_TEST_POSTGRES_URL") {
        Ok(url) if !url.is_empty() => url,
        _ => SERVER
            .get_or_init(start_cluster)
            .clone()
            .unwrap_or_else(|e| panic!("PostgreSQL tests need a server and none could be started: {e}")),
    };
    let name = format!("roster_test_{}", uuid::Uuid::new_v4().simple());
    let mut admin = url::Url::parse(&base).expect("ROSTER_TEST_POSTGRES_URL is a URL");
    use sqlx::Connection;
    let mut conn = sqlx::PgConnection::connect(admin.as_str())
        .await
        .unwrap_or_else(|e| panic!("cannot connect to PostgreSQL at {base}: {e}"));
    sqlx::query(&format!("CREATE DATABASE {name}")).execute(&mut conn).await.expect("create test database");
    conn.close().await.ok();
    admin.set_path(&format!("/{name}"));
    admin.to_string()
}

fn run(cmd: &mut Command) -> Result<(), String> {
    let out = cmd.output().map_err(|e| format!("cannot run {cmd:?}: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{cmd:?} failed ({}): {}{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ))
    }
}

fn bin_dir() -> Result<PathBuf, String> {
    if let Ok(dir) = std::env::var("ROSTER_PG_BIN") {
        return Ok(PathBuf::from(dir));
    }
    let mut versions: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .map_err(|e| format!("no /usr/lib/postgresql ({e}); install PostgreSQL (apt-get install postgresql) or set ROSTER_TEST_POSTGRES_URL"))?
        .filter_map(|e| e.ok().map(|e| e.path().join("bin")))
        .filter(|p| p.join("initdb").exists())
        .collect();
    versions.sort();
    versions.pop().ok_or_else(|| "no PostgreSQL under /usr/lib/postgresql".to_string())
}

fn is_root() -> bool {
    Command::new("id").arg("-u").output().map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0").unwrap_or(false)
}

/// `cmd` run as `nobody` when we are root.
fn as_db_user(program: &Path, root: bool) -> Command {
    if root {
        let mut c = Command::new("runuser");
        c.args(["-u", "nobody", "--"]).arg(program);
        c
    } else {
        Command::new(program)
    }
}

fn start_cluster() -> Result<String, String> {
    let bin = bin_dir()?;
    let root = is_root();
    let dir = tempfile::Builder::new().prefix("roster-pg-").tempdir().map_err(|e| format!("temp dir: {e}"))?.keep();
    if root {
        run(Command::new("chown").args(["-R", "nobody"]).arg(&dir))?;
    }
    let data = dir.join("data");
    run(as_db_user(&bin.join("initdb"), root).arg("-D").arg(&data).args([
        "-U",
        "roster",
        "--auth=trust",
        "--encoding=UTF8",
        "--locale=C",
        "-N",
    ]))?;
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map_err(|e| format!("no free port: {e}"))?
        .port();
    let opts = format!(
        "-p {port} -k {} -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=300",
        dir.display()
    );
    run(as_db_user(&bin.join("pg_ctl"), root)
        .arg("-D")
        .arg(&data)
        .arg("-l")
        .arg(dir.join("server.log"))
        .args(["-o", &opts, "-w", "-t", "60", "start"]))?;

    // Stop the server and remove its files once this test process is gone.
    let stop = format!(
        "while kill -0 {pid} 2>/dev/null; do sleep 1; done; {runas}'{pg_ctl}' -D '{data}' -m immediate stop >/dev/null 2>&1; rm -rf '{dir}'",
        pid = std::process::id(),
        runas = if root { "runuser -u nobody -- " } else { "" },
        pg_ctl = bin.join("pg_ctl").display(),
        data = data.display(),
        dir = dir.display(),
    );
    Command::new("setsid")
        .args(["sh", "-c", &stop])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("cannot start the cleanup watchdog: {e}"))?;
    eprintln!("started a throwaway PostgreSQL on 127.0.0.1:{port} in {}", dir.display());
    Ok(format!("postgres://roster@127.0.0.1:{port}/postgres"))
}
