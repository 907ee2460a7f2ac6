//! The HTML shell and the route table.

use leptos::prelude::*;
use leptos_meta::{provide_meta_context, MetaTags, Title};
use leptos_router::components::{ParentRoute, Route, Router, Routes};
use leptos_router::{path, ChooseView, SsrMode};

use crate::components::layout::{DashboardLayout, SupportLayout};
use crate::pages::activity::{ActivityPage, ActivityRecordPage};
use crate::pages::import::ImportPage;
use crate::pages::integrations::IntegrationsPage;
use crate::pages::mappings::MappingsPage;
use crate::pages::my_access::{MyAccessPage, SsoChooserPage};
use crate::pages::safety::SafetyPage;
use crate::pages::scim::ScimPage;
use crate::pages::sso::SsoPage;
use crate::pages::support::tenant::{GroupsTab, MappingsTab, SsoTab, TenantFrame, TenantOverviewTab};
use crate::pages::support::users::{AllUsersTab, UnassignedTab, UserTab};
use crate::pages::support::SupportHome;
use crate::pages::team::{ForgotPasswordPage, InvitationPage, ResetPasswordPage, TeamPage};
use crate::pages::user_detail::{NewUserPage, UserDetailPage};
use crate::pages::user_groups::{UserGroupPage, UserGroupsPage};
use crate::pages::users::{UnassignedPage, UsersPage};
use crate::pages::{home::HomePage, not_found::NotFound, sign_in::SignInPage, sign_up::SignUpPage};

/// The whole HTML document, rendered on the server.
pub fn shell(options: LeptosOptions) -> impl IntoView {
    crate::security::content_security_policy();
    #[cfg(feature = "ssr")]
    let stylesheet = format!("/{}/{}", options.site_pkg_dir, crate::assets::built().stylesheet(&options.output_name));
    #[cfg(not(feature = "ssr"))]
    let stylesheet = format!("/{}/{}.css", options.site_pkg_dir, options.output_name);
    view! {
        <!DOCTYPE html>
        <html lang="en">
            <head>
                <meta charset="utf-8"/>
                <meta name="viewport" content="width=device-width, initial-scale=1"/>
                <meta name="color-scheme" content="light"/>
                <link rel="icon" href="/favicon.svg" type="image/svg+xml"/>
                <link rel="stylesheet" href=stylesheet/>
                <AutoReload options=options.clone()/>
                <HydrationScripts options/>
                <MetaTags/>
            </head>
            <body>
                <App/>
            </body>
        </html>
    }
}

/// The dashboard application.
#[component]
pub fn App() -> impl IntoView {
    provide_meta_context();

    // Marks the page as hydrated, so that browser tests (and curious people) can tell that the
    // client-side app has taken over. Effects run only in the browser.
    Effect::new(move |_| {
        if let Some(body) = document().body() {
            let _ = body.set_attribute("data-hydrated", "true");
        }
    });

    view! {
        // The one title formatter: it escapes the title on the server (see `security`).
        <Title formatter=crate::security::title/>
        <Router>
            <Routes fallback=|| view! { <NotFound/> }>
                // Async: the server renders the whole page before sending it. Dashboard pages
                // are small, and it makes redirects and status codes from data loads reliable.
                <Route path=path!("/sign-in") view=SIGN_IN_PAGE ssr=SsrMode::Async/>
                <Route path=path!("/sign-up") view=SIGN_UP_PAGE ssr=SsrMode::Async/>
                <Route path=path!("/sign-in/sso/:tenant") view=SSO_CHOOSER_PAGE ssr=SsrMode::Async/>
                <Route path=path!("/me") view=MY_ACCESS_PAGE ssr=SsrMode::Async/>
                <Route path=path!("/invite/:token") view=INVITATION_PAGE ssr=SsrMode::Async/>
                <Route path=path!("/forgot-password") view=FORGOT_PASSWORD_PAGE ssr=SsrMode::Async/>
                <Route path=path!("/reset-password/:token") view=RESET_PASSWORD_PAGE ssr=SsrMode::Async/>
                <ParentRoute path=path!("support") view=SupportLayout ssr=SsrMode::Async>
                    <Route path=path!("") view=SUPPORT_HOME ssr=SsrMode::Async/>
                    <ParentRoute path=path!("t/:tenant") view=TENANT_FRAME ssr=SsrMode::Async>
                        <Route path=path!("") view=TENANT_OVERVIEW_TAB ssr=SsrMode::Async/>
                        <Route path=path!("users") view=ALL_USERS_TAB ssr=SsrMode::Async/>
                        <Route path=path!("users/:id") view=USER_TAB ssr=SsrMode::Async/>
                        <Route path=path!("unassigned") view=UNASSIGNED_TAB ssr=SsrMode::Async/>
                        <Route path=path!("groups") view=GROUPS_TAB ssr=SsrMode::Async/>
                        <Route path=path!("mappings") view=MAPPINGS_TAB ssr=SsrMode::Async/>
                        <Route path=path!("sso") view=SSO_TAB ssr=SsrMode::Async/>
                        <Route path=path!("activity") view=ACTIVITY_PAGE ssr=SsrMode::Async/>
                        <Route path=path!("activity/:id") view=ACTIVITY_RECORD_PAGE ssr=SsrMode::Async/>
                    </ParentRoute>
                </ParentRoute>
                <ParentRoute path=path!("") view=DashboardLayout ssr=SsrMode::Async>
                    <Route path=path!("") view=HOME_PAGE ssr=SsrMode::Async/>
                    <Route path=path!("scim") view=SCIM_PAGE ssr=SsrMode::Async/>
                    <Route path=path!("safety") view=SAFETY_PAGE ssr=SsrMode::Async/>
                    <Route path=path!("integrations") view=INTEGRATIONS_PAGE ssr=SsrMode::Async/>
                    <Route path=path!("sso") view=SSO_PAGE ssr=SsrMode::Async/>
                    <Route path=path!("admins") view=TEAM_PAGE ssr=SsrMode::Async/>
                    <Route path=path!("users") view=USERS_PAGE ssr=SsrMode::Async/>
                    <Route path=path!("users/new") view=NEW_USER_PAGE ssr=SsrMode::Async/>
                    <Route path=path!("users/import") view=IMPORT_PAGE ssr=SsrMode::Async/>
                    <Route path=path!("users/:id") view=USER_DETAIL_PAGE ssr=SsrMode::Async/>
                    <Route path=path!("unassigned") view=UNASSIGNED_PAGE ssr=SsrMode::Async/>
                    <Route path=path!("user-groups") view=USER_GROUPS_PAGE ssr=SsrMode::Async/>
                    <Route path=path!("user-groups/:id") view=USER_GROUP_PAGE ssr=SsrMode::Async/>
                    <Route path=path!("mappings") view=MAPPINGS_PAGE ssr=SsrMode::Async/>
                    <Route path=path!("activity") view=ACTIVITY_PAGE ssr=SsrMode::Async/>
                    <Route path=path!("activity/:id") view=ACTIVITY_RECORD_PAGE ssr=SsrMode::Async/>
                </ParentRoute>
            </Routes>
        </Router>
    }
}

/// The pages' code is split from the main wasm (cargo leptos `--split`) in seven modules, each
/// fetched the first time one of its pages is shown: the sign-in page and the Overview (the
/// first pages of a day's work: small on their own), the sign-up page (a new organization's
/// first: in the other signed-out pages' module its first load was 303 KB gzip of wasm), the
/// other signed-out pages, the directory (users, groups, mappings, activity), the settings
/// (SCIM, SSO, safety, integrations, admins) and the support console. Seven, not one per page:
/// code that several modules share goes into chunks of its own, one per combination, and a
/// module per page made 500 chunks (up to 260 requests for one page). The two signed-in frames
/// stay in the main wasm: in a module of their own, what they use moved into chunks the sign-in
/// page loads too, and the Overview's first load grew from 354 to 435 KB gzip (README,
/// "Dashboard bundle"). Every page creates its resources in its view, in the same order on the
/// server and in the browser (see `layout::SignedIn`).
///
/// Every route's view is one type, [`Page`] (two function pointers), not the router's
/// `Lazy<T>` per page: the router's code for a route is generic over its view's type, and a
/// type per page kept ~1.5 KB of router code per route in the main wasm (35 routes).
///
/// A module that fails to load shows a notice with a link that loads the page again.
macro_rules! lazy_pages {
    ($module:ident: $($route:ident($code:ident, $preload:ident) => $page:ident),* $(,)?) => {$(
        #[::leptos::wasm_split::wasm_split($module, wasm_split_path = ::leptos::wasm_split, preload($preload), fallible)]
        fn $code() -> Result<AnyView, ::leptos::wasm_split::SplitLoaderError> {
            Ok(view! { <$page/> }.into_any())
        }

        const $route: Page = Page {
            view: || {
                Box::pin(async {
                    // The server names the module's files in the page (`<link rel="preload">`),
                    // so that the browser fetches them with the main wasm (`assets`).
                    #[cfg(feature = "ssr")]
                    crate::assets::preload_page_module(stringify!($module));
                    $code().await.unwrap_or_else(|_| stale_page_notice())
                })
            },
            // A failure is met again, and handled, by `view`.
            preload: || Box::pin(async {
                let _ = $preload().await;
            }),
        };
    )*};
}

/// A future of the browser's single thread (or the server's render of one page).
type LocalFuture<T> = std::pin::Pin<Box<dyn std::future::Future<Output = T>>>;

/// A route's view: its page's code, loaded on first use (see [`lazy_pages`]).
#[derive(Clone, Copy)]
struct Page {
    /// Loads the page's module if needed and renders the page.
    view: fn() -> LocalFuture<AnyView>,
    /// Loads the page's module; the router calls it before it hydrates or renders the page.
    preload: fn() -> LocalFuture<()>,
}

impl ChooseView for Page {
    async fn choose(self) -> AnyView {
        (self.view)().await
    }

    async fn preload(&self) {
        (self.preload)().await
    }
}

/// What shows instead of a page whose code failed to load (the network, or a page left open
/// across an upgrade asking for the old build's files): a link that loads the page again from
/// the server. Not a reload on its own: a load also fails when the browser leaves the page
/// while it loads, and a reload then would fight the browser's own navigation.
fn stale_page_notice() -> AnyView {
    let here = leptos_router::hooks::use_location();
    let href = move || match here.search.get() {
        search if search.is_empty() => here.pathname.get(),
        search => format!("{}?{}", here.pathname.get(), search.trim_start_matches('?')),
    };
    view! {
        <div class="notice notice-warning" role="alert" data-testid="stale-page">
            <span>"This page could not be loaded. Roster may have been updated since you opened it. "</span>
            <a href=href rel="external" class="btn btn-small btn-primary">"Reload the page"</a>
        </div>
    }
    .into_any()
}

lazy_pages! {
    sign_in_page:
    SIGN_IN_PAGE(sign_in_page_code, sign_in_page_preload) => SignInPage,
}

lazy_pages! {
    sign_up_page:
    SIGN_UP_PAGE(sign_up_page_code, sign_up_page_preload) => SignUpPage,
}

lazy_pages! {
    signed_out_pages:
    SSO_CHOOSER_PAGE(sso_chooser_page_code, sso_chooser_page_preload) => SsoChooserPage,
    MY_ACCESS_PAGE(my_access_page_code, my_access_page_preload) => MyAccessPage,
    INVITATION_PAGE(invitation_page_code, invitation_page_preload) => InvitationPage,
    FORGOT_PASSWORD_PAGE(forgot_password_page_code, forgot_password_page_preload) => ForgotPasswordPage,
    RESET_PASSWORD_PAGE(reset_password_page_code, reset_password_page_preload) => ResetPasswordPage,
}

lazy_pages! {
    support_pages:
    // The frame of an organization in the support console too: its data (the whole
    // inspection: SCIM setup, traffic, held changes, webhooks, activity) decodes with code
    // that would otherwise stay in the main wasm.
    TENANT_FRAME(tenant_frame_code, tenant_frame_preload) => TenantFrame,
    SUPPORT_HOME(support_home_code, support_home_preload) => SupportHome,
    TENANT_OVERVIEW_TAB(tenant_overview_tab_code, tenant_overview_tab_preload) => TenantOverviewTab,
    ALL_USERS_TAB(all_users_tab_code, all_users_tab_preload) => AllUsersTab,
    USER_TAB(user_tab_code, user_tab_preload) => UserTab,
    UNASSIGNED_TAB(unassigned_tab_code, unassigned_tab_preload) => UnassignedTab,
    GROUPS_TAB(groups_tab_code, groups_tab_preload) => GroupsTab,
    MAPPINGS_TAB(mappings_tab_code, mappings_tab_preload) => MappingsTab,
    SSO_TAB(sso_tab_code, sso_tab_preload) => SsoTab,
}

lazy_pages! {
    overview_page:
    HOME_PAGE(home_page_code, home_page_preload) => HomePage,
}

lazy_pages! {
    directory_pages:
    USERS_PAGE(users_page_code, users_page_preload) => UsersPage,
    NEW_USER_PAGE(new_user_page_code, new_user_page_preload) => NewUserPage,
    IMPORT_PAGE(import_page_code, import_page_preload) => ImportPage,
    USER_DETAIL_PAGE(user_detail_page_code, user_detail_page_preload) => UserDetailPage,
    UNASSIGNED_PAGE(unassigned_page_code, unassigned_page_preload) => UnassignedPage,
    USER_GROUPS_PAGE(user_groups_page_code, user_groups_page_preload) => UserGroupsPage,
    USER_GROUP_PAGE(user_group_page_code, user_group_page_preload) => UserGroupPage,
    MAPPINGS_PAGE(mappings_page_code, mappings_page_preload) => MappingsPage,
    ACTIVITY_PAGE(activity_page_code, activity_page_preload) => ActivityPage,
    ACTIVITY_RECORD_PAGE(activity_record_page_code, activity_record_page_preload) => ActivityRecordPage,
}

lazy_pages! {
    settings_pages:
    SCIM_PAGE(scim_page_code, scim_page_preload) => ScimPage,
    SAFETY_PAGE(safety_page_code, safety_page_preload) => SafetyPage,
    INTEGRATIONS_PAGE(integrations_page_code, integrations_page_preload) => IntegrationsPage,
    SSO_PAGE(sso_page_code, sso_page_preload) => SsoPage,
    TEAM_PAGE(team_page_code, team_page_preload) => TeamPage,
}
