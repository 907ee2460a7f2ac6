//! Create an organization (tenant) and its first admin.

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::components::A;
use roster_shared::policy::{password_problem, MIN_PASSWORD_CHARS};

use crate::api::auth::SignUp;
use crate::components::action_form::ActionForm;
use crate::components::layout::AuthBrand;
use crate::components::notice::ErrorNotice;
use crate::components::password_input::PasswordInput;

/// The sign-up form.
#[component]
pub fn SignUpPage() -> impl IntoView {
    let action = ServerAction::<SignUp>::new();
    let error = move || action.value().get().and_then(|r| r.err()).map(|e| e.to_string());
    let password = RwSignal::new(String::new());
    let hint = move || {
        let p = password.get();
        let n = p.chars().count();
        if n == 0 {
            format!("At least {MIN_PASSWORD_CHARS} characters.")
        } else if n < MIN_PASSWORD_CHARS {
            format!(
                "{} more character{} needed.",
                MIN_PASSWORD_CHARS - n,
                if MIN_PASSWORD_CHARS - n == 1 { "" } else { "s" }
            )
        } else if let Some(problem) = password_problem(&p) {
            problem
        } else {
            "Long enough.".to_string()
        }
    };
    let hint_ok = move || password_problem(&password.get()).is_none();

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
                        <PasswordInput name="password" id="password" autocomplete="new-password" value=password minlength=MIN_PASSWORD_CHARS/>
                        <p class="hint" class:hint-ok=hint_ok data-testid="password-hint">{hint}</p>
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
