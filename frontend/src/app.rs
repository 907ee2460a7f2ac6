//! The HTML shell and the route table.

use leptos::prelude::*;
use leptos_meta::{provide_meta_context, MetaTags, Title};
use leptos_router::components::{ParentRoute, Route, Router, Routes};
use leptos_router::{path, SsrMode};

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
                <Route path=path!("/sign-in") view=SignInPage ssr=SsrMode::Async/>
                <Route path=path!("/sign-up") view=SignUpPage ssr=SsrMode::Async/>
                <Route path=path!("/sign-in/sso/:tenant") view=SsoChooserPage ssr=SsrMode::Async/>
                <Route path=path!("/me") view=MyAccessPage ssr=SsrMode::Async/>
                <Route path=path!("/invite/:token") view=InvitationPage ssr=SsrMode::Async/>
                <Route path=path!("/forgot-password") view=ForgotPasswordPage ssr=SsrMode::Async/>
                <Route path=path!("/reset-password/:token") view=ResetPasswordPage ssr=SsrMode::Async/>
                <ParentRoute path=path!("support") view=SupportLayout ssr=SsrMode::Async>
                    <Route path=path!("") view=SupportHome ssr=SsrMode::Async/>
                    <ParentRoute path=path!("t/:tenant") view=TenantFrame ssr=SsrMode::Async>
                        <Route path=path!("") view=TenantOverviewTab ssr=SsrMode::Async/>
                        <Route path=path!("users") view=AllUsersTab ssr=SsrMode::Async/>
                        <Route path=path!("users/:id") view=UserTab ssr=SsrMode::Async/>
                        <Route path=path!("unassigned") view=UnassignedTab ssr=SsrMode::Async/>
                        <Route path=path!("groups") view=GroupsTab ssr=SsrMode::Async/>
                        <Route path=path!("mappings") view=MappingsTab ssr=SsrMode::Async/>
                        <Route path=path!("sso") view=SsoTab ssr=SsrMode::Async/>
                        <Route path=path!("activity") view=ActivityPage ssr=SsrMode::Async/>
                        <Route path=path!("activity/:id") view=ActivityRecordPage ssr=SsrMode::Async/>
                    </ParentRoute>
                </ParentRoute>
                <ParentRoute path=path!("") view=DashboardLayout ssr=SsrMode::Async>
                    <Route path=path!("") view=HomePage ssr=SsrMode::Async/>
                    <Route path=path!("scim") view=ScimPage ssr=SsrMode::Async/>
                    <Route path=path!("safety") view=SafetyPage ssr=SsrMode::Async/>
                    <Route path=path!("integrations") view=IntegrationsPage ssr=SsrMode::Async/>
                    <Route path=path!("sso") view=SsoPage ssr=SsrMode::Async/>
                    <Route path=path!("admins") view=TeamPage ssr=SsrMode::Async/>
                    <Route path=path!("users") view=UsersPage ssr=SsrMode::Async/>
                    <Route path=path!("users/new") view=NewUserPage ssr=SsrMode::Async/>
                    <Route path=path!("users/import") view=ImportPage ssr=SsrMode::Async/>
                    <Route path=path!("users/:id") view=UserDetailPage ssr=SsrMode::Async/>
                    <Route path=path!("unassigned") view=UnassignedPage ssr=SsrMode::Async/>
                    <Route path=path!("user-groups") view=UserGroupsPage ssr=SsrMode::Async/>
                    <Route path=path!("user-groups/:id") view=UserGroupPage ssr=SsrMode::Async/>
                    <Route path=path!("mappings") view=MappingsPage ssr=SsrMode::Async/>
                    <Route path=path!("activity") view=ActivityPage ssr=SsrMode::Async/>
                    <Route path=path!("activity/:id") view=ActivityRecordPage ssr=SsrMode::Async/>
                </ParentRoute>
            </Routes>
        </Router>
    }
}
