//! `/users/import`: manual users from a CSV file, all or nothing, with a report per line.

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::components::A;
use roster_shared::dto::ImportReport;

use crate::api::users::import_users;
use crate::components::layout::NavRefresh;
use crate::components::notice::{ErrorNotice, SuccessNotice};

/// The page.
#[component]
pub fn ImportPage() -> impl IntoView {
    let text = RwSignal::new(String::new());
    let file_name = RwSignal::new(String::new());
    let read_error = RwSignal::new(None::<String>);
    let import = Action::new(move |csv: &String| {
        let csv = csv.clone();
        async move { import_users(csv).await }
    });
    let nav = use_context::<NavRefresh>();
    Effect::new(move |_| {
        if let Some(Ok(r)) = import.value().get() {
            if r.created > 0 {
                if let Some(NavRefresh(n)) = nav {
                    n.update(|v| *v += 1);
                }
            }
        }
    });
    let on_file = move |ev: leptos::ev::Event| {
        read_error.set(None);
        import.value().set(None);
        #[cfg(feature = "hydrate")]
        {
            use wasm_bindgen::JsCast;
            let Some(input) = ev.target().and_then(|t| t.dyn_into::<web_sys::HtmlInputElement>().ok()) else {
                return;
            };
            let Some(file) = input.files().and_then(|f| f.get(0)) else {
                return;
            };
            file_name.set(file.name());
            if file.size() > 5.0 * 1024.0 * 1024.0 {
                read_error.set(Some("The file is larger than 5 MB; split it.".into()));
                return;
            }
            leptos::task::spawn_local(async move {
                match wasm_bindgen_futures::JsFuture::from(file.text()).await {
                    Ok(v) => text.set(v.as_string().unwrap_or_default()),
                    Err(_) => read_error.set(Some("The file could not be read.".into())),
                }
            });
        }
        #[cfg(not(feature = "hydrate"))]
        let _ = ev;
    };
    let report = move || import.value().get().and_then(Result::ok);
    let error = move || import.value().get().and_then(Result::err).map(|e| e.to_string()).or_else(|| read_error.get());
    view! {
        <Title text="Import users"/>
        <p><A href="/users">"← Users"</A></p>
        <div class="page-header">
            <div>
                <h1>"Import users"</h1>
                <p class="muted">"Add manual users from a CSV file. Every row is checked first: if any row has a problem, nobody is imported and the report says what to fix."</p>
            </div>
        </div>
        <section class="card section">
            <ol class="steps">
                <li><a href="/export/users-template.csv" download="roster-users-template.csv" data-testid="template">"Download the template"</a>
                    " (columns userName, givenName, familyName, email, externalId, active; only userName is required). "
                    "It has the same columns as the users export, so an export can be edited and imported again: the columns Roster sets (id, source, user groups, dates) are read past."</li>
                <li>"Fill in one user per row and save it as CSV (UTF-8)."</li>
                <li>
                    <label for="csv-file">"Choose the file: "</label>
                    <input id="csv-file" type="file" accept=".csv,text/csv" on:change=on_file data-testid="csv-file"/>
                </li>
            </ol>
            <button type="button" class="btn btn-primary" data-testid="import"
                disabled=move || text.get().is_empty() || import.pending().get()
                on:click=move |_| { import.dispatch(text.get()); }>
                {move || if import.pending().get() { "Importing…".to_string() } else if file_name.get().is_empty() { "Import".to_string() } else { format!("Import {}", file_name.get()) }}
            </button>
            <Show when=move || error().is_some()>
                <ErrorNotice message=error().unwrap_or_default()/>
            </Show>
            {move || report().map(|r: ImportReport| {
                if r.errors.is_empty() {
                    view! {
                        <SuccessNotice message=format!("Imported {} user{}.", r.created, if r.created == 1 { "" } else { "s" })/>
                        <A href="/users?filter=manual">"See the manual users"</A>
                    }.into_any()
                } else {
                    view! {
                        <ErrorNotice message=format!("Nothing was imported: {} problem{} to fix.", r.errors.len(), if r.errors.len() == 1 { "" } else { "s" })/>
                        <table class="table" data-testid="import-errors">
                            <thead><tr><th>"Line"</th><th>"Problem"</th></tr></thead>
                            <tbody>
                                {r.errors.into_iter().map(|(line, msg)| view! { <tr><td>{line}</td><td>{msg}</td></tr> }).collect_view()}
                            </tbody>
                        </table>
                    }.into_any()
                }
            })}
        </section>
    }
}
