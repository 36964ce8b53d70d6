//! Accepting an invitation (`/invite#syi_…`), outside the signed-in shell like the sign-in page. The token is
//! the link's fragment, which browsers never send to a server. A new account sets its password here; an
//! existing account proves itself with its own. The answer is a session, taken as a sign-in takes one.

use leptos::prelude::*;
use leptos::task::spawn_local;
use leptos_router::components::A;
use leptos_router::hooks::use_navigate;

use crate::api::ApiError;
use crate::auth::{home_path, use_auth};
use crate::components::{FormError, TextField};

/// The invitation token in the page's fragment, if it looks like one.
fn token_from_hash() -> Option<String> {
    let hash = web_sys::window()?.location().hash().ok()?;
    let token = hash.trim_start_matches('#').trim();
    token.starts_with("syi_").then(|| token.to_owned())
}

/// An error of the accept call as the form shows it: a wrong password under the password field, an unusable
/// link in words the invitee can act on.
fn explained(mut error: ApiError) -> ApiError {
    match error.code.as_str() {
        "invalid_credentials" => {
            error.field = Some("password".into());
            error.message =
                "This address already has an account: enter that account's current password."
                    .into();
        }
        "invalid_invitation" => {
            error.message =
                "This invitation is not valid: it may have expired, been revoked or already \
                             been used. Ask whoever invited you for a new link."
                    .into();
        }
        _ => {}
    }
    error
}

#[component]
pub fn AcceptInvitation() -> impl IntoView {
    let auth = use_auth();
    let navigate = use_navigate();
    let token = token_from_hash();
    let name = RwSignal::new(String::new());
    let password = RwSignal::new(String::new());
    let error: RwSignal<Option<ApiError>> = RwSignal::new(None);
    let busy = RwSignal::new(false);
    let submit = {
        let token = token.clone().unwrap_or_default();
        move |ev: leptos::ev::SubmitEvent| {
            ev.prevent_default();
            if busy.get_untracked() {
                return;
            }
            busy.set(true);
            error.set(None);
            let token = token.clone();
            let navigate = navigate.clone();
            spawn_local(async move {
                let result = auth
                    .accept_invitation(&token, &password.get_untracked(), &name.get_untracked())
                    .await;
                busy.set(false);
                match result {
                    Ok(()) => {
                        password.set(String::new());
                        navigate(home_path(&auth), Default::default());
                    }
                    Err(e) => error.set(Some(explained(e))),
                }
            });
        }
    };
    let signed_in_as = auth.email();
    view! {
        <main class="signin" id="main">
            <h1>"Accept your invitation"</h1>
            <p class="muted">"Switchyard console"</p>
            {signed_in_as.map(|email| view! {
                <p class="warning">{format!("You are signed in as {email}. Accepting signs you in with the invited address instead.")}</p>
            })}
            {match token {
                None => view! {
                    <p class="error" role="alert">
                        "This page needs the whole invitation link, as it was sent to you: it ends with #syi_ and a long code."
                    </p>
                }.into_any(),
                Some(_) => view! {
                    <form on:submit=submit class="stack">
                        <TextField label="Name (optional)" id="invite-name" value=name field="name" error=error autocomplete="name" autofocus=true hint="For a new account; by default the part of your email before @."/>
                        <TextField label="Password" id="invite-password" value=password kind="password" required=true autocomplete="new-password" field="password" error=error hint="New account: choose a password of at least 12 characters; existing account: your current password."/>
                        <FormError error=error/>
                        <button type="submit" class="primary" disabled=move || busy.get()>
                            {move || if busy.get() { "Accepting…" } else { "Accept invitation" }}
                        </button>
                    </form>
                }.into_any(),
            }}
            <p class="muted">"Already a member? " <A href="/login">"Sign in"</A></p>
        </main>
    }
}
