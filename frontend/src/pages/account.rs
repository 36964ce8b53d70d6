//! The signed-in user's own account: who and where they are, and changing their password (e.g. the first
//! owner's one-time password, which should be changed at once).

use leptos::prelude::*;
use leptos::task::spawn_local;
use serde_json::json;

use crate::api::{self, ApiError, Method};
use crate::auth::use_auth;
use crate::components::{FormError, TextField};

#[component]
pub fn Account() -> impl IntoView {
    let auth = use_auth();
    let current = RwSignal::new(String::new());
    let new_password = RwSignal::new(String::new());
    let repeat = RwSignal::new(String::new());
    let error: RwSignal<Option<ApiError>> = RwSignal::new(None);
    let status = RwSignal::new(String::new());
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        error.set(None);
        status.set(String::new());
        if new_password.get_untracked() != repeat.get_untracked() {
            error.set(Some(ApiError {
                status: 400,
                code: "validation_failed".into(),
                message: "the two new passwords differ".into(),
                field: Some("repeat_password".into()),
            }));
            return;
        }
        let body = json!({"current_password": current.get_untracked(), "new_password": new_password.get_untracked()});
        spawn_local(async move {
            let sent = serde_json::to_value(&body).ok();
            match api::call::<serde_json::Value>(
                auth,
                Method::Post,
                "/auth/password",
                sent.as_ref(),
            )
            .await
            {
                Ok(_) => {
                    current.set(String::new());
                    new_password.set(String::new());
                    repeat.set(String::new());
                    status.set("Password changed. Your other sessions were signed out.".into());
                }
                Err(e) => error.set(Some(e)),
            }
        });
    };
    let session = auth.session();
    view! {
        <h1>"Account"</h1>
        {session.map(|s| view! {
            <dl class="facts">
                <dt>"Email"</dt><dd>{s.user.email}</dd>
                <dt>"Name"</dt><dd>{s.user.name}</dd>
                <dt>"Tenant"</dt><dd>{format!("{} ({})", s.tenant.name, s.tenant.slug)}</dd>
                <dt>"Role"</dt><dd>{s.role.as_str()}</dd>
            </dl>
        })}
        <form class="panel" on:submit=submit aria-labelledby="change-password">
            <h2 id="change-password">"Change password"</h2>
            <div class="row">
                <TextField label="Current password" id="pw-current" value=current kind="password" required=true autocomplete="current-password" field="current_password" error=error/>
                <TextField label="New password" id="pw-new" value=new_password kind="password" required=true autocomplete="new-password" field="new_password" error=error hint="12 to 256 characters"/>
                <TextField label="Repeat the new password" id="pw-repeat" value=repeat kind="password" required=true autocomplete="new-password" field="repeat_password" error=error/>
            </div>
            <FormError error=error/>
            <button type="submit" class="primary">"Change password"</button>
            <p role="status" class="status">{move || status.get()}</p>
        </form>
    }
}
