//! API keys: create (the secret shown once, with a copy button), list with prefix, last use and limits,
//! rotate and revoke (both confirmed). Developers see and manage only their own keys; the gateway filters them.

use leptos::prelude::*;
use leptos::task::spawn_local;
use serde_json::json;
use switchyard_types::roles::Action;

use crate::api::{self, ApiError};
use crate::app::NotAllowed;
use crate::auth::use_auth;
use crate::components::{
    FormError, Page, Pager, PagerControls, SelectField, TextField, copy_to_clipboard, load, loaded,
    optional_number, or_dash, short_time, use_confirm,
};
use crate::model::{ApiKey, NewKey, Team};

#[component]
pub fn Keys() -> impl IntoView {
    let auth = use_auth();
    if !auth.can(Action::KeysRead) {
        return view! { <h1>"API keys"</h1><NotAllowed/> }.into_any();
    }
    let confirm = use_confirm();
    let pager = Pager::new();
    let reload = RwSignal::new(0u32);
    let show_revoked = RwSignal::new(false);
    let keys = pager.load::<ApiKey>(auth, "/keys", move || {
        reload.track();
        // `path_with_query` leaves out empty values.
        let revoked = if show_revoked.get() { "true" } else { "" };
        vec![("include_revoked", revoked.to_owned())]
    });
    let teams = load::<Page<Team>>(auth, || "/teams?limit=200".into());
    let team_name = move |id: &str| {
        teams
            .get()
            .and_then(Result::ok)
            .and_then(|p| p.data.into_iter().find(|t| t.id == id).map(|t| t.name))
            .unwrap_or_else(|| id.to_owned())
    };
    let manage = auth.can(Action::KeysManage);
    let secret: RwSignal<Option<NewKey>> = RwSignal::new(None);
    let status = RwSignal::new(String::new());

    let revoke = move |key: ApiKey| {
        confirm.ask(
            format!("Revoke the key {}?", key.name),
            "Every call with this key is refused from the next request, on every replica. This cannot be undone.",
            "Revoke key",
            move || {
                let key = key.clone();
                spawn_local(async move {
                    match api::post::<ApiKey>(auth, &format!("/keys/{}/revoke", key.id), &json!({})).await {
                        Ok(_) => status.set(format!("Revoked {}.", key.name)),
                        Err(e) => status.set(e.message),
                    }
                    reload.update(|n| *n += 1);
                });
            },
        );
    };
    let rotate = move |key: ApiKey| {
        confirm.ask(
            format!("Rotate the key {}?", key.name),
            "A new secret is made with the same settings; the old secret stops working at once.",
            "Rotate key",
            move || {
                let key = key.clone();
                spawn_local(async move {
                    match api::post::<NewKey>(auth, &format!("/keys/{}/rotate", key.id), &json!({}))
                        .await
                    {
                        Ok(new_key) => {
                            status.set(format!("Rotated {}.", key.name));
                            secret.set(Some(new_key));
                        }
                        Err(e) => status.set(e.message),
                    }
                    reload.update(|n| *n += 1);
                });
            },
        );
    };

    view! {
        <h1>"API keys"</h1>
        {manage.then(|| view! {
            <NewKeyForm on_created=Callback::new(move |key: NewKey| {
                secret.set(Some(key));
                pager.reset();
                reload.update(|n| *n += 1);
            })/>
        })}
        {move || secret.get().map(|k| view! { <SecretOnce key=k on_done=Callback::new(move |()| secret.set(None))/> })}
        <p role="status" class="status">{move || status.get()}</p>
        <label class="inline">
            <input type="checkbox" prop:checked=move || show_revoked.get() on:change=move |ev| { show_revoked.set(event_target_checked(&ev)); pager.reset(); }/>
            " Show revoked keys"
        </label>
        {loaded(keys, move |page: Page<ApiKey>| {
            if page.data.is_empty() {
                return view! { <p class="muted">"No keys yet."</p> }.into_any();
            }
            view! {
                <table>
                    <thead><tr>
                        <th scope="col">"Name"</th><th scope="col">"Prefix"</th><th scope="col">"Team"</th>
                        <th scope="col">"Last used"</th><th scope="col">"Limits"</th><th scope="col">"Status"</th>
                        <th scope="col"><span class="sr-only">"Actions"</span></th>
                    </tr></thead>
                    <tbody>
                        {page.data.into_iter().map(|k| {
                            let limits = format!(
                                "{} rpm · {} tpm · {} concurrent",
                                k.rpm_limit.map_or("∞".into(), |v| v.to_string()),
                                k.tpm_limit.map_or("∞".into(), |v| v.to_string()),
                                k.max_concurrency.map_or("∞".into(), |v| v.to_string()),
                            );
                            let active = k.status() == "active";
                            let for_rotate = k.clone();
                            let for_revoke = k.clone();
                            view! {
                                <tr>
                                    <td>{k.name.clone()}</td>
                                    <td><code>{format!("{}…", k.prefix)}</code></td>
                                    <td>{team_name(&k.team_id)}</td>
                                    <td>{or_dash(k.last_used_at.as_deref().map(short_time))}</td>
                                    <td>{limits}</td>
                                    <td><span class=format!("pill {}", if active { "ok" } else { "muted" })>{k.status()}</span></td>
                                    <td class="actions">
                                        {(manage && k.revoked_at.is_none()).then(|| view! {
                                            {active.then(|| view! { <button type="button" on:click=move |_| rotate(for_rotate.clone())>"Rotate"</button> })}
                                            <button type="button" class="danger" on:click=move |_| revoke(for_revoke.clone())>"Revoke"</button>
                                        })}
                                    </td>
                                </tr>
                            }
                        }).collect_view()}
                    </tbody>
                </table>
            }.into_any()
        })}
        <PagerControls pager=pager/>
    }
    .into_any()
}

#[component]
fn NewKeyForm(on_created: Callback<NewKey>) -> impl IntoView {
    let auth = use_auth();
    let own_only = auth.scope(Action::KeysManage) == switchyard_types::roles::Scope::Own;
    let name = RwSignal::new(String::new());
    let team = RwSignal::new(String::new());
    let rpm = RwSignal::new(String::new());
    let tpm = RwSignal::new(String::new());
    let error: RwSignal<Option<ApiError>> = RwSignal::new(None);
    let teams = load::<Page<Team>>(auth, || "/teams?limit=200".into());
    let team_options = Signal::derive(move || {
        let mut options = vec![(String::new(), "Choose a team".to_owned())];
        if let Some(Ok(page)) = teams.get() {
            options.extend(page.data.into_iter().map(|t| (t.id, t.name)));
        }
        options
    });
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        error.set(None);
        let team_id = team.get_untracked();
        if team_id.is_empty() {
            error.set(Some(ApiError {
                status: 400,
                code: "validation_failed".into(),
                message: "choose the team the key belongs to".into(),
                field: Some("team_id".into()),
            }));
            return;
        }
        let limits = optional_number(&rpm.get_untracked(), "rpm_limit")
            .and_then(|r| Ok((r, optional_number(&tpm.get_untracked(), "tpm_limit")?)));
        let (rpm_limit, tpm_limit) = match limits {
            Ok(l) => l,
            Err(e) => {
                error.set(Some(e));
                return;
            }
        };
        let body = json!({"name": name.get_untracked().trim(), "team_id": team_id, "rpm_limit": rpm_limit, "tpm_limit": tpm_limit});
        spawn_local(async move {
            match api::post::<NewKey>(auth, "/keys", &body).await {
                Ok(key) => {
                    name.set(String::new());
                    rpm.set(String::new());
                    tpm.set(String::new());
                    on_created.try_run(key);
                }
                Err(e) => error.set(Some(e)),
            }
        });
    };
    view! {
        <form class="panel" on:submit=submit aria-labelledby="new-key">
            <h2 id="new-key">"New API key"</h2>
            <div class="row">
                <TextField label="Name" id="key-name" value=name required=true field="name" error=error/>
                <SelectField label="Team" id="key-team" value=team options=team_options/>
                <TextField label="RPM limit" id="key-rpm" value=rpm kind="number" field="rpm_limit" error=error hint="Optional"/>
                <TextField label="TPM limit" id="key-tpm" value=tpm kind="number" field="tpm_limit" error=error hint="Optional"/>
            </div>
            {own_only.then(|| view! { <p class="muted">"You can create keys only in teams you are a member of; the key is yours."</p> })}
            <FormError error=error/>
            <button type="submit" class="primary">"Create key"</button>
        </form>
    }
}

/// The new secret, shown once: copy it now, it cannot be read again.
#[component]
fn SecretOnce(key: NewKey, on_done: Callback<()>) -> impl IntoView {
    let copied = RwSignal::new(String::new());
    let secret = key.secret.clone();
    let copy = move |_| copy_to_clipboard(secret.clone(), "secret", copied);
    view! {
        <section class="panel notice" aria-labelledby="secret-once">
            <h2 id="secret-once">"Copy your new secret"</h2>
            <p class="warning">
                <strong>"This secret is shown only once."</strong>
                " Store it in your secret manager now: Switchyard keeps only its hash and cannot show it again."
            </p>
            <p>{format!("Key {} ({})", key.key.name, key.key.prefix)}</p>
            <p><code class="secret" aria-label="Secret">{key.secret.clone()}</code></p>
            <div class="actions">
                <button type="button" class="primary" on:click=copy>"Copy secret"</button>
                <button type="button" on:click=move |_| on_done.run(())>"Done"</button>
            </div>
            <p role="status" class="status">{move || copied.get()}</p>
        </section>
    }
}
