//! The signed-in frames: the organization admin's dashboard and Roster support's console. Each
//! loads the signed-in person once for every page below it, sends visitors who are not signed
//! in to the sign-in page and people of the other role to their own console, and draws the
//! sidebar, the top bar with the account, and the page in the middle.

use leptos::prelude::*;
use leptos_router::components::{Outlet, Redirect, A};
use roster_shared::dto::{ConsoleRole, Viewer};

use crate::api::auth::{current_viewer, SignOut};
use crate::api::users::load_nav_counts;
use crate::components::format::count;
use crate::components::notice::ErrorNotice;
use crate::error::UiError;
use crate::resource;

/// Where the top bar's sign-out form posts (the `sign_out` server function).
const SIGN_OUT_URL: &str = <SignOut as leptos::server_fn::ServerFn>::PATH;

/// Bumped by pages after a change that moves the navigation's counts (assignments).
#[derive(Clone, Copy)]
pub struct NavRefresh(pub RwSignal<u32>);

/// The signed-in person, loaded by the layout for the pages inside it.
#[derive(Clone, Copy)]
pub struct ViewerResource(pub resource::Loaded<Result<Option<Viewer>, UiError>>);

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
        ConsoleRole::OrgAdmin | ConsoleRole::OrgViewer => "/",
        ConsoleRole::Support => "/support",
        ConsoleRole::Member | ConsoleRole::NoAccess => "/me",
    }
}

/// Whether people of `role` may be in the frame made for `frame`: the organization's dashboard
/// takes its admins and (read-only) its viewers.
fn admits(frame: ConsoleRole, role: ConsoleRole) -> bool {
    frame == role || (frame == ConsoleRole::OrgAdmin && role == ConsoleRole::OrgViewer)
}

/// Lets in the signed-in people of `role` and draws their frame.
///
/// The frame and the page below it are built at once, not after the viewer has loaded: every
/// resource and every `Suspense`/`Transition` takes the next hydration id when it is created,
/// so anything created inside an async block (after an `.await`) could be numbered differently
/// on the server, which renders while data arrive, and in the browser, which hydrates from data
/// that are all there. A different number gives a resource another resource's data, and the
/// page's hydration panics ("Unrecoverable hydration error"), leaving a page that looks
/// complete and does nothing. So only small leaves wait for the viewer here: the redirect of
/// people who may not be here, and the account's name.
#[component]
fn SignedIn(role: ConsoleRole) -> impl IntoView {
    // Blocking: the server waits for it before sending headers, so that a visitor who is not
    // signed in gets a real HTTP redirect.
    let viewer = resource::load_blocking(|| (), |_| current_viewer());
    provide_context(ViewerResource(viewer));
    let gate = view! {
        <Suspense fallback=|| ()>
            {move || resource::suspend(async move {
                match viewer.await {
                    Ok(Some(v)) if !admits(role, v.role) => Some(view! { <Redirect path=home_of(v.role)/> }.into_any()),
                    Ok(Some(_)) => None,
                    Ok(None) | Err(UiError::Unauthenticated) => Some(view! { <Redirect path="/sign-in"/> }.into_any()),
                    Err(e) => Some(view! { <div class="centered"><ErrorNotice message=e.to_string()/></div> }.into_any()),
                }
            })}
        </Suspense>
    };
    let frame = match role {
        ConsoleRole::Support => view! { <SupportFrame/> }.into_any(),
        _ => view! { <DashboardFrame/> }.into_any(),
    };
    view! { {gate} {frame} }
}

/// The sidebar (brand, then `nav`), the top bar (`title`, then the account) and the page.
#[component]
fn Shell(brand: &'static str, nav: AnyView, title: AnyView, banner: AnyView) -> impl IntoView {
    let ViewerResource(viewer) = expect_context::<ViewerResource>();
    // On a phone the navigation sits behind "Menu" (a checkbox, so it works without
    // JavaScript); any navigation closes it again.
    let menu_open = RwSignal::new(false);
    let location = leptos_router::hooks::use_location();
    Effect::new(move |_| {
        location.pathname.track();
        menu_open.set(false);
    });
    view! {
        <div class="app">
            <aside class="sidebar">
                <div class="brand">
                    <span class="brand-mark" aria-hidden="true">"R"</span>
                    <span class="brand-name">{brand}</span>
                </div>
                <input type="checkbox" id="nav-toggle" class="nav-toggle" aria-controls="main-nav"
                    prop:checked=move || menu_open.get()
                    on:change=move |ev| menu_open.set(event_target_checked(&ev))/>
                <label for="nav-toggle" class="nav-toggle-button" role="button" aria-label="Menu">
                    <span aria-hidden="true">"☰"</span> "Menu"
                </label>
                {nav}
            </aside>
            <div class="main">
                <header class="topbar">
                    <div class="org" data-testid="org-name">{title}</div>
                    <div class="account">
                        <Suspense fallback=|| ()>
                            {move || resource::suspend(async move {
                                viewer.await.ok().flatten().map(|v| {
                                    // Capitalised by the stylesheet (`.avatar`): Rust's
                                    // `to_uppercase` brought its 13 KB Unicode table into the
                                    // main wasm for these two letters.
                                    let initials: String = v
                                        .name
                                        .split_whitespace()
                                        .filter_map(|w| w.chars().next())
                                        .take(2)
                                        .collect();
                                    view! {
                                        <span class="avatar" aria-hidden="true">{initials}</span>
                                        <div class="account-text">
                                            <span class="account-name">{v.name}</span>
                                            <span class="account-email">{v.email}</span>
                                        </div>
                                    }
                                })
                            })}
                        </Suspense>
                        // The browser's own post, not an `ActionForm`: signing out loads the
                        // sign-in page afresh (nothing of the signed-in session stays in the
                        // page's memory), and the main wasm carries none of the forms' and
                        // actions' code (13 KB gzip), which pages with forms load with their own.
                        <form method="post" action=SIGN_OUT_URL>
                            <button type="submit" class="btn btn-ghost">"Sign out"</button>
                        </form>
                    </div>
                </header>
                <main class="content">
                    <Suspense fallback=|| ()>
                        {move || resource::suspend(async move {
                            viewer.await.ok().flatten().filter(|v| v.role == ConsoleRole::OrgViewer).map(|_| view! {
                                <div class="notice notice-info" role="status" data-testid="read-only">
                                    <span class="notice-icon notice-icon-info" aria-hidden="true">"i"</span>
                                    <span>"You have the Viewer role: you can see everything here, and change nothing."</span>
                                </div>
                            })
                        })}
                    </Suspense>
                    {banner}
                    <Outlet/>
                </main>
            </div>
        </div>
    }
}

#[component]
fn DashboardFrame() -> impl IntoView {
    let ViewerResource(viewer) = expect_context::<ViewerResource>();
    let nav_refresh = RwSignal::new(0u32);
    provide_context(NavRefresh(nav_refresh));
    // Recounted on every navigation and whenever a page reports a change.
    let location = leptos_router::hooks::use_location();
    let counts = resource::load(
        move || (nav_refresh.get(), location.pathname.get()),
        |(_, path)| async move {
            // Signing out moves to /sign-in before this frame goes: nothing to count there (the
            // call would only earn a 401).
            if path.starts_with("/sign-") {
                return Ok(roster_shared::dto::NavCounts { unassigned: 0, held: 0 });
            }
            load_nav_counts().await
        },
    );
    let org_name = view! {
        <Suspense fallback=|| ()>
            {move || resource::suspend(async move {
                viewer.await.ok().flatten().and_then(|v| v.tenant).map(|t| t.name)
            })}
        </Suspense>
    };
    let nav = view! {
        <nav aria-label="Main" id="main-nav">
            <ul class="nav">
                <li>
                    <A href="/" exact=true>
                        <span class="nav-label">"Overview"</span>
                    </A>
                </li>
                <li><A href="/scim"><span class="nav-label">"SCIM provisioning"</span></A></li>
                <li><A href="/sso"><span class="nav-label">"Single sign-on"</span></A></li>
                <li><A href="/users"><span class="nav-label">"Users"</span></A></li>
                <li>
                    <A href="/unassigned">
                        <span class="nav-label">"Unassigned"</span>
                        <Transition fallback=|| ()>
                            {move || resource::suspend(async move {
                                counts.await.ok().filter(|c| c.unassigned > 0).map(|c| view! {
                                    <span class="badge badge-warning" data-testid="unassigned-count">{count(c.unassigned)}</span>
                                })
                            })}
                        </Transition>
                    </A>
                </li>
                <li><A href="/user-groups"><span class="nav-label">"User groups"</span></A></li>
                <li><A href="/mappings"><span class="nav-label">"Mappings"</span></A></li>
                <li>
                    <A href="/safety">
                        <span class="nav-label">"Safety"</span>
                        <Transition fallback=|| ()>
                            {move || resource::suspend(async move {
                                counts.await.ok().filter(|c| c.held > 0).map(|c| view! {
                                    <span class="badge badge-warning" data-testid="held-count">{count(c.held as i64)}</span>
                                })
                            })}
                        </Transition>
                    </A>
                </li>
                <li><A href="/integrations"><span class="nav-label">"Integrations"</span></A></li>
                <li><A href="/activity"><span class="nav-label">"Activity"</span></A></li>
                <li><A href="/admins"><span class="nav-label">"Admins"</span></A></li>
            </ul>
        </nav>
    };
    // Every page says when the deprovisioning brake holds changes (but the page that shows them).
    let banner = view! {
        <Transition fallback=|| ()>
            {move || resource::suspend(async move {
                let held = counts.await.ok().map_or(0, |c| c.held);
                (held > 0 && location.pathname.get_untracked() != "/safety").then(|| view! {
                    <div class="notice notice-warning banner-held" role="alert" data-testid="held-banner">
                        <span>
                            <strong>{format!("Deprovisioning of {} user{} is held. ", count(held as i64), if held == 1 { "" } else { "s" })}</strong>
                            "Your identity provider asked to remove more users at once than the brake allows; they keep their access until an admin decides."
                        </span>
                        <A href="/safety" attr:class="btn btn-small btn-primary">"Review held changes"</A>
                    </div>
                })
            })}
        </Transition>
    };
    view! { <Shell brand="Roster" nav=nav.into_any() title=org_name.into_any() banner=banner.into_any()/> }
}

#[component]
fn SupportFrame() -> impl IntoView {
    let nav = view! {
        <nav aria-label="Main" id="main-nav">
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
    view! { <Shell brand="Roster support" nav=nav.into_any() title=title.into_any() banner=().into_any()/> }
}

/// The Roster mark above the card of a signed-out page (sign-in, sign-up, invitations, password
/// reset, the SSO chooser).
#[component]
pub fn AuthBrand() -> impl IntoView {
    view! {
        <div class="auth-brand">
            <span class="brand-mark" aria-hidden="true">"R"</span>
            <span class="brand-name">"Roster"</span>
        </div>
    }
}
