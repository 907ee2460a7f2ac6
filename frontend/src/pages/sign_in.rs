//! Sign in.

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::components::A;

use crate::api::auth::SignIn;
use crate::components::action_form::ActionForm;
use crate::components::layout::AuthBrand;
use crate::components::notice::ErrorNotice;
use crate::components::password_input::PasswordInput;

/// The sign-in form.
#[component]
pub fn SignInPage() -> impl IntoView {
    let action = ServerAction::<SignIn>::new();
    let error = move || action.value().get().and_then(|r| r.err()).map(|e| e.to_string());
    // An SSO sign-in that was refused comes back here with the reason.
    let query = leptos_router::hooks::use_query_map();
    let sso_error = move || query.with(|q| q.get("sso_error")).filter(|m| !m.is_empty());
    let reset_done = move || query.with(|q| q.get("reset")).as_deref() == Some("done");

    // The notices are plain closures over an `Option`, not `<Show>`: this is the first page
    // most visits load, and `Show`'s code (a memo and the switch between its two views) is
    // ~2 KB of its wasm (gzip).
    view! {
        <Title text="Sign in"/>
        <main class="auth">
            <AuthBrand/>
            <div class="card auth-card">
                <h1>"Sign in"</h1>
                <p class="muted">"Manage your organization's identity provisioning."</p>
                {move || reset_done().then(|| view! {
                    <div class="notice notice-success" role="status" data-testid="password-reset-done">
                        "Your new password is set: sign in with it."
                    </div>
                })}
                {move || sso_error().map(|m| view! {
                    <div class="notice notice-error" role="alert" data-testid="sso-error">
                        <span class="notice-icon" aria-hidden="true">"!"</span>
                        <span>{m}</span>
                    </div>
                })}
                <ActionForm action=action attr:class="form">
                    {move || error().map(|message| view! { <ErrorNotice message/> })}
                    <div class="field">
                        <label for="email">"Work email"</label>
                        <input id="email" name="email" type="email" autocomplete="username" required=true autofocus=true/>
                    </div>
                    <div class="field">
                        <label for="password">"Password"</label>
                        <PasswordInput name="password" id="password" autocomplete="current-password"/>
                    </div>
                    <button type="submit" class="btn btn-primary btn-block" disabled=move || action.pending().get()>
                        {move || if action.pending().get() { "Signing in…" } else { "Sign in" }}
                    </button>
                </ActionForm>
                <p class="small"><A href="/forgot-password">"Forgot your password?"</A></p>
            </div>
            // A plain GET form: it works without JavaScript and lands on our own chooser page
            // (a form's redirect may not leave this site).
            <div class="card auth-card">
                <h2>"Single sign-on"</h2>
                <p class="muted small">"Your organization signs you in through its identity provider."</p>
                <form method="get" action="/sso/start" class="form">
                    <div class="field">
                        <label for="sso-email">"Company email address"</label>
                        <input id="sso-email" name="email" type="email" autocomplete="username" required=true/>
                    </div>
                    <button type="submit" class="btn btn-ghost btn-block" data-testid="sso-continue">"Continue with SSO"</button>
                </form>
            </div>
            <p class="auth-switch">
                "New to Roster? " <A href="/sign-up">"Create your organization"</A>
            </p>
        </main>
    }
}
