//! *Admins*: the organization's admins, inviting another (a link shown once, and emailed when
//! email is on), changing one's own password, and which email notices one gets; and the public
//! pages of an invitation link and of "forgot password".

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_params_map;
use roster_shared::dto::{NewInvitation, Team};

use crate::api::team::{
    check_password_reset, load_invitation, load_notices, load_team, take_new_invitation, AcceptInvitation,
    ChangePassword, ForgotPassword, Invite, ResetPassword, SaveNotices,
};
use crate::components::action_form::ActionForm;
use crate::components::copy::CopyField;
use crate::components::format::datetime;
use crate::components::layout::AuthBrand;
use crate::components::notice::ErrorNotice;
use crate::components::password_input::PasswordInput;
use crate::resource;

/// `/admins`.
#[component]
pub fn TeamPage() -> impl IntoView {
    let invite = ServerAction::<Invite>::new();
    let change = ServerAction::<ChangePassword>::new();
    let team = resource::load(move || invite.version().get(), |_| load_team());
    // An invitation a form without JavaScript made comes back through the session, once.
    let waiting = resource::load(|| (), |_| take_new_invitation());
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
            {move || resource::suspend(async move {
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
                <button type="submit" class="btn btn-primary" data-testid="invite">"Invite"</button>
            </ActionForm>
            <Show when=move || invite_error().is_some()>
                <ErrorNotice message=invite_error().unwrap_or_default()/>
            </Show>
            <Transition fallback=|| ()>
                {move || resource::suspend(async move {
                    let waiting = waiting.await.ok().flatten();
                    view! {
                        {move || invite.value().get().and_then(Result::ok).or_else(|| waiting.clone()).map(made)}
                    }
                })}
            </Transition>
        </section>
        <Notices/>
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

/// What the page shows of an invitation just made: emailed or not, and the link, once.
fn made(i: NewInvitation) -> impl IntoView {
    let (class, icon, headline) = match i.emailed {
        Some(true) => ("notice notice-success", "✓", format!("The invitation is emailed to {}.", i.email)),
        Some(false) => (
            "notice notice-warning",
            "!",
            format!("The email to {} could not be sent: send this link yourself, it is shown once.", i.email),
        ),
        None => ("notice notice-warning", "!", format!("Send this link to {} yourself: it is shown once.", i.email)),
    };
    view! {
        <div class=class role="status" data-testid="invitation">
            <span class="notice-icon" aria-hidden="true">{icon}</span>
            <span>
                <strong>{headline}</strong>
                " It works once, until " {datetime(i.expires_at_ms)} "."
            </span>
        </div>
        <CopyField value=i.link.clone() label="Invitation link" testid="invitation-link"/>
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
    let info = resource::load_blocking(token, load_invitation);
    let token = move || params.with_untracked(|p| p.get("token").unwrap_or_default());
    let accept = ServerAction::<AcceptInvitation>::new();
    let error = move || accept.value().get().and_then(Result::err).map(|e| e.to_string());
    view! {
        <Title text="Join your organization"/>
        <main class="auth">
            <AuthBrand/>
            <div class="card auth-card">
                <Suspense fallback=|| view! { <p class="muted">"Loading…"</p> }>
                    {move || resource::suspend(async move {
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

/// The admin's choice of email notices (only with email on, for password accounts).
#[component]
fn Notices() -> impl IntoView {
    let save = ServerAction::<SaveNotices>::new();
    let choices = resource::load(move || save.version().get(), |_| load_notices());
    let error = move || save.value().get().and_then(Result::err).map(|e| e.to_string());
    let saved = move || matches!(save.value().get(), Some(Ok(())));
    view! {
        <Transition fallback=|| ()>
            {move || resource::suspend(async move {
                let Ok(Some((credentials, idp, held))) = choices.await else { return ().into_any() };
                view! {
                    <section class="card section" aria-labelledby="notices">
                        <h2 id="notices">"Email notices"</h2>
                        <p class="muted">"Roster emails you when something needs your attention. Invitations and password reset links are always sent."</p>
                        <ActionForm action=save attr:class="form">
                            <label class="check">
                                <input type="checkbox" name="credentials" value="on" checked=credentials data-testid="notice-credentials"/>
                                " A SCIM credential expires in 14 days"
                            </label>
                            <label class="check">
                                <input type="checkbox" name="idp_failures" value="on" checked=idp data-testid="notice-idp"/>
                                " Most requests from our identity provider failed in the last hour"
                            </label>
                            <label class="check">
                                <input type="checkbox" name="held_changes" value="on" checked=held data-testid="notice-held"/>
                                " The deprovisioning brake holds changes for review"
                            </label>
                            <button type="submit" class="btn btn-primary" data-testid="save-notices">"Save"</button>
                        </ActionForm>
                        <Show when=move || error().is_some()>
                            <ErrorNotice message=error().unwrap_or_default()/>
                        </Show>
                        <Show when=saved>
                            <div class="notice notice-success" role="status">"Saved."</div>
                        </Show>
                    </section>
                }
                .into_any()
            })}
        </Transition>
    }
}

/// `/forgot-password`: ask for a reset link by email.
#[component]
pub fn ForgotPasswordPage() -> impl IntoView {
    let action = ServerAction::<ForgotPassword>::new();
    let error = move || action.value().get().and_then(Result::err).map(|e| e.to_string());
    // Sent: the page comes back with `?sent=1` (the form's redirect, with or without JavaScript).
    let query = leptos_router::hooks::use_query_map();
    let sent = move || matches!(action.value().get(), Some(Ok(()))) || query.with(|q| q.get("sent")).is_some();
    view! {
        <Title text="Forgot your password"/>
        <main class="auth">
            <AuthBrand/>
            <div class="card auth-card">
                <h1>"Forgot your password?"</h1>
                <p class="muted">"Enter the email address you sign in with: we send you a link to choose a new password."</p>
                <Show when=sent fallback=move || view! {
                    <ActionForm action=action attr:class="form">
                        <Show when=move || error().is_some()>
                            <ErrorNotice message=error().unwrap_or_default()/>
                        </Show>
                        <div class="field">
                            <label for="forgot-email">"Work email"</label>
                            <input id="forgot-email" name="email" type="email" autocomplete="username" required=true maxlength="254"/>
                        </div>
                        <button type="submit" class="btn btn-primary btn-block" data-testid="send-reset-link">"Send the link"</button>
                    </ActionForm>
                }>
                    <div class="notice notice-success" role="status" data-testid="reset-link-sent">
                        "If an account has this address, a link is on its way. It works once, for an hour. \
                         People who sign in through their organization's SSO keep their password there."
                    </div>
                </Show>
            </div>
            <p class="auth-switch"><a href="/sign-in">"Back to sign in"</a></p>
        </main>
    }
}

/// `/reset-password/:token`: choose a new password through an emailed link.
#[component]
pub fn ResetPasswordPage() -> impl IntoView {
    let params = use_params_map();
    let token = move || params.with(|p| p.get("token").unwrap_or_default());
    let open = resource::load_blocking(token, check_password_reset);
    let token = move || params.with_untracked(|p| p.get("token").unwrap_or_default());
    let action = ServerAction::<ResetPassword>::new();
    let error = move || action.value().get().and_then(Result::err).map(|e| e.to_string());
    view! {
        <Title text="Choose a new password"/>
        <main class="auth">
            <AuthBrand/>
            <div class="card auth-card">
                <h1>"Choose a new password"</h1>
                <Suspense fallback=|| view! { <p class="muted">"Loading…"</p> }>
                    {move || resource::suspend(async move {
                        match open.await {
                            Err(e) => view! {
                                <ErrorNotice message=e.to_string()/>
                                <p><a href="/forgot-password">"Ask for a new link"</a></p>
                            }.into_any(),
                            Ok(()) => view! {
                                <ActionForm action=action attr:class="form">
                                    <Show when=move || error().is_some()>
                                        <ErrorNotice message=error().unwrap_or_default()/>
                                    </Show>
                                    <input type="hidden" name="token" value=token()/>
                                    <div class="field">
                                        <label for="reset-password">"New password"</label>
                                        <PasswordInput name="password" id="reset-password" autocomplete="new-password"/>
                                    </div>
                                    <button type="submit" class="btn btn-primary btn-block" data-testid="reset-password">"Set the password"</button>
                                </ActionForm>
                            }.into_any(),
                        }
                    })}
                </Suspense>
            </div>
        </main>
    }
}
