//! Email: one [`Mailer`] (SMTP through `lettre`, off when no host is configured) and one
//! template per message ([`Notice`]), each with a plain-text and an HTML body. Everything that
//! writes to people goes through [`Mailer::send`]: admin invitations, password reset links,
//! credentials about to expire, an identity provider whose requests mostly fail (the last two
//! from the hourly maintenance, to the admins who want them: see [`notify_admins`]).
//!
//! Text from outside (organization and credential names, error details) is escaped in the
//! HTML bodies; links are ours (the public URL plus a path).

use std::time::Duration;

use lettre::message::{Mailbox, MultiPart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

use crate::error::{DomainError, DomainResult};

/// How a connection to the SMTP server is secured.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Security {
    /// STARTTLS on a plain connection (port 587); refused if the server cannot.
    StartTls,
    /// TLS from the start (port 465).
    Tls,
    /// None: a relay on loopback or a private network only.
    None,
}

/// SMTP settings, as `roster serve` takes them.
#[derive(Clone, Debug, Default)]
pub struct EmailSettings {
    /// The server's host name; `None`: email is off.
    pub host: Option<String>,
    /// Its port.
    pub port: u16,
    /// `starttls`, `tls` or `none`.
    pub security: String,
    /// User name, if it asks for one.
    pub username: Option<String>,
    /// Password.
    pub password: Option<String>,
    /// The sender (`Name <address>`).
    pub from: String,
}

/// Sends email. Cheap to clone (the transport pools its connections).
#[derive(Clone)]
pub struct Mailer {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
    describe: String,
}

impl std::fmt::Debug for Mailer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Mailer").field("server", &self.describe).finish_non_exhaustive()
    }
}

/// How long one SMTP conversation may take.
const SMTP_TIMEOUT: Duration = Duration::from_secs(10);

impl Mailer {
    /// The mailer the settings describe; `None` when no host is set (email is off).
    pub fn from_settings(s: &EmailSettings) -> DomainResult<Option<Mailer>> {
        let Some(host) = s.host.as_deref().map(str::trim).filter(|h| !h.is_empty()) else {
            return Ok(None);
        };
        let security = match s.security.trim().to_ascii_lowercase().as_str() {
            "starttls" | "" => Security::StartTls,
            "tls" => Security::Tls,
            "none" => Security::None,
            other => {
                return Err(DomainError::Invalid(format!("unknown SMTP security {other:?}: use starttls, tls or none")))
            }
        };
        let from: Mailbox = s
            .from
            .parse()
            .map_err(|e| DomainError::Invalid(format!("the sender {:?} is not an address: {e}", s.from)))?;
        let smtp_error = |e: lettre::transport::smtp::Error| DomainError::Invalid(format!("SMTP host {host:?}: {e}"));
        let mut builder = match security {
            Security::StartTls => AsyncSmtpTransport::<Tokio1Executor>::starttls_relay(host).map_err(smtp_error)?,
            Security::Tls => AsyncSmtpTransport::<Tokio1Executor>::relay(host).map_err(smtp_error)?,
            Security::None => AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(host),
        }
        .port(s.port)
        .timeout(Some(SMTP_TIMEOUT));
        if let (Some(user), Some(password)) = (&s.username, &s.password) {
            builder = builder.credentials(Credentials::new(user.clone(), password.clone()));
        }
        let describe = format!("{host}:{} ({})", s.port, s.security.trim().to_ascii_lowercase());
        Ok(Some(Mailer { transport: builder.build(), from, describe }))
    }

    /// `host:port (security)`.
    pub fn describe(&self) -> &str {
        &self.describe
    }

    /// Connects and says hello (for `roster doctor`).
    pub async fn test_connection(&self) -> DomainResult<()> {
        match self.transport.test_connection().await {
            Ok(true) => Ok(()),
            Ok(false) => Err(DomainError::Unavailable("the server did not answer".into())),
            Err(e) => Err(DomainError::Unavailable(e.to_string())),
        }
    }

    /// Sends one notice to one address.
    pub async fn send(&self, to: &str, notice: &Notice) -> DomainResult<()> {
        let result = self.try_send(to, notice).await;
        crate::metrics::email(notice.template, if result.is_ok() { "sent" } else { "failed" });
        if let Err(e) = &result {
            tracing::warn!(template = notice.template, "email not sent: {e}");
        }
        result
    }

    async fn try_send(&self, to: &str, notice: &Notice) -> DomainResult<()> {
        let to: Mailbox =
            to.parse().map_err(|e| DomainError::Invalid(format!("{to:?} is not an email address: {e}")))?;
        let message = Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(&notice.subject)
            .multipart(MultiPart::alternative_plain_html(notice.text.clone(), notice.html.clone()))
            .map_err(|e| DomainError::Internal(format!("cannot build the email: {e}")))?;
        self.transport.send(message).await.map_err(|e| DomainError::Unavailable(format!("SMTP: {e}")))?;
        Ok(())
    }
}

/// One message: its template's name (for metrics and logs), subject and bodies.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Notice {
    /// `invitation`, `password_reset`, `credential_expiring`, `idp_failing`.
    pub template: &'static str,
    /// The subject line.
    pub subject: String,
    /// The plain-text body.
    pub text: String,
    /// The HTML body.
    pub html: String,
}

fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// The HTML frame every message shares: paragraphs (already escaped) and one button.
fn html(paragraphs: &[String], button: Option<(&str, &str)>) -> String {
    let mut body = String::new();
    for p in paragraphs {
        body.push_str(&format!("<p style=\"margin:0 0 16px\">{p}</p>"));
    }
    if let Some((label, href)) = button {
        body.push_str(&format!(
            "<p style=\"margin:24px 0\"><a href=\"{}\" style=\"background:#2563eb;color:#fff;padding:10px 18px;\
             border-radius:6px;text-decoration:none;font-weight:600\">{}</a></p>\
             <p style=\"margin:0 0 16px;color:#64748b;font-size:13px\">Or open this link: {}</p>",
            esc(href),
            esc(label),
            esc(href)
        ));
    }
    format!(
        "<!doctype html><html><body style=\"margin:0;background:#f8fafc\">\
         <div style=\"max-width:560px;margin:0 auto;padding:32px 24px;font:15px/1.5 -apple-system,Segoe UI,Roboto,sans-serif;color:#0f172a\">\
         <p style=\"margin:0 0 24px;font-weight:700;font-size:18px\">Roster</p>{body}\
         <p style=\"margin:32px 0 0;color:#64748b;font-size:12px\">You receive this because of your account on Roster.</p>\
         </div></body></html>"
    )
}

impl Notice {
    /// An admin invited `to` to the organization.
    pub fn invitation(organization: &str, inviter: &str, link: &str, days: i64) -> Notice {
        Notice {
            template: "invitation",
            subject: format!("You are invited to administer {organization} on Roster"),
            text: format!(
                "{inviter} invited you to administer {organization} on Roster.\n\n\
                 Accept the invitation and choose your password here (the link works once, for {days} days):\n{link}\n\n\
                 If you did not expect this, ignore this email."
            ),
            html: html(
                &[
                    format!("{} invited you to administer <strong>{}</strong> on Roster.", esc(inviter), esc(organization)),
                    format!("The link works once, for {days} days. If you did not expect this, ignore this email."),
                ],
                Some(("Accept the invitation", link)),
            ),
        }
    }

    /// Someone asked to reset the password of the account at this address.
    pub fn password_reset(name: &str, link: &str, minutes: i64) -> Notice {
        Notice {
            template: "password_reset",
            subject: "Reset your Roster password".into(),
            text: format!(
                "Hello {name},\n\nSomeone (hopefully you) asked to reset the password of your Roster account.\n\n\
                 Choose a new password here (the link works once, for {minutes} minutes):\n{link}\n\n\
                 If you did not ask for this, ignore this email: your password stays as it is."
            ),
            html: html(
                &[
                    format!("Hello {},", esc(name)),
                    "Someone (hopefully you) asked to reset the password of your Roster account.".into(),
                    format!(
                        "The link works once, for {minutes} minutes. If you did not ask for this, ignore this email: \
                         your password stays as it is."
                    ),
                ],
                Some(("Choose a new password", link)),
            ),
        }
    }

    /// A SCIM credential of the organization expires soon.
    pub fn credential_expiring(organization: &str, credential: &str, expires: &str, days: i64, link: &str) -> Notice {
        Notice {
            template: "credential_expiring",
            subject: format!("{organization}: the SCIM credential \"{credential}\" expires in {days} days"),
            text: format!(
                "The SCIM credential \"{credential}\" of {organization} expires on {expires} ({days} days from now).\n\n\
                 After that, your identity provider's provisioning requests with it are refused and changes stop \
                 arriving. Create a new credential (or rotate this one) and put it in your identity provider:\n{link}\n"
            ),
            html: html(
                &[
                    format!(
                        "The SCIM credential <strong>{}</strong> of {} expires on {} ({days} days from now).",
                        esc(credential),
                        esc(organization),
                        esc(expires)
                    ),
                    "After that, your identity provider's provisioning requests with it are refused and changes stop \
                     arriving. Create a new credential (or rotate this one) and put it in your identity provider."
                        .into(),
                ],
                Some(("Open SCIM settings", link)),
            ),
        }
    }

    /// Most of the organization's recent SCIM requests failed.
    pub fn idp_failing(organization: &str, failed: i64, total: i64, example: &str, link: &str) -> Notice {
        Notice {
            template: "idp_failing",
            subject: format!("{organization}: most provisioning requests from your identity provider are failing"),
            text: format!(
                "In the last hour, {failed} of {total} SCIM requests from your identity provider to {organization} \
                 failed. Changes in your identity provider may not be arriving.\n\nA recent failure: {example}\n\n\
                 The activity log shows each request and why it failed:\n{link}\n"
            ),
            html: html(
                &[
                    format!(
                        "In the last hour, <strong>{failed} of {total}</strong> SCIM requests from your identity provider \
                         to {} failed. Changes in your identity provider may not be arriving.",
                        esc(organization)
                    ),
                    format!("A recent failure: {}", esc(example)),
                ],
                Some(("Open the activity log", link)),
            ),
        }
    }
}

impl Notice {
    /// The deprovisioning brake holds changes for an admin's decision.
    pub fn changes_held(organization: &str, held: u64, link: &str) -> Notice {
        let users = if held == 1 { "1 user".to_string() } else { format!("{held} users") };
        Notice {
            template: "changes_held",
            subject: format!("{organization}: deprovisioning is held for your review"),
            text: format!(
                "Your identity provider asked Roster to deactivate or delete more of {organization}'s users in a short \
                 time than the deprovisioning brake allows. Roster holds the changes (for {users} so far): they keep \
                 their access until an admin applies or discards the changes.\n\nIf your identity provider's \
                 assignments or groups changed by mistake, fix them there and discard the held changes. If the \
                 removals are intended, apply them.\n\nReview the held changes:\n{link}\n"
            ),
            html: html(
                &[
                    format!(
                        "Your identity provider asked Roster to deactivate or delete more of {}'s users in a short time \
                         than the deprovisioning brake allows. Roster holds the changes (for <strong>{users}</strong> so \
                         far): they keep their access until an admin applies or discards the changes.",
                        esc(organization)
                    ),
                    "If your identity provider's assignments or groups changed by mistake, fix them there and discard \
                     the held changes. If the removals are intended, apply them."
                        .to_string(),
                ],
                Some(("Review the held changes", link)),
            ),
        }
    }
}

/// Which admins get a notice about their organization.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Topic {
    /// Credentials about to expire.
    Credentials,
    /// The IdP's requests failing.
    IdpFailures,
    /// The deprovisioning brake holding changes.
    HeldChanges,
}

/// Sends `notice` to every admin of the organization who wants notices on `topic`; returns
/// how many were sent.
pub async fn notify_admins(
    store: &crate::store::Store,
    mailer: &Mailer,
    tenant: &crate::ids::TenantId,
    topic: Topic,
    notice: &Notice,
) -> DomainResult<usize> {
    let mut sent = 0;
    for email in store.tenant(tenant).admins_notified_about(topic).await? {
        if mailer.send(&email, notice).await.is_ok() {
            sent += 1;
        }
    }
    Ok(sent)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_from_outside_is_escaped_in_html_and_kept_in_text() {
        let n = Notice::credential_expiring(
            "<script>x</script> & Co",
            "Okta \"prod\"",
            "2027-01-01",
            14,
            "https://r.test/scim",
        );
        assert!(n.html.contains("&lt;script&gt;x&lt;/script&gt; &amp; Co"));
        assert!(!n.html.contains("<script>"));
        assert!(n.html.contains("Okta &quot;prod&quot;"));
        assert!(n.text.contains("<script>x</script> & Co"));
        assert!(n.html.contains("href=\"https://r.test/scim\""));
    }

    #[test]
    fn email_is_off_without_a_host_and_settings_are_checked() {
        let mut s =
            EmailSettings { port: 25, security: "none".into(), from: "Roster <r@x.test>".into(), ..Default::default() };
        assert!(Mailer::from_settings(&s).unwrap().is_none());
        s.host = Some("127.0.0.1".into());
        assert!(Mailer::from_settings(&s).unwrap().is_some());
        s.security = "ssl3".into();
        assert!(Mailer::from_settings(&s).is_err());
        s.security = "none".into();
        s.from = "not an address".into();
        assert!(Mailer::from_settings(&s).is_err());
    }
}
