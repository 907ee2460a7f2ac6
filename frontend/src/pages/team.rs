//! *Admins*: the organization's admins, inviting another (a link shown once), and changing
//! one's own password; and the public page of an invitation link.

use leptos::form::ActionForm;
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_params_map;
use roster_shared::dto::Team;

use crate::api::team::{load_invitation, load_team, AcceptInvitation, ChangePassword, Invite};
use crate::components::copy::CopyField;
use crate::components::format::datetime;
use crate::components::notice::ErrorNotice;
use crate::components::password_input::PasswordInput;

/// `/admins`.
#[component]
pub fn TeamPage() -> impl IntoView {
    let invite = ServerAction::<Invite>::new();
    let change = ServerAction::<ChangePassword>::new();
    let team = Resource::new(move || invite.version().get(), |_| load_team());
    let invite_error = move || invite.value().get().and_then(Result::err).map(|e| e.to_string());
    let change_error = move || change.value().get().and_then(Result::err).map(|e| e.to_string());
    let changed = move || matches!(change.value().get(), Some(Ok(())));
    view! {
        <Title text="Admins"/>
        <div class="page-header">
            <div>
                <h1>"Admins"</h1>
                <p class="muted">"The people who administer your organization in Roster with a password. People of your organization in a user group with the Admin role administer it through SSO too."</p>
            </div>
        </div>
        <Transition fallback=|| view! { <p class="muted">"Loading…"</p> }>
            {move || Suspend::new(async move {
                match team.await {
                    Ok(t) => view! { <Admins team=t/> }.into_any(),
                    Err(e) => view! { <ErrorNotice message=e.to_string()/> }.into_any(),
                }
            })}
        </Transition>
        <section class="card section" aria-labelledby="invite">
            <h2 id="invite">"Invite an admin"</h2>
            <ActionForm action=invite attr:class="form form-inline">
                <div class="field">
                    <label for="invite-email">"Email"</label>
                    <input id="invite-email" name="email" type="email" required=true maxlength="254"/>
                </div>
                <button type="submit" class="btn btn-primary" data-testid="invite">"Make invitation link"</button>
            </ActionForm>
            <Show when=move || invite_error().is_some()>
                <ErrorNotice message=invite_error().unwrap_or_default()/>
            </Show>
            {move || invite.value().get().and_then(Result::ok).map(|i| view! {
                <div class="notice notice-warning" role="status" data-testid="invitation">
                    <span class="notice-icon" aria-hidden="true">"!"</span>
                    <span>
                        <strong>"Send this link to " {i.email.clone()} " yourself: it is shown once."</strong>
                        " It works once, until " {datetime(i.expires_at_ms)} "."
                    </span>
                </div>
                <CopyField value=i.link.clone() label="Invitation link" testid="invitation-link"/>
            })}
        </section>
        <section class="card section" aria-labelledby="password">
            <h2 id="password">"Change your password"</h2>
            <ActionForm action=change attr:class="form">
                <div class="field">
                    <label for="current-password">"Current password"</label>
                    <PasswordInput name="current" id="current-password" autocomplete="current-password"/>
                </div>
                <div class="field">
                    <label for="new-password">"New password"</label>
                    <PasswordInput name="new" id="new-password" autocomplete="new-password"/>
                </div>
                <button type="submit" class="btn btn-primary" data-testid="change-password">"Change password"</button>
            </ActionForm>
            <Show when=move || change_error().is_some()>
                <ErrorNotice message=change_error().unwrap_or_default()/>
            </Show>
            <Show when=changed>
                <div class="notice notice-success" role="status">"Your password is changed."</div>
            </Show>
        </section>
    }
}

#[component]
fn Admins(team: Team) -> impl IntoView {
    view! {
        <section class="card section" aria-labelledby="admins">
            <h2 id="admins">"Admins"</h2>
            <div class="table-wrap">
                <table class="table" data-testid="admins">
                    <thead><tr><th>"Name"</th><th>"Email"</th><th>"Since"</th><th>"Last sign-in"</th></tr></thead>
                    <tbody>
                        {team.admins.into_iter().map(|(name, email, created, last)| view! {
                            <tr><td>{name}</td><td>{email}</td><td>{datetime(created)}</td>
                                <td>{last.map(datetime).unwrap_or_else(|| "Never".into())}</td></tr>
                        }).collect_view()}
                    </tbody>
                </table>
            </div>
            {(!team.invitations.is_empty()).then(|| view! {
                <h3>"Open invitations"</h3>
                <ul class="plain-list" data-testid="open-invitations">
                    {team.invitations.into_iter().map(|(email, by, expires)| view! {
                        <li>{email} <span class="muted small">" · invited by " {by} " · until " {datetime(expires)}</span></li>
                    }).collect_view()}
                </ul>
            })}
        </section>
    }
}

/// `/invite/:token`: accept an invitation.
#[component]
pub fn InvitationPage() -> impl IntoView {
    let params = use_params_map();
    let token = move || params.with(|p| p.get("token").unwrap_or_default());
    let info = Resource::new_blocking(token, load_invitation);
    let accept = ServerAction::<AcceptInvitation>::new();
    let error = move || accept.value().get().and_then(Result::err).map(|e| e.to_string());
    view! {
        <Title text="Join your organization"/>
        <main class="auth">
            <div class="auth-brand">
                <span class="brand-mark" aria-hidden="true">"R"</span>
                <span class="brand-name">"Roster"</span>
            </div>
            <div class="card auth-card">
                <Suspense fallback=|| view! { <p class="muted">"Loading…"</p> }>
                    {move || Suspend::new(async move {
                        match info.await {
                            Err(e) => view! { <h1>"Invitation"</h1><ErrorNotice message=e.to_string()/> }.into_any(),
                            Ok(i) => view! {
                                <h1>"Join " {i.organization.clone()}</h1>
                                <p class="muted">"You were invited as an admin, as " <strong>{i.email.clone()}</strong> "."</p>
                                <ActionForm action=accept attr:class="form">
                                    <Show when=move || error().is_some()>
                                        <ErrorNotice message=error().unwrap_or_default()/>
                                    </Show>
                                    <input type="hidden" name="token" value=token()/>
                                    <div class="field">
                                        <label for="inv-name">"Your name"</label>
                                        <input id="inv-name" name="name" type="text" required=true maxlength="200" autocomplete="name"/>
                                    </div>
                                    <div class="field">
                                        <label for="inv-password">"Password"</label>
                                        <PasswordInput name="password" id="inv-password" autocomplete="new-password"/>
                                    </div>
                                    <button type="submit" class="btn btn-primary btn-block" data-testid="accept-invitation">"Join"</button>
                                </ActionForm>
                            }.into_any(),
                        }
                    })}
                </Suspense>
            </div>
        </main>
    }
}
