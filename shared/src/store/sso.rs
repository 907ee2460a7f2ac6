//! Single sign-on: connections, flows a browser started, assertions already used, identity
//! links and the sign-in log.
//!
//! A connection's id is in Roster's public URLs (`/sso/saml/{id}/acs`), which carry no tenant:
//! [`Store::sso_connection`] finds it, with its tenant, the way the SCIM middleware finds a
//! credential. Everything else goes through the tenant's handle.

use sqlx::Row;

use super::tx::{with_tx, TenantTx};
use super::{unique_violation, with_pool, Store, TenantStore, Unique};
use crate::dto::{SignInOutcome, SignInRecord, SsoProtocol};
use crate::error::{DomainError, DomainResult, Taken};
use crate::ids::TenantId;

/// A connection as stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConnectionRecord {
    /// Its id (a UUID).
    pub id: String,
    /// Its organization.
    pub tenant_id: TenantId,
    /// SAML or OIDC.
    pub protocol: SsoProtocol,
    /// Its name.
    pub name: String,
    /// Whether people can sign in through it.
    pub enabled: bool,
    /// SAML: whether IdP-initiated responses are accepted.
    pub allow_idp_initiated: bool,
    /// The IdP's entity ID or issuer (unique across organizations).
    pub idp_key: String,
    /// The protocol's settings, JSON (see `service::sso`).
    pub config: String,
    /// Just-in-time provisioning settings, JSON ([`crate::dto::JitSettings`]); `None`: off.
    pub jit: Option<String>,
    /// Epoch ms.
    pub created_at: i64,
}

/// A sign-in this instance sent a browser to the IdP for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FlowRecord {
    /// The SAML request id or the OIDC state.
    pub id: String,
    /// The connection's organization.
    pub tenant_id: TenantId,
    /// The connection.
    pub connection_id: String,
    /// SHA-256 (hex) of the browser's flow cookie.
    pub browser_hash: String,
    /// OIDC: the nonce sent.
    pub nonce: Option<String>,
    /// OIDC: the PKCE verifier.
    pub pkce_verifier: Option<String>,
    /// A test sign-in: the admin who started it (the result goes to the SSO page, nobody is
    /// signed in).
    pub test_by: Option<String>,
    /// Epoch ms.
    pub expires_at: i64,
}

/// A sign-in attempt to log.
#[derive(Clone, Debug, Default)]
pub struct NewSignIn {
    /// The connection, if one was found.
    pub connection_id: Option<String>,
    /// Its name (or what the URL named).
    pub connection_name: String,
    /// Signed in or not.
    pub signed_in: bool,
    /// The refusal's code.
    pub reason: Option<String>,
    /// What happened.
    pub message: String,
    /// The subject read.
    pub subject: Option<String>,
    /// The email read.
    pub email: Option<String>,
    /// The user signed in as.
    pub user_id: Option<String>,
    /// A test sign-in's admin.
    pub test_by: Option<String>,
    /// The client's address.
    pub client_ip: Option<String>,
    /// The assertion or claims, secrets removed.
    pub detail: Option<String>,
}

const SIGN_IN_SELECT: &str =
    "SELECT id, at, connection_id, connection_name, outcome, reason, message, subject, email, \
     user_id, test_by, client_ip, detail FROM sso_sign_ins";

const CONNECTION_COLUMNS: &str =
    "id, tenant_id, protocol, name, enabled, allow_idp_initiated, idp_key, config, jit, created_at";

fn connection_from_row<R>(row: &R) -> DomainResult<ConnectionRecord>
where
    R: Row,
    for<'c> &'c str: sqlx::ColumnIndex<R>,
    String: for<'r> sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    Option<String>: for<'r> sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    i64: for<'r> sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    bool: for<'r> sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
{
    let protocol: String = row.try_get("protocol")?;
    Ok(ConnectionRecord {
        id: row.try_get("id")?,
        tenant_id: TenantId::from_store(row.try_get("tenant_id")?),
        protocol: SsoProtocol::parse(&protocol)
            .ok_or_else(|| DomainError::Internal(format!("stored SSO protocol {protocol:?}")))?,
        name: row.try_get("name")?,
        enabled: row.try_get("enabled")?,
        allow_idp_initiated: row.try_get("allow_idp_initiated")?,
        idp_key: row.try_get("idp_key")?,
        config: row.try_get("config")?,
        jit: row.try_get("jit")?,
        created_at: row.try_get("created_at")?,
    })
}

fn sign_in_from_row<R>(row: &R) -> DomainResult<SignInRecord>
where
    R: Row,
    for<'c> &'c str: sqlx::ColumnIndex<R>,
    String: for<'r> sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    Option<String>: for<'r> sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    i64: for<'r> sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
{
    let outcome: String = row.try_get("outcome")?;
    Ok(SignInRecord {
        id: row.try_get("id")?,
        at_ms: row.try_get("at")?,
        connection_id: row.try_get("connection_id")?,
        connection_name: row.try_get("connection_name")?,
        outcome: SignInOutcome::parse(&outcome)
            .ok_or_else(|| DomainError::Internal(format!("stored sign-in outcome {outcome:?}")))?,
        reason: row.try_get("reason")?,
        message: row.try_get("message")?,
        subject: row.try_get("subject")?,
        email: row.try_get("email")?,
        user_id: row.try_get("user_id")?,
        test_by: row.try_get("test_by")?,
        client_ip: row.try_get("client_ip")?,
        detail: row.try_get("detail")?,
    })
}

fn taken(e: sqlx::Error) -> DomainError {
    match unique_violation(&e) {
        Some(Unique::SsoIdpKey) => DomainError::Taken(Taken::SsoIdp),
        _ => e.into(),
    }
}

impl Store {
    /// The connection with this id, in whichever organization it is.
    pub async fn sso_connection(&self, id: &str) -> DomainResult<Option<ConnectionRecord>> {
        let sql = format!("SELECT {CONNECTION_COLUMNS} FROM sso_connections WHERE id = $1");
        with_pool!(self, |p| {
            let row = sqlx::query(&sql).bind(id).fetch_optional(p).await?;
            row.as_ref().map(connection_from_row).transpose()
        })
    }

    /// Stores a flow a browser is sent to the IdP for.
    pub async fn insert_sso_flow(&self, f: &FlowRecord, now_ms: i64) -> DomainResult<()> {
        with_pool!(self, |p| {
            sqlx::query(
                "INSERT INTO sso_flows (id, tenant_id, connection_id, browser_hash, nonce, pkce_verifier, test_by, created_at, expires_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
            )
            .bind(&f.id)
            .bind(f.tenant_id.as_str())
            .bind(&f.connection_id)
            .bind(&f.browser_hash)
            .bind(&f.nonce)
            .bind(&f.pkce_verifier)
            .bind(&f.test_by)
            .bind(now_ms)
            .bind(f.expires_at)
            .execute(p)
            .await
            .map(|_| ())
        })?;
        Ok(())
    }

    /// Takes (deletes and returns) the flow `id` of `connection_id`, if it exists, belongs to
    /// the browser whose cookie hashes to `browser_hash`, and has not expired. A flow is used
    /// once: a second response to the same request finds nothing.
    pub async fn take_sso_flow(
        &self,
        connection_id: &str,
        id: &str,
        browser_hash: &str,
        now_ms: i64,
    ) -> DomainResult<Option<FlowRecord>> {
        let row = with_pool!(self, |p| {
            sqlx::query(
                "DELETE FROM sso_flows WHERE id = $1 AND connection_id = $2 AND browser_hash = $3 AND expires_at > $4 \
                 RETURNING id, tenant_id, connection_id, browser_hash, nonce, pkce_verifier, test_by, expires_at",
            )
            .bind(id)
            .bind(connection_id)
            .bind(browser_hash)
            .bind(now_ms)
            .fetch_optional(p)
            .await?
            .map(|r| -> Result<FlowRecord, sqlx::Error> {
                Ok(FlowRecord {
                    id: r.try_get("id")?,
                    tenant_id: TenantId::from_store(r.try_get("tenant_id")?),
                    connection_id: r.try_get("connection_id")?,
                    browser_hash: r.try_get("browser_hash")?,
                    nonce: r.try_get("nonce")?,
                    pkce_verifier: r.try_get("pkce_verifier")?,
                    test_by: r.try_get("test_by")?,
                    expires_at: r.try_get("expires_at")?,
                })
            })
            .transpose()
        })?;
        Ok(row)
    }

    /// Records that `assertion_id` of `connection_id` was accepted; `false` if it already was
    /// (a replay).
    pub async fn first_use_of_assertion(
        &self,
        connection_id: &str,
        assertion_id: &str,
        expires_at: i64,
    ) -> DomainResult<bool> {
        let n = with_pool!(self, |p| {
            sqlx::query(
                "INSERT INTO sso_seen_assertions (connection_id, assertion_id, expires_at) VALUES ($1, $2, $3) \
                 ON CONFLICT (connection_id, assertion_id) DO NOTHING",
            )
            .bind(connection_id)
            .bind(assertion_id)
            .bind(expires_at)
            .execute(p)
            .await
            .map(|r| r.rows_affected())
        })?;
        Ok(n == 1)
    }

    /// Deletes expired flows and assertion ids past their validity; returns how many.
    pub async fn purge_expired_sso(&self, now_ms: i64) -> DomainResult<u64> {
        let n = with_pool!(self, |p| {
            let flows = sqlx::query("DELETE FROM sso_flows WHERE expires_at < $1")
                .bind(now_ms)
                .execute(p)
                .await?
                .rows_affected();
            let seen = sqlx::query("DELETE FROM sso_seen_assertions WHERE expires_at < $1")
                .bind(now_ms)
                .execute(p)
                .await?
                .rows_affected();
            Ok::<u64, sqlx::Error>(flows + seen)
        })?;
        Ok(n)
    }
}

impl TenantTx<'_> {
    /// Stores a new connection; `Taken(SsoIdp)` if another connection has its IdP.
    pub async fn insert_sso_connection(&mut self, c: &ConnectionRecord, now_ms: i64) -> DomainResult<()> {
        with_tx!(self, |conn| {
            sqlx::query(
                "INSERT INTO sso_connections (id, tenant_id, protocol, name, enabled, allow_idp_initiated, idp_key, config, created_at, updated_at, jit) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $9, $10)",
            )
            .bind(&c.id)
            .bind(self.id.as_str())
            .bind(c.protocol.as_str())
            .bind(&c.name)
            .bind(c.enabled)
            .bind(c.allow_idp_initiated)
            .bind(&c.idp_key)
            .bind(&c.config)
            .bind(now_ms)
            .bind(&c.jit)
            .execute(conn)
            .await
            .map(|_| ())
        })
        .map_err(taken)
    }

    /// Switches a connection on or off and says whether it accepts IdP-initiated responses;
    /// returns whether it exists in this tenant.
    pub async fn set_sso_connection_flags(
        &mut self,
        id: &str,
        enabled: bool,
        allow_idp_initiated: bool,
        now_ms: i64,
    ) -> DomainResult<bool> {
        let n = with_tx!(self, |c| {
            sqlx::query(
                "UPDATE sso_connections SET enabled = $1, allow_idp_initiated = $2, updated_at = $3 WHERE tenant_id = $4 AND id = $5",
            )
            .bind(enabled)
            .bind(allow_idp_initiated)
            .bind(now_ms)
            .bind(self.id.as_str())
            .bind(id)
            .execute(c)
            .await
            .map(|r| r.rows_affected())
        })?;
        Ok(n > 0)
    }

    /// Deletes a connection (its flows, seen assertions and identity links go with it);
    /// returns whether it existed in this tenant.
    pub async fn delete_sso_connection(&mut self, id: &str) -> DomainResult<bool> {
        let n = with_tx!(self, |c| {
            sqlx::query("DELETE FROM sso_connections WHERE tenant_id = $1 AND id = $2")
                .bind(self.id.as_str())
                .bind(id)
                .execute(c)
                .await
                .map(|r| r.rows_affected())
        })?;
        Ok(n > 0)
    }

    /// Links the IdP identity (connection, subject) to `user_id`, or records a sign-in of an
    /// existing link.
    pub async fn link_sso_identity(
        &mut self,
        connection_id: &str,
        subject: &str,
        user_id: &str,
        now_ms: i64,
    ) -> DomainResult<()> {
        with_tx!(self, |c| {
            sqlx::query(
                "INSERT INTO sso_identities (tenant_id, connection_id, subject, user_id, created_at, last_sign_in_at) \
                 VALUES ($1, $2, $3, $4, $5, $5) \
                 ON CONFLICT (tenant_id, connection_id, subject) DO UPDATE SET user_id = EXCLUDED.user_id, \
                 last_sign_in_at = EXCLUDED.last_sign_in_at, deprovisioned_at = NULL",
            )
            .bind(self.id.as_str())
            .bind(connection_id)
            .bind(subject)
            .bind(user_id)
            .bind(now_ms)
            .execute(c)
            .await
            .map(|_| ())
        })?;
        Ok(())
    }

    /// Stores a connection's just-in-time settings (JSON); returns whether it exists here.
    pub async fn set_sso_connection_jit(&mut self, id: &str, jit: &str, now_ms: i64) -> DomainResult<bool> {
        let n = with_tx!(self, |c| {
            sqlx::query("UPDATE sso_connections SET jit = $1, updated_at = $2 WHERE tenant_id = $3 AND id = $4")
                .bind(jit)
                .bind(now_ms)
                .bind(self.id.as_str())
                .bind(id)
                .execute(c)
                .await
                .map(|r| r.rows_affected())
        })?;
        Ok(n > 0)
    }

    /// Marks the identities linked to `user_id` as deprovisioned (the IdP's provisioning
    /// deleted the user): they are refused until linked again.
    pub async fn deprovision_sso_identities(&mut self, user_id: &str, now_ms: i64) -> DomainResult<()> {
        with_tx!(self, |c| {
            sqlx::query("UPDATE sso_identities SET deprovisioned_at = $1 WHERE tenant_id = $2 AND user_id = $3")
                .bind(now_ms)
                .bind(self.id.as_str())
                .bind(user_id)
                .execute(c)
                .await
                .map(|_| ())
        })?;
        Ok(())
    }

    /// Removes the link of an IdP identity to `user_id`; returns whether there was one.
    pub async fn unlink_sso_identity(
        &mut self,
        connection_id: &str,
        subject: &str,
        user_id: &str,
    ) -> DomainResult<bool> {
        let n = with_tx!(self, |c| {
            sqlx::query(
                "DELETE FROM sso_identities WHERE tenant_id = $1 AND connection_id = $2 AND subject = $3 AND user_id = $4",
            )
            .bind(self.id.as_str())
            .bind(connection_id)
            .bind(subject)
            .bind(user_id)
            .execute(c)
            .await
            .map(|r| r.rows_affected())
        })?;
        Ok(n > 0)
    }

    /// Replaces the group names a just-in-time user's groups claim carried (normalized).
    pub async fn set_claim_groups(&mut self, user_id: &str, names_norm: &[String]) -> DomainResult<()> {
        with_tx!(self, |c| {
            sqlx::query("DELETE FROM sso_claim_groups WHERE tenant_id = $1 AND user_id = $2")
                .bind(self.id.as_str())
                .bind(user_id)
                .execute(&mut *c)
                .await?;
            for name in names_norm {
                sqlx::query(
                    "INSERT INTO sso_claim_groups (tenant_id, user_id, name_norm) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
                )
                .bind(self.id.as_str())
                .bind(user_id)
                .bind(name)
                .execute(&mut *c)
                .await?;
            }
            Ok::<(), sqlx::Error>(())
        })?;
        Ok(())
    }

    /// Writes one attempt of the sign-in log.
    pub async fn insert_sign_in(&mut self, s: &NewSignIn, now_ms: i64) -> DomainResult<String> {
        let id = uuid::Uuid::new_v4().to_string();
        let outcome = if s.signed_in { SignInOutcome::SignedIn } else { SignInOutcome::Refused };
        with_tx!(self, |c| {
            sqlx::query(
                "INSERT INTO sso_sign_ins (tenant_id, id, at, connection_id, connection_name, outcome, reason, message, subject, email, user_id, test_by, client_ip, detail) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)",
            )
            .bind(self.id.as_str())
            .bind(&id)
            .bind(now_ms)
            .bind(&s.connection_id)
            .bind(&s.connection_name)
            .bind(outcome.as_str())
            .bind(&s.reason)
            .bind(&s.message)
            .bind(&s.subject)
            .bind(&s.email)
            .bind(&s.user_id)
            .bind(&s.test_by)
            .bind(&s.client_ip)
            .bind(&s.detail)
            .execute(c)
            .await
            .map(|_| ())
        })?;
        Ok(id)
    }
}

/// The users (at most two, oldest first) of tenant `$1` with the externalId `$2`.
pub(super) fn users_by_external_id_sql(backend: super::Backend) -> String {
    format!(
        // `+created_at`: the order is of the (at most few) matches; without the `+`, SQLite
        // walked the tenant's created_at index to skip the sort, reading every user (a SCIM
        // create with an externalId took 70 ms at 20,000 users instead of 4).
        "{} WHERE t.tenant_id = $1 AND t.external_id = $2 ORDER BY +t.created_at LIMIT 2",
        super::users::user_select(backend)
    )
}

impl TenantStore<'_> {
    /// The tenant's connections, oldest first.
    pub async fn sso_connections(&self) -> DomainResult<Vec<ConnectionRecord>> {
        let sql =
            format!("SELECT {CONNECTION_COLUMNS} FROM sso_connections WHERE tenant_id = $1 ORDER BY created_at, id");
        with_pool!(self.store, |p| {
            let rows = sqlx::query(&sql).bind(self.id.as_str()).fetch_all(p).await?;
            rows.iter().map(connection_from_row).collect()
        })
    }

    /// The user an IdP identity is linked to, and whether the IdP's provisioning deleted that
    /// user since.
    pub async fn sso_identity(&self, connection_id: &str, subject: &str) -> DomainResult<Option<(String, bool)>> {
        with_pool!(self.store, |p| {
            let row: Option<(String, Option<i64>)> = sqlx::query_as(
                "SELECT user_id, deprovisioned_at FROM sso_identities WHERE tenant_id = $1 AND connection_id = $2 AND subject = $3",
            )
            .bind(self.id.as_str())
            .bind(connection_id)
            .bind(subject)
            .fetch_optional(p)
            .await?;
            Ok(row.map(|(user, gone)| (user, gone.is_some())))
        })
    }

    /// The group names (normalized) a just-in-time user's last sign-in carried.
    pub async fn claim_groups(&self, user_id: &str) -> DomainResult<Vec<String>> {
        with_pool!(self.store, |p| {
            let rows: Vec<(String,)> = sqlx::query_as(
                "SELECT name_norm FROM sso_claim_groups WHERE tenant_id = $1 AND user_id = $2 ORDER BY name_norm",
            )
            .bind(self.id.as_str())
            .bind(user_id)
            .fetch_all(p)
            .await?;
            Ok(rows.into_iter().map(|(n,)| n).collect())
        })
    }

    /// The IdP identities linked to a user: (connection id, subject, linked at, last sign-in).
    pub async fn sso_identities_of(&self, user_id: &str) -> DomainResult<Vec<(String, String, i64, i64)>> {
        with_pool!(self.store, |p| {
            Ok(sqlx::query_as(
                "SELECT connection_id, subject, created_at, last_sign_in_at FROM sso_identities \
                 WHERE tenant_id = $1 AND user_id = $2 AND deprovisioned_at IS NULL ORDER BY created_at, subject",
            )
            .bind(self.id.as_str())
            .bind(user_id)
            .fetch_all(p)
            .await?)
        })
    }

    /// Users whose externalId is `external_id`, at most two (one is a match, two are
    /// ambiguous).
    pub async fn users_by_external_id(&self, external_id: &str) -> DomainResult<Vec<super::UserRow>> {
        let sql = users_by_external_id_sql(self.store.backend());
        super::with_read!(self.store, |p| {
            let rows = sqlx::query(&sql).bind(self.id.as_str()).bind(external_id).fetch_all(p).await?;
            rows.iter().map(super::users::user_from_row).collect()
        })
    }

    /// Users (not manual) whose primary email is `email_norm`, at most two (one is a match,
    /// two are ambiguous).
    pub async fn users_by_email(&self, email_norm: &str) -> DomainResult<Vec<super::UserRow>> {
        let sql = format!(
            "{} WHERE t.tenant_id = $1 AND t.primary_email_norm = $2 ORDER BY +t.created_at LIMIT 2",
            super::users::user_select(self.store.backend())
        );
        super::with_read!(self.store, |p| {
            let rows = sqlx::query(&sql).bind(self.id.as_str()).bind(email_norm).fetch_all(p).await?;
            rows.iter().map(super::users::user_from_row).collect()
        })
    }

    /// The latest sign-in attempts, newest first; of one user when `user_id` is given.
    pub async fn sign_ins(&self, limit: i64, user_id: Option<&str>) -> DomainResult<Vec<SignInRecord>> {
        with_pool!(self.store, |p| {
            let sql = format!(
                "{SIGN_IN_SELECT} WHERE tenant_id = $1 AND ($2 IS NULL OR user_id = $2) ORDER BY at DESC, id LIMIT $3"
            );
            let rows = sqlx::query(&sql).bind(self.id.as_str()).bind(user_id).bind(limit).fetch_all(p).await?;
            rows.iter().map(sign_in_from_row).collect()
        })
    }

    /// One attempt of the sign-in log.
    pub async fn sign_in(&self, id: &str) -> DomainResult<Option<SignInRecord>> {
        with_pool!(self.store, |p| {
            let sql = format!("{SIGN_IN_SELECT} WHERE tenant_id = $1 AND id = $2");
            let row = sqlx::query(&sql).bind(self.id.as_str()).bind(id).fetch_optional(p).await?;
            row.as_ref().map(sign_in_from_row).transpose()
        })
    }
}

/// A domain row: (domain, token, verified_at).
pub type DomainRow = (String, String, Option<i64>);

impl TenantTx<'_> {
    /// Adds a pending domain; `false` if this tenant already has it.
    pub async fn insert_domain(&mut self, domain: &str, token: &str, now_ms: i64) -> DomainResult<bool> {
        let n = with_tx!(self, |c| {
            sqlx::query(
                "INSERT INTO tenant_domains (tenant_id, domain, token, created_at) VALUES ($1, $2, $3, $4) \
                 ON CONFLICT (tenant_id, domain) DO NOTHING",
            )
            .bind(self.id.as_str())
            .bind(domain)
            .bind(token)
            .bind(now_ms)
            .execute(c)
            .await
            .map(|r| r.rows_affected())
        })?;
        Ok(n == 1)
    }

    /// Marks a domain verified; `Taken(VerifiedDomain)` if another organization verified it.
    pub async fn verify_domain(&mut self, domain: &str, now_ms: i64) -> DomainResult<bool> {
        let n = with_tx!(self, |c| {
            sqlx::query(
                "UPDATE tenant_domains SET verified_at = $1 WHERE tenant_id = $2 AND domain = $3 AND verified_at IS NULL",
            )
            .bind(now_ms)
            .bind(self.id.as_str())
            .bind(domain)
            .execute(c)
            .await
            .map(|r| r.rows_affected())
        })
        .map_err(|e| match unique_violation(&e) {
            Some(Unique::VerifiedDomain) => DomainError::Taken(Taken::VerifiedDomain),
            _ => e.into(),
        })?;
        Ok(n == 1)
    }

    /// Removes a domain; returns whether it existed.
    pub async fn delete_domain(&mut self, domain: &str) -> DomainResult<bool> {
        let n = with_tx!(self, |c| {
            sqlx::query("DELETE FROM tenant_domains WHERE tenant_id = $1 AND domain = $2")
                .bind(self.id.as_str())
                .bind(domain)
                .execute(c)
                .await
                .map(|r| r.rows_affected())
        })?;
        Ok(n == 1)
    }
}

impl TenantStore<'_> {
    /// The tenant's domains, by name.
    pub async fn domains(&self) -> DomainResult<Vec<DomainRow>> {
        with_pool!(self.store, |p| {
            let rows = sqlx::query(
                "SELECT domain, token, verified_at FROM tenant_domains WHERE tenant_id = $1 ORDER BY domain",
            )
            .bind(self.id.as_str())
            .fetch_all(p)
            .await?;
            rows.iter()
                .map(|r| Ok((r.try_get("domain")?, r.try_get("token")?, r.try_get("verified_at")?)))
                .collect::<Result<Vec<DomainRow>, sqlx::Error>>()
                .map_err(DomainError::from)
        })
    }
}

impl Store {
    /// The organization that verified `domain`.
    pub async fn tenant_of_domain(&self, domain: &str) -> DomainResult<Option<TenantId>> {
        with_pool!(self, |p| {
            let row = sqlx::query("SELECT tenant_id FROM tenant_domains WHERE domain = $1 AND verified_at IS NOT NULL")
                .bind(domain)
                .fetch_optional(p)
                .await?;
            Ok(row.map(|r| r.try_get::<String, _>("tenant_id")).transpose()?.map(TenantId::from_store))
        })
    }
}
