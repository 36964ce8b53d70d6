//! Budgets: create and edit (scope, period, limit, soft thresholds, hard or soft), the current period's spend
//! as a progress bar, closest to its limit first, and delete (confirmed).

use leptos::prelude::*;
use leptos::task::spawn_local;
use serde_json::{Value, json};
use switchyard_types::roles::Action;

use crate::api::{self, ApiError, Method};
use crate::app::NotAllowed;
use crate::auth::use_auth;
use crate::components::{
    BudgetBar, FormError, Page, SelectField, TextField, load, loaded, use_confirm,
};
use crate::model::{ApiKey, Budget, Team};

fn options(values: &[&str]) -> Vec<(String, String)> {
    values
        .iter()
        .map(|v| ((*v).to_owned(), (*v).to_owned()))
        .collect()
}

#[component]
pub fn Budgets() -> impl IntoView {
    let auth = use_auth();
    if !auth.can(Action::BudgetsRead) {
        return view! { <h1>"Budgets"</h1><NotAllowed/> }.into_any();
    }
    let confirm = use_confirm();
    let reload = RwSignal::new(0u32);
    // One list of up to 200 (the API's largest page), so that "closest to its limit first" holds across all.
    let budgets = load::<Page<Budget>>(auth, move || {
        reload.track();
        "/budgets?limit=200".into()
    });
    let teams = load::<Page<Team>>(auth, || "/teams?limit=200".into());
    // Finance may budget a key without reading keys: it then types the key's id.
    let keys: crate::components::Loaded<Page<ApiKey>> = if auth.can(Action::KeysRead) {
        load::<Page<ApiKey>>(auth, || "/keys?limit=200".into())
    } else {
        RwSignal::new(None)
    };
    let manage = auth.can(Action::BudgetsManage);
    let editing: RwSignal<Option<Budget>> = RwSignal::new(None);
    let status = RwSignal::new(String::new());
    // Held here, not in the form: the form is re-created after an edit, and the secret is shown only once.
    let signing_secret: RwSignal<Option<String>> = RwSignal::new(None);

    let scope_name = move |b: &Budget| -> String {
        let id = b.scope_id.clone().unwrap_or_default();
        match b.scope_type.as_str() {
            "tenant" => "the whole tenant".into(),
            "team" => teams
                .get()
                .and_then(Result::ok)
                .and_then(|p| p.data.into_iter().find(|t| t.id == id))
                .map_or(id, |t| format!("team {}", t.name)),
            "key" => format!("key {}", key_name(keys, &id)),
            _ => format!(
                "tag {}={}",
                b.tag_key.clone().unwrap_or_default(),
                b.tag_value.clone().unwrap_or_default()
            ),
        }
    };
    let delete = move |b: Budget| {
        confirm.ask(
            format!("Delete the budget {}?", b.name),
            "Calls in its scope are no longer limited by it.",
            "Delete budget",
            move || {
                let b = b.clone();
                spawn_local(async move {
                    match api::no_content(auth, Method::Delete, &format!("/budgets/{}", b.id)).await
                    {
                        Ok(()) => status.set(format!("Deleted {}.", b.name)),
                        Err(e) => status.set(e.message),
                    }
                    reload.update(|n| *n += 1);
                });
            },
        );
    };

    view! {
        <h1>"Budgets"</h1>
        {move || manage.then(|| {
            let current = editing.get();
            view! {
                <BudgetForm
                    editing=current
                    teams=teams
                    keys=keys
                    signing_secret=signing_secret
                    on_cancel=Callback::new(move |()| editing.set(None))
                    on_saved=Callback::new(move |message: String| {
                        status.set(message);
                        // After a create the form stays as it is (and cleared); after an edit it closes.
                        if editing.get_untracked().is_some() {
                            editing.set(None);
                        }
                        reload.update(|n| *n += 1);
                    })
                />
            }
        })}
        {move || signing_secret.get().map(|s| view! {
            <section class="panel notice" aria-labelledby="webhook-secret">
                <h2 id="webhook-secret">"Webhook signing secret"</h2>
                <p class="warning"><strong>"Shown only once."</strong>" Alerts to the webhook are signed with it; store it where the receiver can check them."</p>
                <p><code class="secret" aria-label="Webhook signing secret">{s}</code></p>
                <button type="button" on:click=move |_| signing_secret.set(None)>"Done"</button>
            </section>
        })}
        <p role="status" class="status">{move || status.get()}</p>
        {loaded(budgets, move |page: Page<Budget>| {
            let mut list = page.data;
            list.sort_by_key(|b| std::cmp::Reverse(b.percent()));
            if list.is_empty() {
                return view! { <p class="muted">"No budgets yet."</p> }.into_any();
            }
            let closest = list[0].name.clone();
            view! {
                <p>"Closest to its limit: " <strong>{closest}</strong></p>
                <table>
                    <thead><tr>
                        <th scope="col">"Name"</th><th scope="col">"Scope"</th><th scope="col">"Period"</th>
                        <th scope="col">"Use"</th><th scope="col">"Thresholds"</th><th scope="col">"Kind"</th>
                        <th scope="col"><span class="sr-only">"Actions"</span></th>
                    </tr></thead>
                    <tbody>
                        {list.into_iter().map(|b| {
                            let thresholds = if b.soft_thresholds.is_empty() { "—".to_owned() } else {
                                b.soft_thresholds.iter().map(|t| format!("{t}%")).collect::<Vec<_>>().join(", ")
                            };
                            let for_edit = b.clone();
                            let for_delete = b.clone();
                            view! {
                                <tr>
                                    <td>{b.name.clone()}</td>
                                    <td>{scope_name(&b)}</td>
                                    <td>{b.period.clone()}</td>
                                    <td class="wide"><BudgetBar name=b.name.clone() percent=b.percent() spent=b.spent() limit=b.limit.clone() currency=b.currency.clone()/></td>
                                    <td>{thresholds}</td>
                                    <td>{if b.hard_limit { "hard" } else { "soft" }}</td>
                                    <td class="actions">
                                        {manage.then(|| view! {
                                            <button type="button" on:click=move |_| editing.set(Some(for_edit.clone()))>"Edit"</button>
                                            <button type="button" class="danger" on:click=move |_| delete(for_delete.clone())>"Delete"</button>
                                        })}
                                    </td>
                                </tr>
                            }
                        }).collect_view()}
                    </tbody>
                </table>
            }.into_any()
        })}
    }
    .into_any()
}

fn key_name(keys: crate::components::Loaded<Page<ApiKey>>, id: &str) -> String {
    keys.get()
        .and_then(Result::ok)
        .and_then(|p| p.data.into_iter().find(|k| k.id == id))
        .map_or_else(|| id.to_owned(), |k| k.name)
}

/// Creates a budget, or edits one (scope and tag cannot change once made).
#[component]
fn BudgetForm(
    editing: Option<Budget>,
    teams: crate::components::Loaded<Page<Team>>,
    keys: crate::components::Loaded<Page<ApiKey>>,
    signing_secret: RwSignal<Option<String>>,
    on_cancel: Callback<()>,
    on_saved: Callback<String>,
) -> impl IntoView {
    let auth = use_auth();
    let existing = editing.clone();
    let name = RwSignal::new(editing.as_ref().map(|b| b.name.clone()).unwrap_or_default());
    let scope = RwSignal::new(
        editing
            .as_ref()
            .map_or("tenant".to_owned(), |b| b.scope_type.clone()),
    );
    let team = RwSignal::new(String::new());
    let key = RwSignal::new(String::new());
    let tag_key = RwSignal::new(String::new());
    let tag_value = RwSignal::new(String::new());
    let period = RwSignal::new(
        editing
            .as_ref()
            .map_or("monthly".to_owned(), |b| b.period.clone()),
    );
    let limit = RwSignal::new(
        editing
            .as_ref()
            .map(|b| b.limit.clone())
            .unwrap_or_default(),
    );
    let thresholds = RwSignal::new(
        editing
            .as_ref()
            .map(|b| {
                b.soft_thresholds
                    .iter()
                    .map(u8::to_string)
                    .collect::<Vec<_>>()
                    .join(", ")
            })
            .unwrap_or_else(|| "50, 80".into()),
    );
    let hard = RwSignal::new(editing.as_ref().is_none_or(|b| b.hard_limit));
    let webhook = RwSignal::new(
        editing
            .as_ref()
            .and_then(|b| b.webhook_url.clone())
            .unwrap_or_default(),
    );
    let error: RwSignal<Option<ApiError>> = RwSignal::new(None);
    let is_edit = editing.is_some();
    let can_read_keys = auth.can(Action::KeysRead);

    let team_options = Signal::derive(move || {
        let mut o = vec![(String::new(), "Choose a team".to_owned())];
        if let Some(Ok(p)) = teams.get() {
            o.extend(p.data.into_iter().map(|t| (t.id, t.name)));
        }
        o
    });
    let key_options = Signal::derive(move || {
        let mut o = vec![(String::new(), "Choose a key".to_owned())];
        if let Some(Ok(p)) = keys.get() {
            o.extend(p.data.into_iter().map(|k| (k.id, k.name)));
        }
        o
    });

    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        error.set(None);
        let parsed: Result<Vec<u8>, ApiError> = thresholds
            .get_untracked()
            .split(',')
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .map(|t| {
                t.trim_end_matches('%').parse::<u8>().map_err(|_| ApiError {
                    status: 400,
                    code: "validation_failed".into(),
                    message: "percentages from 1 to 100, separated by commas".into(),
                    field: Some("soft_thresholds".into()),
                })
            })
            .collect();
        let soft = match parsed {
            Ok(s) => s,
            Err(e) => {
                error.set(Some(e));
                return;
            }
        };
        let webhook_url = webhook.get_untracked();
        let webhook_url = (!webhook_url.trim().is_empty()).then(|| webhook_url.trim().to_owned());
        let mut body = json!({
            "name": name.get_untracked().trim(),
            "period": period.get_untracked(),
            "limit": limit.get_untracked().trim(),
            "soft_thresholds": soft,
            "hard_limit": hard.get_untracked(),
            "webhook_url": webhook_url,
        });
        let existing = existing.clone();
        if existing.is_none() {
            let scope_type = scope.get_untracked();
            body["scope_type"] = json!(scope_type);
            match scope_type.as_str() {
                "team" => body["scope_id"] = json!(team.get_untracked()),
                "key" => body["scope_id"] = json!(key.get_untracked()),
                "tag" => {
                    body["tag_key"] = json!(tag_key.get_untracked().trim());
                    body["tag_value"] = json!(tag_value.get_untracked().trim());
                }
                _ => {}
            }
        }
        spawn_local(async move {
            let result: Result<Value, ApiError> = match &existing {
                Some(b) => api::patch(auth, &format!("/budgets/{}", b.id), &body).await,
                None => api::post(auth, "/budgets", &body).await,
            };
            match result {
                Ok(saved) => {
                    if let Some(secret) =
                        saved.get("webhook_signing_secret").and_then(Value::as_str)
                    {
                        signing_secret.set(Some(secret.to_owned()));
                    }
                    if existing.is_none() {
                        // A created budget leaves an empty form, so a second submit cannot duplicate it.
                        name.set(String::new());
                        limit.set(String::new());
                        webhook.set(String::new());
                    }
                    let verb = if existing.is_some() {
                        "Saved"
                    } else {
                        "Created"
                    };
                    on_saved.try_run(format!(
                        "{verb} the budget {}.",
                        crate::model::text(&saved, "name")
                    ));
                }
                Err(e) => error.set(Some(e)),
            }
        });
    };

    view! {
        <form class="panel" on:submit=submit aria-labelledby="budget-form">
            <h2 id="budget-form">{if is_edit { "Edit budget" } else { "New budget" }}</h2>
            <div class="row">
                <TextField label="Name" id="budget-name" value=name required=true field="name" error=error/>
                {(!is_edit).then(|| view! {
                    <SelectField label="Scope" id="budget-scope" value=scope options=Signal::derive(|| options(&["tenant", "team", "key", "tag"]))/>
                })}
                {move || (!is_edit && scope.get() == "team").then(|| view! { <SelectField label="Team" id="budget-team" value=team options=team_options/> })}
                {move || (!is_edit && scope.get() == "key").then(|| if can_read_keys {
                    view! { <SelectField label="Key" id="budget-key" value=key options=key_options/> }.into_any()
                } else {
                    view! { <TextField label="Key id" id="budget-key-id" value=key field="scope_id" error=error/> }.into_any()
                })}
                {move || (!is_edit && scope.get() == "tag").then(|| view! {
                    <TextField label="Tag key" id="budget-tag-key" value=tag_key field="tag_key" error=error/>
                    <TextField label="Tag value" id="budget-tag-value" value=tag_value field="tag_value" error=error/>
                })}
                <SelectField label="Period" id="budget-period" value=period options=Signal::derive(|| options(&["daily", "weekly", "monthly", "total"]))/>
                <TextField label="Limit" id="budget-limit" value=limit required=true field="limit" error=error hint="In the tenant's currency, e.g. 250.00"/>
                <TextField label="Soft thresholds (%)" id="budget-thresholds" value=thresholds field="soft_thresholds" error=error hint="Alerts at these percentages, e.g. 50, 80"/>
                <TextField label="Webhook URL" id="budget-webhook" value=webhook kind="url" field="webhook_url" error=error hint="Optional: alerts are POSTed here, signed"/>
                <div class="field checkbox">
                    <input id="budget-hard" type="checkbox" bind:checked=hard/>
                    <label for="budget-hard">"Hard limit"</label>
                    <small class="muted">"Refuse calls (429) once the budget is spent; otherwise only alert."</small>
                </div>
            </div>
            <FormError error=error/>
            <div class="actions">
                <button type="submit" class="primary">{if is_edit { "Save budget" } else { "Create budget" }}</button>
                {is_edit.then(|| view! { <button type="button" on:click=move |_| { on_cancel.try_run(()); }>"Cancel"</button> })}
            </div>
        </form>
    }
}
