//! Signing in: the page shown to anyone without a session, and the dialog that opens over the current page
//! when a session expires (the page stays mounted underneath, so a half-filled form keeps its values).

use leptos::prelude::*;
use leptos::task::spawn_local;

use crate::api::ApiError;
use crate::auth::use_auth;
use crate::components::{FormError, TextField};

#[component]
pub fn SignIn() -> impl IntoView {
    view! {
        <main class="signin" id="main">
            <h1>"Sign in"</h1>
            <p class="muted">"Switchyard console"</p>
            <SignInForm email=String::new() with_tenant=true/>
        </main>
    }
}

#[component]
pub fn ReSignIn() -> impl IntoView {
    let auth = use_auth();
    let email = auth.email().unwrap_or_default();
    view! {
        <div class="backdrop">
            <div class="dialog" role="dialog" aria-modal="true" aria-labelledby="resign-title">
                <h2 id="resign-title">"Your session has expired"</h2>
                <p>"Sign in again to continue. Nothing you typed on this page is lost."</p>
                <SignInForm email=email with_tenant=false/>
            </div>
        </div>
    }
}

#[component]
fn SignInForm(email: String, with_tenant: bool) -> impl IntoView {
    let auth = use_auth();
    let email = RwSignal::new(email);
    let password = RwSignal::new(String::new());
    let tenant = RwSignal::new(String::new());
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
            <TextField label="Email" id="signin-email" value=email kind="email" required=true autocomplete="username" field="email" error=error/>
            <TextField label="Password" id="signin-password" value=password kind="password" required=true autocomplete="current-password" field="password" error=error/>
            {with_tenant.then(|| view! {
                <TextField label="Tenant (optional)" id="signin-tenant" value=tenant hint="The tenant's slug, if you belong to several." field="tenant" error=error/>
            })}
            <FormError error=error/>
            <button type="submit" class="primary" disabled=move || busy.get()>
                {move || if busy.get() { "Signing in…" } else { "Sign in" }}
            </button>
        </form>
    }
}
