//! The command line: `roster serve`, `roster migrate`, `roster tenant create`.
//!
//! Every flag of `serve` can also come from a `ROSTER_*` environment variable, which is how
//! containers and service managers usually configure it.

use std::net::SocketAddr;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// The default database: an SQLite file under `./data`, created on first start.
pub const DEFAULT_DATABASE_URL: &str = "sqlite://data/roster.db";

/// Roster: SCIM 2.0 identity provisioning for many organizations.
#[derive(Debug, Parser)]
#[command(
    name = "roster",
    version = crate::VERSION,
    about = "Roster: SCIM 2.0 identity provisioning for many organizations.",
    propagate_version = true
)]
pub struct Cli {
    /// Log line format: `text` for people, `json` for log collectors. Verbosity follows
    /// `RUST_LOG` (default `info`).
    #[arg(long, global = true, value_enum, env = "ROSTER_LOG_FORMAT", default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,

    #[command(subcommand)]
    pub command: Command,
}

/// How log lines are written.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

/// What to do.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the web server (dashboard, and later the SCIM API); migrates the database first.
    Serve(ServeArgs),
    /// Apply database migrations and exit (with --status: list them and change nothing).
    Migrate(MigrateArgs),
    /// Background jobs (rule evaluations, the hourly maintenance).
    Jobs {
        #[command(subcommand)]
        command: JobsCommand,
    },
    /// Copy a running SQLite database consistently to a file (PostgreSQL: use pg_dump).
    Backup(BackupArgs),
    /// Replace the SQLite database with a backup (stop every `roster serve` on it first).
    Restore(RestoreArgs),
    /// Check this installation: database, migrations, site assets and page modules, public URL, SMTP.
    Doctor(DoctorArgs),
    /// Manage organizations (tenants).
    Tenant {
        #[command(subcommand)]
        command: TenantCommand,
    },
    /// Manage a tenant's SCIM API: switch it on or off, create and revoke tokens.
    Scim {
        #[command(subcommand)]
        command: ScimCommand,
    },
    /// Manage Roster's support staff accounts (read-only access to every tenant).
    Staff {
        #[command(subcommand)]
        command: StaffCommand,
    },
    /// Console accounts (organization admins, support staff).
    Account {
        #[command(subcommand)]
        command: AccountCommand,
    },
    /// Manage a tenant's single sign-on connections (SAML 2.0, OpenID Connect).
    Sso {
        #[command(subcommand)]
        command: SsoCommand,
    },
    /// Load-benchmark a running server's SCIM API (makes a new tenant in its database, seeds it,
    /// prints a table of requests/s and latencies). See README, "Benchmarks".
    Bench(BenchArgs),
}

/// `roster bench`.
#[derive(Clone, Debug, Args)]
pub struct BenchArgs {
    /// The database of the server under test (the bench tenant and its seed go there).
    #[command(flatten)]
    pub database: DatabaseArgs,

    /// The running server's base URL.
    #[arg(long, default_value = "http://127.0.0.1:3000")]
    pub url: String,

    /// How many users to seed into the bench tenant.
    #[arg(long, default_value_t = 100_000)]
    pub users: u64,

    /// Seconds per scenario.
    #[arg(long, default_value_t = 5)]
    pub duration: u64,

    /// Concurrent clients.
    #[arg(long, default_value_t = 8)]
    pub concurrency: usize,

    /// Users in the Entra-style initial sync.
    #[arg(long, default_value_t = 10_000)]
    pub sync_users: usize,

    /// The server's process id, to read its resident memory from /proc.
    #[arg(long)]
    pub server_pid: Option<u32>,

    /// Exit with an error when a target is missed.
    #[arg(long)]
    pub strict: bool,
}

/// `roster scim …`.
#[derive(Debug, Subcommand)]
pub enum ScimCommand {
    /// Switch the tenant's SCIM API on (or off with --disable).
    Enable(ScimEnableArgs),
    /// Manage bearer tokens.
    Token {
        #[command(subcommand)]
        command: ScimTokenCommand,
    },
    /// Manage HTTP Basic credentials (for clients that cannot send bearer tokens).
    Basic {
        #[command(subcommand)]
        command: ScimBasicCommand,
    },
    /// Manage OAuth 2.0 clients (client credentials grant at {base URL}/oauth/token).
    Oauth {
        #[command(subcommand)]
        command: ScimOauthCommand,
    },
}

/// `roster scim oauth …`.
#[derive(Debug, Subcommand)]
pub enum ScimOauthCommand {
    /// Create a client; prints the token endpoint, client id and client secret (once).
    Create(ScimTokenCreateArgs),
}

/// `roster scim basic …`.
#[derive(Debug, Subcommand)]
pub enum ScimBasicCommand {
    /// Create a user name and password; prints them once (revoke with `scim token revoke --token-id <user name>`).
    Create(ScimTokenCreateArgs),
}

/// `roster scim enable`.
#[derive(Clone, Debug, Args)]
pub struct ScimEnableArgs {
    #[command(flatten)]
    pub database: DatabaseArgs,
    /// The tenant id.
    #[arg(long)]
    pub tenant: String,
    /// Switch SCIM off instead: every SCIM request is then refused with 401.
    #[arg(long)]
    pub disable: bool,
}

/// `roster scim token …`.
#[derive(Debug, Subcommand)]
pub enum ScimTokenCommand {
    /// Create a bearer token; prints the tenant's SCIM base URL and the token (shown once).
    Create(ScimTokenCreateArgs),
    /// Revoke a token: requests with it are refused from now on.
    Revoke(ScimTokenRevokeArgs),
    /// List the tenant's credentials (bearer tokens, Basic, OAuth clients; never secrets).
    List(TenantIdArgs),
}

/// `roster scim token create`.
#[derive(Clone, Debug, Args)]
pub struct ScimTokenCreateArgs {
    #[command(flatten)]
    pub database: DatabaseArgs,
    /// The tenant id.
    #[arg(long)]
    pub tenant: String,
    /// A name that says where the token is used (e.g. "Okta production").
    #[arg(long)]
    pub name: String,
    /// Days until the token expires (default: never).
    #[arg(long)]
    pub expires_in: Option<u32>,
    /// The public URL, to print the SCIM base URL.
    #[arg(long, env = "ROSTER_PUBLIC_URL", default_value = "http://127.0.0.1:3000")]
    pub public_url: String,
    /// Print a JSON object.
    #[arg(long)]
    pub json: bool,
}

/// `roster scim token revoke`.
#[derive(Clone, Debug, Args)]
pub struct ScimTokenRevokeArgs {
    #[command(flatten)]
    pub database: DatabaseArgs,
    /// The tenant id.
    #[arg(long)]
    pub tenant: String,
    /// The token's id (printed by `token create`).
    #[arg(long)]
    pub token_id: String,
}

/// Where the database is.
#[derive(Clone, Debug, Args)]
pub struct DatabaseArgs {
    /// Database URL: `sqlite://path/file.db` (embedded; created if missing) or
    /// `postgres://user:password@host:5432/db`.
    #[arg(long, env = "ROSTER_DATABASE_URL", default_value = DEFAULT_DATABASE_URL)]
    pub database_url: String,
}

/// `roster serve`.
#[derive(Clone, Debug, Args)]
pub struct ServeArgs {
    #[command(flatten)]
    pub database: DatabaseArgs,

    /// Address and port to listen on.
    #[arg(long, env = "ROSTER_BIND", default_value = "127.0.0.1:3000")]
    pub bind: SocketAddr,

    /// The URL people and identity providers use to reach this instance (used in SCIM URLs and
    /// to decide whether cookies are `Secure`). Defaults to `http://` plus the bind address.
    #[arg(long, env = "ROSTER_PUBLIC_URL")]
    pub public_url: Option<String>,

    /// Folder with the built dashboard assets (`pkg/roster.js`, `.wasm`, `.css`), as
    /// `cargo leptos build --split` writes them.
    #[arg(long, env = "LEPTOS_SITE_ROOT", default_value = "target/site")]
    pub site_root: String,

    /// Take the client address from the last `X-Forwarded-For` entry. Set this only behind a
    /// reverse proxy that sets that header; otherwise clients could pick their own address.
    #[arg(long, env = "ROSTER_TRUST_FORWARDED_FOR", default_value_t = false)]
    pub trust_forwarded_for: bool,

    /// SCIM requests per second allowed per credential (bursts of twice that); beyond it the
    /// API answers 429 with Retry-After. 0 turns the limit off.
    #[arg(long, env = "ROSTER_SCIM_RATE_LIMIT", default_value_t = 500)]
    pub scim_rate_limit: u32,

    /// Seconds a SCIM request may take before it is abandoned (503; its transaction rolls back).
    /// Reading its body counts, and an expensive search's statement is stopped in the database
    /// by then too.
    #[arg(long, env = "ROSTER_SCIM_REQUEST_TIMEOUT", default_value_t = 30)]
    pub scim_request_timeout: u64,

    /// Self-service sign-ups (new organizations) allowed per client address and hour.
    #[arg(long, env = "ROSTER_SIGN_UPS_PER_HOUR", default_value_t = 10)]
    pub sign_ups_per_hour: u32,

    /// Seconds requests in flight get to finish after SIGTERM or Ctrl-C before the server stops
    /// anyway.
    #[arg(long, env = "ROSTER_SHUTDOWN_GRACE", default_value_t = 20)]
    pub shutdown_grace: u64,

    /// Days SCIM request records (the activity log's traffic) are kept; older ones are deleted
    /// by the hourly maintenance.
    #[arg(long, env = "ROSTER_ACTIVITY_RETENTION_DAYS", default_value_t = 90)]
    pub activity_retention_days: u32,

    /// Days the audit trail (admin, support, SSO and system records in the activity log) is
    /// kept.
    #[arg(long, env = "ROSTER_AUDIT_RETENTION_DAYS", default_value_t = 365)]
    pub audit_retention_days: u32,

    /// Days console sign-in attempts and the SSO sign-in log are kept.
    #[arg(long, env = "ROSTER_SIGN_IN_RETENTION_DAYS", default_value_t = 90)]
    pub sign_in_retention_days: u32,

    /// Days events are kept: the events API serves them and webhook endpoints catch up on them
    /// (an endpoint down for longer misses the oldest).
    #[arg(long, env = "ROSTER_EVENT_RETENTION_DAYS", default_value_t = 30)]
    pub event_retention_days: u32,

    /// Allow webhook endpoints on loopback addresses over plain http (local receivers and
    /// tests only; never in production: the server would call its own host).
    #[arg(long, env = "ROSTER_WEBHOOK_ALLOW_LOOPBACK", default_value_t = false)]
    pub webhook_allow_loopback: bool,

    /// Webhook endpoints this instance delivers to at once.
    #[arg(long, env = "ROSTER_WEBHOOK_WORKERS", default_value_t = 4)]
    pub webhook_workers: usize,

    /// Seconds a background job's claim holds without renewal: after an instance dies, another
    /// takes its jobs over this long after its last renewal.
    #[arg(long, env = "ROSTER_JOB_LEASE_SECONDS", default_value_t = 60)]
    pub job_lease_seconds: u64,

    /// Serve `/metrics` (Prometheus) on this address of its own, e.g. `127.0.0.1:9100`, for a
    /// scraper on a private network.
    #[arg(long, env = "ROSTER_METRICS_BIND")]
    pub metrics_bind: Option<SocketAddr>,

    /// Serve `/metrics` on the main address, to requests with `Authorization: Bearer <token>`.
    #[arg(long, env = "ROSTER_METRICS_TOKEN", hide_env_values = true)]
    pub metrics_token: Option<String>,

    #[command(flatten)]
    pub sso: SsoArgs,

    #[command(flatten)]
    pub smtp: SmtpArgs,
}

/// The server key and the SSO fetch policy (`serve` and `sso` commands).
#[derive(Clone, Debug, Args)]
pub struct SsoArgs {
    /// The server key that seals stored OIDC client secrets: 32 bytes, base64 (`openssl rand
    /// -base64 32`). Every instance of one deployment needs the same key.
    #[arg(long, env = "ROSTER_SECRET_KEY", hide_env_values = true)]
    pub secret_key: Option<String>,

    /// Where the key is kept when `--secret-key` is not given; created (mode 600) on first use.
    #[arg(long, env = "ROSTER_SECRET_KEY_FILE", default_value = "data/secret.key")]
    pub secret_key_file: String,

    /// Allow fetching IdP metadata and OIDC discovery over plain http from loopback addresses
    /// (local test IdPs only; never in production).
    #[arg(long, env = "ROSTER_SSO_ALLOW_HTTP_LOOPBACK", default_value_t = false)]
    pub sso_allow_http_loopback: bool,

    /// The DNS server domain verification asks (`host:port`; the system's resolver by default).
    #[arg(long, env = "ROSTER_DNS_RESOLVER")]
    pub dns_resolver: Option<SocketAddr>,
}

/// `roster account …`.
#[derive(Debug, Subcommand)]
pub enum AccountCommand {
    /// Set a new password for an account (a locked-out admin), read from standard input.
    ResetPassword(AccountResetArgs),
}

/// `roster account reset-password`.
#[derive(Clone, Debug, Args)]
pub struct AccountResetArgs {
    #[command(flatten)]
    pub database: DatabaseArgs,
    /// The account's email address.
    #[arg(long)]
    pub email: String,
    /// Read the new password from standard input (first line). Required.
    #[arg(long, required = true)]
    pub password_stdin: bool,
}

/// `roster sso …`.
#[derive(Debug, Subcommand)]
pub enum SsoCommand {
    /// SAML 2.0 connections.
    Saml {
        #[command(subcommand)]
        command: SsoSamlCommand,
    },
    /// OpenID Connect connections.
    Oidc {
        #[command(subcommand)]
        command: SsoOidcCommand,
    },
    /// List a tenant's connections with Roster's URLs for each.
    List(SsoListArgs),
}

/// `roster sso saml …`.
#[derive(Debug, Subcommand)]
pub enum SsoSamlCommand {
    /// Create a connection from the IdP's metadata XML; prints its id and Roster's URLs.
    Create(SsoSamlCreateArgs),
}

/// `roster sso oidc …`.
#[derive(Debug, Subcommand)]
pub enum SsoOidcCommand {
    /// Create a connection (the issuer's discovery document is fetched to check it).
    Create(SsoOidcCreateArgs),
}

/// What every `sso` command takes.
#[derive(Clone, Debug, Args)]
pub struct SsoCommon {
    #[command(flatten)]
    pub database: DatabaseArgs,

    #[command(flatten)]
    pub sso: SsoArgs,

    /// The tenant id.
    #[arg(long)]
    pub tenant: String,

    /// The server's public URL (Roster's SAML and OIDC URLs start with it).
    #[arg(long, env = "ROSTER_PUBLIC_URL", default_value = "http://127.0.0.1:3000")]
    pub public_url: String,

    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

/// `roster sso saml create`.
#[derive(Clone, Debug, Args)]
pub struct SsoSamlCreateArgs {
    #[command(flatten)]
    pub common: SsoCommon,

    /// The connection's name.
    #[arg(long)]
    pub name: String,

    /// The IdP's metadata XML file.
    #[arg(long)]
    pub metadata_file: std::path::PathBuf,
}

/// `roster sso oidc create`.
#[derive(Clone, Debug, Args)]
pub struct SsoOidcCreateArgs {
    #[command(flatten)]
    pub common: SsoCommon,

    /// The connection's name.
    #[arg(long)]
    pub name: String,

    /// The issuer URL.
    #[arg(long)]
    pub issuer: String,

    /// The client id.
    #[arg(long)]
    pub client_id: String,

    /// Read the client secret from standard input (first line). Required, so that secrets
    /// never appear in shell history or process lists.
    #[arg(long, required = true)]
    pub client_secret_stdin: bool,

    /// Scopes, space-separated (default `openid email profile`).
    #[arg(long, default_value = "")]
    pub scopes: String,
}

/// `roster sso list`.
#[derive(Clone, Debug, Args)]
pub struct SsoListArgs {
    #[command(flatten)]
    pub common: SsoCommon,
}

/// `roster staff …`.
#[derive(Debug, Subcommand)]
pub enum StaffCommand {
    /// Create a support staff account; the password is read from standard input.
    Create(StaffCreateArgs),
    /// Disable a support staff account: it cannot sign in, and its sessions end.
    Disable(StaffEmailArgs),
    /// Enable a disabled support staff account again.
    Enable(StaffEmailArgs),
    /// List support staff accounts.
    List(StaffListArgs),
}

/// `roster staff create`.
#[derive(Clone, Debug, Args)]
pub struct StaffCreateArgs {
    #[command(flatten)]
    pub database: DatabaseArgs,
    /// Their email address (they sign in with it on the usual sign-in page).
    #[arg(long)]
    pub email: String,
    /// Their name (default: the email address).
    #[arg(long)]
    pub name: Option<String>,
    /// Read the password from standard input (first line). Required, so that passwords never
    /// appear in shell history or process lists.
    #[arg(long, required = true)]
    pub password_stdin: bool,
}

/// `roster staff disable` / `enable`.
#[derive(Clone, Debug, Args)]
pub struct StaffEmailArgs {
    #[command(flatten)]
    pub database: DatabaseArgs,
    /// The account's email address.
    #[arg(long)]
    pub email: String,
}

/// `roster staff list`.
#[derive(Clone, Debug, Args)]
pub struct StaffListArgs {
    #[command(flatten)]
    pub database: DatabaseArgs,
    /// Print JSON lines.
    #[arg(long)]
    pub json: bool,
}

/// `roster migrate`.
#[derive(Clone, Debug, Args)]
pub struct MigrateArgs {
    #[command(flatten)]
    pub database: DatabaseArgs,
    /// List applied and pending migrations instead of applying them.
    #[arg(long)]
    pub status: bool,
}

/// `roster jobs …`.
#[derive(Debug, Subcommand)]
pub enum JobsCommand {
    /// List jobs, newest first.
    List(JobsListArgs),
}

/// `roster jobs list`.
#[derive(Clone, Debug, Args)]
pub struct JobsListArgs {
    #[command(flatten)]
    pub database: DatabaseArgs,
    /// Only this organization's.
    #[arg(long)]
    pub tenant: Option<String>,
    /// Only in this state: queued, running, done, failed, cancelled.
    #[arg(long)]
    pub state: Option<String>,
    /// At most this many.
    #[arg(long, default_value_t = 50)]
    pub limit: i64,
    /// Print JSON lines.
    #[arg(long)]
    pub json: bool,
}

/// `roster backup`.
#[derive(Clone, Debug, Args)]
pub struct BackupArgs {
    #[command(flatten)]
    pub database: DatabaseArgs,
    /// The file to write (must not exist).
    #[arg(long)]
    pub to: std::path::PathBuf,
}

/// `roster restore`.
#[derive(Clone, Debug, Args)]
pub struct RestoreArgs {
    #[command(flatten)]
    pub database: DatabaseArgs,
    /// The backup to restore (a file `roster backup` wrote).
    #[arg(long)]
    pub from: std::path::PathBuf,
}

/// `roster doctor`.
#[derive(Clone, Debug, Args)]
pub struct DoctorArgs {
    #[command(flatten)]
    pub database: DatabaseArgs,
    /// Where the built dashboard assets are.
    #[arg(long, env = "LEPTOS_SITE_ROOT", default_value = "target/site")]
    pub site_root: String,
    /// The public URL `roster serve` is configured with.
    #[arg(long, env = "ROSTER_PUBLIC_URL")]
    pub public_url: Option<String>,
    #[command(flatten)]
    pub smtp: SmtpArgs,
}

/// Outgoing email (`serve`, `doctor`): off unless `--smtp-host` is given.
#[derive(Clone, Debug, Args)]
pub struct SmtpArgs {
    /// The SMTP server's host name; email is off without it.
    #[arg(long, env = "ROSTER_SMTP_HOST")]
    pub smtp_host: Option<String>,
    /// Its port (587 with STARTTLS, 465 with implicit TLS, 25 or a local relay's port).
    #[arg(long, env = "ROSTER_SMTP_PORT", default_value_t = 587)]
    pub smtp_port: u16,
    /// How the connection is secured: `starttls`, `tls` (implicit), or `none` (a relay on
    /// loopback or a private network only).
    #[arg(long, env = "ROSTER_SMTP_SECURITY", default_value = "starttls")]
    pub smtp_security: String,
    /// The user name to authenticate with, if the server asks for one.
    #[arg(long, env = "ROSTER_SMTP_USERNAME")]
    pub smtp_username: Option<String>,
    /// Its password.
    #[arg(long, env = "ROSTER_SMTP_PASSWORD", hide_env_values = true)]
    pub smtp_password: Option<String>,
    /// The sender, e.g. `Roster <roster@example.com>`.
    #[arg(long, env = "ROSTER_SMTP_FROM", default_value = "Roster <roster@localhost>")]
    pub smtp_from: String,
}

/// `roster tenant show | disable | enable`.
#[derive(Clone, Debug, Args)]
pub struct TenantIdArgs {
    #[command(flatten)]
    pub database: DatabaseArgs,
    /// The tenant id.
    #[arg(long)]
    pub tenant: String,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

/// `roster tenant safety`.
#[derive(Clone, Debug, Args)]
pub struct TenantSafetyArgs {
    #[command(flatten)]
    pub tenant: TenantIdArgs,
    /// Switch the mass-deprovisioning brake on or off.
    #[arg(long, value_parser = ["on", "off"])]
    pub brake: Option<String>,
    /// The share of active users (percent) that may lose access within the window.
    #[arg(long)]
    pub brake_percent: Option<u32>,
    /// ... but never fewer than this many users.
    #[arg(long)]
    pub brake_min_users: Option<u32>,
    /// The brake's window, in minutes.
    #[arg(long)]
    pub brake_window_minutes: Option<u32>,
    /// What a SCIM DELETE of a user does.
    #[arg(long, value_parser = ["delete", "soft"])]
    pub delete_policy: Option<String>,
    /// How long soft-deleted users are kept, in days.
    #[arg(long)]
    pub soft_delete_days: Option<u32>,
}

/// `roster tenant list`.
#[derive(Clone, Debug, Args)]
pub struct TenantListArgs {
    #[command(flatten)]
    pub database: DatabaseArgs,
    /// Print JSON lines.
    #[arg(long)]
    pub json: bool,
}

/// `roster tenant export`.
#[derive(Clone, Debug, Args)]
pub struct TenantExportArgs {
    #[command(flatten)]
    pub database: DatabaseArgs,
    /// The tenant id.
    #[arg(long)]
    pub tenant: String,
    /// The file to write (`-`: standard output).
    #[arg(long)]
    pub to: String,
}

/// `roster tenant delete`.
#[derive(Clone, Debug, Args)]
pub struct TenantDeleteArgs {
    #[command(flatten)]
    pub database: DatabaseArgs,
    /// The tenant id.
    #[arg(long)]
    pub tenant: String,
    /// The tenant id again, to confirm: everything of the organization is deleted, its
    /// activity included, and cannot be brought back (export it first).
    #[arg(long)]
    pub confirm: String,
}

/// `roster tenant …`.
#[derive(Debug, Subcommand)]
pub enum TenantCommand {
    /// Create an organization and its first organization admin; prints the tenant id.
    Create(TenantCreateArgs),
    /// List organizations with their counts.
    List(TenantListArgs),
    /// One organization: counts, credentials, domains, latest jobs.
    Show(TenantIdArgs),
    /// Refuse the organization's SCIM requests, sign-ins and dashboard (nothing is deleted).
    Disable(TenantIdArgs),
    /// Undo `disable`.
    Enable(TenantIdArgs),
    /// Write the organization's settings, directory and activity as one JSON document.
    Export(TenantExportArgs),
    /// Delete the organization and every row of it, in batches.
    Delete(TenantDeleteArgs),
    /// Show or change the organization's provisioning safety: the mass-deprovisioning brake and
    /// the delete policy (as on its dashboard's Safety page).
    Safety(TenantSafetyArgs),
    /// An organization's email domains (people at a verified domain are sent to its SSO).
    Domain {
        #[command(subcommand)]
        command: TenantDomainCommand,
    },
}

/// `roster tenant domain …`.
#[derive(Debug, Subcommand)]
pub enum TenantDomainCommand {
    /// Add a domain to verify; prints the TXT record to create.
    Add(TenantDomainArgs),
    /// Verify a domain by its DNS TXT record (or, with --force, on the operator's word).
    Verify(TenantDomainVerifyArgs),
    /// List the organization's domains and their state.
    List(TenantDomainListArgs),
}

/// `roster tenant domain add`.
#[derive(Clone, Debug, Args)]
pub struct TenantDomainArgs {
    #[command(flatten)]
    pub database: DatabaseArgs,
    /// The tenant id.
    #[arg(long)]
    pub tenant: String,
    /// The domain (e.g. acme.com).
    #[arg(long)]
    pub domain: String,
}

/// `roster tenant domain verify`.
#[derive(Clone, Debug, Args)]
pub struct TenantDomainVerifyArgs {
    #[command(flatten)]
    pub domain: TenantDomainArgs,
    /// The DNS server to ask (`host:port`; the system's resolver by default).
    #[arg(long, env = "ROSTER_DNS_RESOLVER")]
    pub dns_resolver: Option<SocketAddr>,
    /// Mark it verified without looking at DNS (the operator has checked otherwise).
    #[arg(long)]
    pub force: bool,
}

/// `roster tenant domain list`.
#[derive(Clone, Debug, Args)]
pub struct TenantDomainListArgs {
    #[command(flatten)]
    pub database: DatabaseArgs,
    /// The tenant id.
    #[arg(long)]
    pub tenant: String,
}

/// `roster tenant create`.
#[derive(Clone, Debug, Args)]
pub struct TenantCreateArgs {
    #[command(flatten)]
    pub database: DatabaseArgs,

    /// The organization's name.
    #[arg(long)]
    pub name: String,

    /// The first organization admin's email address (they sign in with it).
    #[arg(long)]
    pub admin_email: String,

    /// The first admin's display name (default: the part of the email before the `@`).
    #[arg(long)]
    pub admin_name: Option<String>,

    /// Read the admin's password from standard input (first line). Required, so that
    /// passwords never appear in shell history or process lists.
    #[arg(long, required = true)]
    pub admin_password_stdin: bool,

    /// Print a JSON object instead of the bare tenant id.
    #[arg(long)]
    pub json: bool,
}

impl SmtpArgs {
    /// The email settings these flags describe.
    pub fn settings(&self) -> roster_shared::service::email::EmailSettings {
        roster_shared::service::email::EmailSettings {
            host: self.smtp_host.clone(),
            port: self.smtp_port,
            security: self.smtp_security.clone(),
            username: self.smtp_username.clone(),
            password: self.smtp_password.clone(),
            from: self.smtp_from.clone(),
        }
    }
}

impl ServeArgs {
    /// The public URL without a trailing slash.
    pub fn public_url(&self) -> String {
        self.public_url.clone().unwrap_or_else(|| format!("http://{}", self.bind)).trim_end_matches('/').to_string()
    }
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    #[test]
    fn the_command_line_is_consistent() {
        super::Cli::command().debug_assert();
    }
}
