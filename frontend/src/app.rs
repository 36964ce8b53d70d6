//! The application: the session check at start, the public pages (sign-in, accepting an invitation), and the
//! shell (header, role-aware navigation, the page) with the client-side routes.

use leptos::prelude::*;
use leptos::task::spawn_local;
use leptos_router::components::{A, Route, Router, Routes};
use leptos_router::hooks::{use_location, use_navigate};
use leptos_router::path;
use switchyard_types::roles::Action;

use crate::auth::{Auth, home_path, use_auth};
use crate::components::ConfirmDialog;
use crate::pages;

#[component]
pub fn App() -> impl IntoView {
    let auth = Auth::new();
    provide_context(auth);
    // A session kept in the refresh cookie survives a reload.
    spawn_local(async move {
        auth.refresh().await;
        auth.ready.set(true);
    });
    view! {
        <Router>
            <Show
                when=move || auth.ready.get()
                fallback=|| view! { <p class="splash" aria-busy="true">"Loading Switchyard…"</p> }
            >
                <Gate/>
            </Show>
        </Router>
    }
}

/// `/invite` is open to anyone with an invitation link, signed in or not; every other path needs a session
/// and shows the sign-in page without one.
#[component]
fn Gate() -> impl IntoView {
    let auth = use_auth();
    let location = use_location();
    let accepting = Memo::new(move |_| location.pathname.with(|p| p == "/invite"));
    view! {
        <Show when=move || !accepting.get() fallback=|| view! { <pages::invite::AcceptInvitation/> }>
            <Show when=move || auth.signed_in() fallback=|| view! { <pages::login::SignIn/> }>
                <Shell/>
            </Show>
        </Show>
    }
}

/// A navigation entry: shown only to roles that may use the page.
struct NavItem {
    href: &'static str,
    label: &'static str,
    action: Action,
}

const NAV: &[NavItem] = &[
    NavItem {
        href: "/",
        label: "Overview",
        action: Action::ReportsRead,
    },
    NavItem {
        href: "/teams",
        label: "Teams",
        action: Action::TeamsRead,
    },
    NavItem {
        href: "/members",
        label: "Members",
        action: Action::MembersRead,
    },
    NavItem {
        href: "/keys",
        label: "API keys",
        action: Action::KeysRead,
    },
    NavItem {
        href: "/budgets",
        label: "Budgets",
        action: Action::BudgetsRead,
    },
    NavItem {
        href: "/providers",
        label: "Providers",
        action: Action::ProvidersRead,
    },
    NavItem {
        href: "/regions",
        label: "Regions",
        action: Action::RegionsRead,
    },
    NavItem {
        href: "/chargeback",
        label: "Chargeback",
        action: Action::ReportsRead,
    },
    NavItem {
        href: "/audit",
        label: "Audit log",
        action: Action::AuditRead,
    },
    NavItem {
        href: "/requests",
        label: "Requests",
        action: Action::RequestsRead,
    },
    NavItem {
        href: "/sessions",
        label: "Sessions",
        action: Action::RequestsRead,
    },
];

#[component]
fn Shell() -> impl IntoView {
    let auth = use_auth();
    let navigate = use_navigate();
    let location = use_location();
    // Signing in from /login (or a bookmark of it) lands on the role's home page.
    Effect::new(move |_| {
        if location.pathname.get() == "/login" {
            navigate(home_path(&auth), Default::default());
        }
    });
    let sign_out = move |_| {
        spawn_local(async move {
            auth.sign_out().await;
        });
    };
    let session = move || auth.session();
    view! {
        <a class="skip" href="#main">"Skip to content"</a>
        <header class="top">
            <span class="brand">"Switchyard"</span>
            <span class="tenant">{move || session().map(|s| s.tenant.name)}</span>
            <span class="who">
                {move || auth.email()}
                " · "
                <span class="role">{move || auth.role().map(|r| r.as_str())}</span>
            </span>
            <A href="/account" attr:class="account">"Account"</A>
            <button type="button" class="link" on:click=sign_out>
                "Sign out"
            </button>
        </header>
        <div class="layout">
            <nav aria-label="Main" class="side">
                <ul>
                    {move || {
                        NAV.iter()
                            .filter(|item| auth.can(item.action))
                            .map(|item| view! { <li><A href=item.href exact=true>{item.label}</A></li> })
                            .collect_view()
                    }}
                </ul>
            </nav>
            <main id="main" tabindex="-1">
                <ConfirmDialog/>
                <Routes fallback=|| view! { <h1>"Not found"</h1><p>"There is no such page."</p> }>
                    <Route path=path!("/") view=pages::overview::Overview/>
                    <Route path=path!("/login") view=pages::overview::Overview/>
                    <Route path=path!("/teams") view=pages::teams::Teams/>
                    <Route path=path!("/members") view=pages::members::Members/>
                    <Route path=path!("/keys") view=pages::keys::Keys/>
                    <Route path=path!("/budgets") view=pages::budgets::Budgets/>
                    <Route path=path!("/providers") view=pages::providers::Providers/>
                    <Route path=path!("/regions") view=pages::regions::Regions/>
                    <Route path=path!("/chargeback") view=pages::chargeback::Chargeback/>
                    <Route path=path!("/audit") view=pages::audit::Audit/>
                    <Route path=path!("/requests") view=pages::requests::Requests/>
                    <Route path=path!("/sessions") view=pages::sessions::Sessions/>
                    <Route path=path!("/account") view=pages::account::Account/>
                </Routes>
            </main>
        </div>
        <Show when=move || auth.is_expired()>
            <pages::login::ReSignIn/>
        </Show>
    }
}

/// Shown in place of a page the role may not open.
#[component]
pub fn NotAllowed() -> impl IntoView {
    view! { <p class="error" role="alert">"Your role does not allow this page."</p> }
}
