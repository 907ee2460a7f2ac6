//! The signed-in frames: the organization admin's dashboard and Roster support's console. Each
//! loads the signed-in person once for every page below it, sends visitors who are not signed
//! in to the sign-in page and people of the other role to their own console, and draws the
//! sidebar, the top bar with the account, and the page in the middle.

use leptos::prelude::*;
use leptos_router::components::{Outlet, Redirect, A};
use roster_shared::dto::{ConsoleRole, Viewer};

use crate::api::auth::{current_viewer, SignOut};
use crate::api::users::load_nav_counts;
use crate::components::notice::ErrorNotice;
use crate::error::UiError;

/// Bumped by pages after a change that moves the navigation's counts (assignments).
#[derive(Clone, Copy)]
pub struct NavRefresh(pub RwSignal<u32>);

/// The signed-in person, loaded by the layout for the pages inside it.
#[derive(Clone, Copy)]
pub struct ViewerResource(pub Resource<Result<Option<Viewer>, UiError>>);

/// The frame of every organization admin page.
#[component]
pub fn DashboardLayout() -> impl IntoView {
    view! { <SignedIn role=ConsoleRole::OrgAdmin/> }
}

/// The frame of the support console.
#[component]
pub fn SupportLayout() -> impl IntoView {
    view! { <SignedIn role=ConsoleRole::Support/> }
}

/// Where each role's console starts.
fn home_of(role: ConsoleRole) -> &'static str {
    match role {
        ConsoleRole::OrgAdmin => "/",
        ConsoleRole::Support => "/support",
    }
}

/// Lets in the signed-in people of `role` and draws their frame.
#[component]
fn SignedIn(role: ConsoleRole) -> impl IntoView {
    // Blocking: the server waits for it before sending headers, so that a visitor who is not
    // signed in gets a real HTTP redirect.
    let viewer = Resource::new_blocking(|| (), |_| current_viewer());
    provide_context(ViewerResource(viewer));
    view! {
        <Suspense fallback=|| view! { <div class="page-loading">"Loading…"</div> }>
            {move || Suspend::new(async move {
                match viewer.await {
                    Ok(Some(v)) if v.role != role => view! { <Redirect path=home_of(v.role)/> }.into_any(),
                    Ok(Some(v)) if role == ConsoleRole::Support => view! { <SupportFrame viewer=v/> }.into_any(),
                    Ok(Some(v)) => view! { <DashboardFrame viewer=v/> }.into_any(),
                    Ok(None) | Err(UiError::Unauthenticated) => view! { <Redirect path="/sign-in"/> }.into_any(),
                    Err(e) => view! { <main class="centered"><ErrorNotice message=e.to_string()/></main> }.into_any(),
                }
            })}
        </Suspense>
    }
}

/// The sidebar (brand, then `nav`), the top bar (`title`, then the account) and the page.
#[component]
fn Shell(viewer: Viewer, brand: &'static str, nav: AnyView, title: AnyView) -> impl IntoView {
    let sign_out = ServerAction::<SignOut>::new();
    let initials: String =
        viewer.name.split_whitespace().filter_map(|w| w.chars().next()).take(2).collect::<String>().to_uppercase();
    view! {
        <div class="app">
            <aside class="sidebar">
                <div class="brand">
                    <span class="brand-mark" aria-hidden="true">"R"</span>
                    <span class="brand-name">{brand}</span>
                </div>
                {nav}
            </aside>
            <div class="main">
                <header class="topbar">
                    <div class="org" data-testid="org-name">{title}</div>
                    <div class="account">
                        <span class="avatar" aria-hidden="true">{initials}</span>
                        <div class="account-text">
                            <span class="account-name">{viewer.name.clone()}</span>
                            <span class="account-email">{viewer.email.clone()}</span>
                        </div>
                        <ActionForm action=sign_out>
                            <button type="submit" class="btn btn-ghost" disabled=move || sign_out.pending().get()>
                                "Sign out"
                            </button>
                        </ActionForm>
                    </div>
                </header>
                <main class="content">
                    <Outlet/>
                </main>
            </div>
        </div>
    }
}

#[component]
fn DashboardFrame(viewer: Viewer) -> impl IntoView {
    let nav_refresh = RwSignal::new(0u32);
    provide_context(NavRefresh(nav_refresh));
    // Recounted on every navigation and whenever a page reports a change.
    let location = leptos_router::hooks::use_location();
    let counts = Resource::new(move || (nav_refresh.get(), location.pathname.get()), |_| load_nav_counts());
    let org_name = viewer.tenant.as_ref().map(|t| t.name.clone()).unwrap_or_else(|| "Roster".to_string());
    let nav = view! {
        <nav aria-label="Main">
            <ul class="nav">
                <li>
                    <A href="/" exact=true>
                        <span class="nav-label">"Overview"</span>
                    </A>
                </li>
                <li><A href="/scim"><span class="nav-label">"SCIM provisioning"</span></A></li>
                <li><A href="/users"><span class="nav-label">"Users"</span></A></li>
                <li>
                    <A href="/unassigned">
                        <span class="nav-label">"Unassigned"</span>
                        <Transition fallback=|| ()>
                            {move || Suspend::new(async move {
                                counts.await.ok().filter(|c| c.unassigned > 0).map(|c| view! {
                                    <span class="badge badge-warning" data-testid="unassigned-count">{c.unassigned}</span>
                                })
                            })}
                        </Transition>
                    </A>
                </li>
                <li><A href="/user-groups"><span class="nav-label">"User groups"</span></A></li>
                <li><A href="/mappings"><span class="nav-label">"Mappings"</span></A></li>
                <li><A href="/activity"><span class="nav-label">"Activity"</span></A></li>
            </ul>
        </nav>
    };
    view! { <Shell viewer brand="Roster" nav=nav.into_any() title=org_name.into_any()/> }
}

#[component]
fn SupportFrame(viewer: Viewer) -> impl IntoView {
    let nav = view! {
        <nav aria-label="Main">
            <ul class="nav">
                <li><A href="/support"><span class="nav-label">"Organizations"</span></A></li>
            </ul>
        </nav>
        <p class="sidebar-note">
            "Read-only. Every organization you open is told: your views appear in its activity log."
        </p>
    };
    let title = view! {
        "Support console " <span class="badge badge-muted" data-testid="read-only">"Read-only"</span>
    };
    view! { <Shell viewer brand="Roster support" nav=nav.into_any() title=title.into_any()/> }
}
