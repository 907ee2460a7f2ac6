//! The IdP diagnostics card (the SCIM page, and read-only the support console): who is calling
//! and how, whether it went silent, credentials about to expire, its most frequent errors and
//! what fixes each.

use leptos::prelude::*;
use leptos_router::components::A;
use roster_shared::dto::{DetectedIdp, EntraMode, IdpDiagnostics};

use crate::components::copy::CopyField;
use crate::components::format::datetime;

/// The card. `base_url` is the tenant's SCIM base URL (for the Entra ID flag's Tenant URL);
/// `activity` is where an activity record's page is (the dashboard's or the support console's).
#[component]
pub fn DiagnosticsCard(d: IdpDiagnostics, base_url: String, activity: String) -> impl IntoView {
    let flagged = format!("{base_url}?aadOptscim062020");
    view! {
        <section class="card section" aria-labelledby="diagnostics" data-testid="diagnostics">
            <h2 id="diagnostics">"Identity provider diagnostics"</h2>
            <dl class="facts">
                <dt>"Identity provider"</dt>
                <dd data-testid="detected-idp">
                    {d.idp.label()}
                    {(!d.user_agents.is_empty()).then(|| view! { <span class="muted small">" (User-Agent: " {d.user_agents.join(", ")} ")"</span> })}
                </dd>
            </dl>
            {d.entra_mode.map(|mode| match mode {
                EntraMode::Legacy => view! {
                    <div class="notice notice-warning" role="status" data-testid="entra-mode">
                        <span class="notice-icon" aria-hidden="true">"!"</span>
                        <div>
                            <strong>"Entra ID runs without the aadOptscim062020 flag. "</strong>
                            {format!(
                                "Its requests capitalise PATCH operations, send true and false as text and remove group members by a list ({} such signs in the last 7 days). \
                                 Roster accepts them, but Microsoft is retiring this behaviour; the flag makes Entra ID follow the SCIM standard. \
                                 In Entra ID, open the application's Provisioning, set the Tenant URL to the one below, Test Connection, and Save.",
                                d.entra_signals.0
                            )}
                            <div class="copy-row"><CopyField value=flagged.clone() label="Tenant URL with the flag" testid="entra-flag-url"/></div>
                        </div>
                    </div>
                }.into_any(),
                EntraMode::Compliant => view! {
                    <div class="notice notice-success" role="status" data-testid="entra-mode">
                        <span class="notice-icon notice-icon-ok" aria-hidden="true">"✓"</span>
                        <span>"Entra ID runs with the aadOptscim062020 flag: its PATCH requests follow the SCIM standard. Nothing to do."</span>
                    </div>
                }.into_any(),
                EntraMode::NotSeen => view! {
                    <p class="muted small" data-testid="entra-mode">"Entra ID has not changed a user or group yet: whether its job runs with the aadOptscim062020 flag shows after its first update."</p>
                }.into_any(),
            })}
            {d.silent.map(|s| view! {
                <div class="notice notice-warning" role="status" data-testid="idp-silent">
                    <span class="notice-icon" aria-hidden="true">"!"</span>
                    <span>
                        <strong>"Silent. "</strong>
                        {format!(
                            "The identity provider called about every {} minutes, and has not since {}. Check its provisioning job: paused, in quarantine, or its credential refused?",
                            s.usual_interval_minutes,
                            datetime(s.last_request_at_ms)
                        )}
                    </span>
                </div>
            })}
            {d.expiring.into_iter().map(|c| view! {
                <div class="notice notice-warning" role="status" data-testid="credential-expiring">
                    <span class="notice-icon" aria-hidden="true">"!"</span>
                    <span>
                        <strong>{format!("The credential “{}” expires in {} day{}", c.name, c.days_left, if c.days_left == 1 { "" } else { "s" })}</strong>
                        {format!(" ({}). ", datetime(c.expires_at_ms))}
                        {if c.in_use {
                            "Your identity provider uses it: rotate it now and paste the new secret into the identity provider (an expired token stops provisioning; Entra ID quarantines the job)."
                        } else {
                            "It was not used in the last 7 days."
                        }}
                    </span>
                </div>
            }).collect_view()}
            <h3 class="subheading">"Most frequent errors, last 24 h"</h3>
            {if d.top_errors.is_empty() {
                view! { <p class="muted small" data-testid="no-top-errors">"None."</p> }.into_any()
            } else {
                view! {
                    <div class="table-wrap">
                        <table class="table" data-testid="top-errors">
                            <thead><tr><th>"Count"</th><th>"Error"</th><th>"How to fix it"</th></tr></thead>
                            <tbody>
                                {d.top_errors.into_iter().map(|e| view! {
                                    <tr>
                                        <td class="num">{e.count}</td>
                                        <td>
                                            <A href=format!("{activity}/{}", e.latest_id)>
                                                <span class="badge badge-danger">{e.status}</span>
                                                {e.scim_type.clone().map(|t| format!(" {t}"))}
                                            </A>
                                            <div class="small muted">{e.example.clone()}</div>
                                        </td>
                                        <td class="small">{e.fix.clone()}</td>
                                    </tr>
                                }).collect_view()}
                            </tbody>
                        </table>
                    </div>
                }.into_any()
            }}
            {(d.idp == DetectedIdp::Unknown).then(|| view! {
                <p class="muted small">"No request from an identity provider in the last 7 days."</p>
            })}
        </section>
    }
}
