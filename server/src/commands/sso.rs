//! `roster sso …`: an organization's SSO connections from the command line (operators, tests),
//! and the server key that seals OIDC client secrets.

use std::sync::Arc;

use roster_shared::dto::{OidcConnectionInput, SamlConnectionInput};
use roster_shared::ids::TenantId;
use roster_shared::service::activity::Actor;
use roster_shared::service::sso::{connections, fetch::FetchPolicy, SealKey, SsoSettings};

use crate::cli::{SsoArgs, SsoCommand, SsoCommon, SsoOidcCommand, SsoSamlCommand};

impl SsoArgs {
    /// The SSO settings: the key from `--secret-key`, else from the key file (made on first
    /// use, mode 600).
    pub fn settings(&self) -> anyhow::Result<SsoSettings> {
        let key = match &self.secret_key {
            Some(text) => SealKey::from_base64(text).ok_or_else(|| {
                anyhow::anyhow!("ROSTER_SECRET_KEY must be 32 bytes in base64 (openssl rand -base64 32)")
            })?,
            None => key_from_file(std::path::Path::new(&self.secret_key_file))?,
        };
        let mut fetch = FetchPolicy::default();
        fetch.allow_http_loopback = self.sso_allow_http_loopback;
        Ok(SsoSettings { key: Arc::new(key), fetch, dns_resolver: self.dns_resolver })
    }
}

fn key_from_file(path: &std::path::Path) -> anyhow::Result<SealKey> {
    match std::fs::read_to_string(path) {
        Ok(text) => SealKey::from_base64(&text)
            .ok_or_else(|| anyhow::anyhow!("{} does not hold a 32-byte base64 key", path.display())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            use std::io::Write;
            use std::os::unix::fs::OpenOptionsExt;
            if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                std::fs::create_dir_all(dir)?;
            }
            let key = SealKey::random();
            let mut file = std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(path)
                .map_err(|e| anyhow::anyhow!("cannot create the key file {}: {e}", path.display()))?;
            writeln!(file, "{}", key.to_base64())?;
            tracing::info!(file = %path.display(), "created the server key (keep it: stored OIDC client secrets need it)");
            Ok(key)
        }
        Err(e) => Err(anyhow::anyhow!("cannot read the key file {}: {e}", path.display())),
    }
}

fn tenant_of(common: &SsoCommon) -> anyhow::Result<TenantId> {
    TenantId::parse(&common.tenant).ok_or_else(|| anyhow::anyhow!("--tenant is not a tenant id"))
}

fn print(common: &SsoCommon, c: &roster_shared::store::ConnectionRecord) {
    let view = connections::view(common.public_url.trim_end_matches('/'), c);
    if common.json {
        let value = serde_json::json!({
            "id": view.id, "name": view.name, "protocol": view.protocol, "enabled": view.enabled,
            "idp": view.idp_id, "sp_entity_id": view.sp.entity_id, "acs_url": view.sp.acs_url,
            "metadata_url": view.sp.metadata_url, "redirect_uri": view.sp.redirect_uri, "sign_in_url": view.sp.sign_in_url,
        });
        println!("{value}");
    } else {
        println!(
            "{}  {}  {}  {}",
            view.id,
            view.protocol.label(),
            view.name,
            if view.enabled { "enabled" } else { "disabled" }
        );
        for (label, value) in [
            ("IdP", &view.idp_id),
            ("SP entity ID", &view.sp.entity_id),
            ("ACS URL", &view.sp.acs_url),
            ("Redirect URI", &view.sp.redirect_uri),
            ("Sign-in URL", &view.sp.sign_in_url),
        ] {
            if !value.is_empty() {
                println!("  {label}: {value}");
            }
        }
    }
}

/// Runs an `sso` command.
pub async fn run(command: SsoCommand) -> anyhow::Result<()> {
    let actor = Actor::admin("cli");
    match command {
        SsoCommand::Saml { command: SsoSamlCommand::Create(args) } => {
            let xml = std::fs::read_to_string(&args.metadata_file)
                .map_err(|e| anyhow::anyhow!("cannot read {}: {e}", args.metadata_file.display()))?;
            let settings = args.common.sso.settings()?;
            let store = super::open_store(&args.common.database.database_url).await?;
            let tenant = tenant_of(&args.common)?;
            let input = SamlConnectionInput { name: args.name, metadata_xml: xml, ..SamlConnectionInput::default() };
            let c = connections::create_saml(&store, &settings, &tenant, &actor, &input).await?;
            print(&args.common, &c);
        }
        SsoCommand::Oidc { command: SsoOidcCommand::Create(args) } => {
            let secret = super::read_password_stdin()?;
            let settings = args.common.sso.settings()?;
            let store = super::open_store(&args.common.database.database_url).await?;
            let tenant = tenant_of(&args.common)?;
            let input = OidcConnectionInput {
                name: args.name,
                issuer: args.issuer,
                client_id: args.client_id,
                client_secret: secret,
                scopes: args.scopes,
            };
            let c = connections::create_oidc(&store, &settings, &tenant, &actor, &input).await?;
            print(&args.common, &c);
        }
        SsoCommand::List(args) => {
            let store = super::open_store(&args.common.database.database_url).await?;
            let tenant = tenant_of(&args.common)?;
            for c in store.tenant(&tenant).sso_connections().await? {
                print(&args.common, &c);
            }
        }
    }
    Ok(())
}

/// Runs a `tenant domain` command.
pub async fn domain(command: crate::cli::TenantDomainCommand) -> anyhow::Result<()> {
    use crate::cli::TenantDomainCommand as C;
    use roster_shared::service::sso::domains;
    let actor = Actor::admin("cli");
    let parse = |t: &str| TenantId::parse(t).ok_or_else(|| anyhow::anyhow!("--tenant is not a tenant id"));
    match command {
        C::Add(args) => {
            let store = super::open_store(&args.database.database_url).await?;
            let tenant = parse(&args.tenant)?;
            let domain = domains::add(&store, &tenant, &actor, &args.domain).await?;
            let view = domains::list(&store, &tenant).await?.into_iter().find(|d| d.domain == domain);
            if let Some(v) = view {
                println!("Create this DNS TXT record, then run `roster tenant domain verify`:");
                println!("  {}  TXT  \"{}\"", v.txt_name, v.txt_value);
            }
        }
        C::Verify(args) => {
            let store = super::open_store(&args.domain.database.database_url).await?;
            let tenant = parse(&args.domain.tenant)?;
            domains::verify(&store, args.dns_resolver, &tenant, &actor, &args.domain.domain, args.force).await?;
            println!("{} is verified", domains::normalized(&args.domain.domain)?);
        }
        C::List(args) => {
            let store = super::open_store(&args.database.database_url).await?;
            for d in domains::list(&store, &parse(&args.tenant)?).await? {
                let state = if d.verified_at_ms.is_some() { "verified" } else { "pending" };
                println!("{}  {state}  {}  TXT  \"{}\"", d.domain, d.txt_name, d.txt_value);
            }
        }
    }
    Ok(())
}
