//! Signing in: the page shown to anyone without a session, and the dialog that opens over the current page
//! when a session expires (the page stays mounted underneath, so a half-filled form keeps its values).

use leptos::prelude::*;
use leptos::task::spawn_local;

use crate::api::ApiError;
use crate::auth::use_auth;
use crate::components::{FormError, Modal, TextField};

#[component]
pub fn SignIn() -> impl IntoView {
    let auth = use_auth();
    // An invitation link names the tenant: `/login?tenant=<slug>`.
    let tenant = web_sys::window()
        .and_then(|w| w.location().search().ok())
        .and_then(|q| {
            q.trim_start_matches('?')
                .split('&')
                .find_map(|pair| pair.strip_prefix("tenant=").map(str::to_owned))
        })
        .map(|t| {
            String::from(js_sys::decode_uri_component(&t).unwrap_or_else(|_| t.clone().into()))
        })
        .unwrap_or_default();
    view! {
        <main class="signin" id="main">
            <h1>"Sign in"</h1>
            <p class="muted">"Switchyard console"</p>
            {move || auth.notice.get().map(|n| view! { <p class="error" role="alert">{n}</p> })}
            <SignInForm email=String::new() tenant=tenant fixed=false/>
        </main>
    }
}

/// Over the page whose session expired: the same user, in the same tenant (the email is fixed); signing out
/// instead is the way to become someone else.
#[component]
pub fn ReSignIn() -> impl IntoView {
    let auth = use_auth();
    let email = auth.email().unwrap_or_default();
    let tenant = auth.tenant_slug().unwrap_or_default();
    let dialog = NodeRef::<leptos::html::Dialog>::new();
    let sign_out = move |_| {
        spawn_local(async move {
            auth.sign_out().await;
        });
    };
    view! {
        <Modal node=dialog labelled_by="resign-title">
            <h2 id="resign-title">"Your session has expired"</h2>
            <p>"Sign in again to continue. Nothing you typed on this page is lost."</p>
            <SignInForm email=email tenant=tenant fixed=true/>
            <button type="button" class="link" on:click=sign_out>"Sign out instead"</button>
        </Modal>
    }
}

#[component]
fn SignInForm(email: String, tenant: String, fixed: bool) -> impl IntoView {
    let auth = use_auth();
    let email = RwSignal::new(email);
    let password = RwSignal::new(String::new());
    let tenant = RwSignal::new(tenant);
    let error: RwSignal<Option<ApiError>> = RwSignal::new(None);
    let busy = RwSignal::new(false);
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        if busy.get_untracked() {
            return;
        }
        busy.set(true);
        error.set(None);
        spawn_local(async move {
            let result = auth
                .sign_in(
                    &email.get_untracked(),
                    &password.get_untracked(),
                    &tenant.get_untracked(),
                )
                .await;
            busy.set(false);
            match result {
                Ok(()) => password.set(String::new()),
                Err(e) => error.set(Some(e)),
            }
        });
    };
    view! {
        <form on:submit=submit class="stack">
            <TextField label="Email" id="signin-email" value=email kind="email" required=true autocomplete="username" field="email" error=error readonly=fixed autofocus=!fixed/>
            <TextField label="Password" id="signin-password" value=password kind="password" required=true autocomplete="current-password" field="password" error=error autofocus=fixed/>
            {(!fixed).then(|| view! {
                <TextField label="Tenant (optional)" id="signin-tenant" value=tenant hint="The tenant's slug, if you belong to several." field="tenant" error=error/>
            })}
            <FormError error=error/>
            <button type="submit" class="primary" disabled=move || busy.get()>
                {move || if busy.get() { "Signing in…" } else { "Sign in" }}
            </button>
        </form>
    }
}
