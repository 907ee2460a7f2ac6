//! Create an organization (tenant) and its first admin.

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::components::A;
use roster_shared::policy::MIN_PASSWORD_CHARS;

use crate::api::auth::SignUp;
use crate::components::action_form::ActionForm;
use crate::components::layout::AuthBrand;
use crate::components::notice::ErrorNotice;
use crate::components::password_input::{PasswordInput, PasswordShape};

/// The sign-up form.
#[component]
pub fn SignUpPage() -> impl IntoView {
    let action = ServerAction::<SignUp>::new();
    let error = move || action.value().get().and_then(|r| r.err()).map(|e| e.to_string());
    // The hint follows the password's shape, not a copy of it, and colours itself through an
    // attribute (`data-ok`), not a `class:` toggle: this is a new organization's first page,
    // and a reactive `class:` brings code of its own into its wasm, where a reactive attribute
    // shares the sign-in page's.
    let shape = PasswordShape::new();
    let problem = move || shape.problem();
    let hint = move || {
        let n = shape.chars.get();
        if n == 0 {
            format!("At least {MIN_PASSWORD_CHARS} characters.")
        } else if n < MIN_PASSWORD_CHARS {
            format!(
                "{} more character{} needed.",
                MIN_PASSWORD_CHARS - n,
                if MIN_PASSWORD_CHARS - n == 1 { "" } else { "s" }
            )
        } else if let Some(problem) = problem() {
            problem
        } else {
            "Long enough.".to_string()
        }
    };
    let hint_ok = move || problem().is_none();

    view! {
        <Title text="Create your organization"/>
        <main class="auth">
            <AuthBrand/>
            <div class="card auth-card">
                <h1>"Create your organization"</h1>
                <p class="muted">
                    "Connect your identity provider over SCIM and keep your users and groups in sync."
                </p>
                <ActionForm action=action attr:class="form">
                    <Show when=move || error().is_some()>
                        <ErrorNotice message=error().unwrap_or_default()/>
                    </Show>
                    <div class="field">
                        <label for="organization">"Organization name"</label>
                        <input id="organization" name="organization" type="text" autocomplete="organization" required=true maxlength="200" autofocus=true/>
                    </div>
                    <div class="field">
                        <label for="name">"Your name"</label>
                        <input id="name" name="name" type="text" autocomplete="name" required=true maxlength="200"/>
                    </div>
                    <div class="field">
                        <label for="email">"Work email"</label>
                        <input id="email" name="email" type="email" autocomplete="email" required=true maxlength="254"/>
                    </div>
                    <div class="field">
                        <label for="password">"Password"</label>
                        <PasswordInput name="password" id="password" autocomplete="new-password" shape minlength=MIN_PASSWORD_CHARS/>
                        <p class="hint" data-ok=move || if hint_ok() { "true" } else { "false" } data-testid="password-hint">{hint}</p>
                    </div>
                    <button type="submit" class="btn btn-primary btn-block" disabled=move || action.pending().get()>
                        {move || if action.pending().get() { "Creating…" } else { "Create organization" }}
                    </button>
                </ActionForm>
            </div>
            <p class="auth-switch">
                "Already have an account? " <A href="/sign-in">"Sign in"</A>
            </p>
        </main>
    }
}
