//! Data residency: the regions the tenant, and each team, may be served in. Each level can only narrow the one
//! above it; no selection at a level means no restriction there.

use leptos::prelude::*;
use leptos::task::spawn_local;
use serde_json::{Value, json};
use switchyard_types::roles::Action;

use crate::api::{self, ApiError};
use crate::auth::use_auth;
use crate::components::{FormError, Page, load, loaded};
use crate::model::{Region, Team, Tenant};

#[component]
pub fn Regions() -> impl IntoView {
    let auth = use_auth();
    let tenant = load::<Tenant>(auth, || "/tenant".into());
    let teams = load::<Page<Team>>(auth, || "/teams?limit=200".into());
    let regions = load::<Page<Region>>(auth, || "/regions".into());
    let can_tenant = auth.can(Action::TenantUpdate);
    let can_teams = auth.can(Action::TeamsManage);

    // The forms are built once the catalog is there; each keeps its own ticks and saved value, so saving one
    // never resets another.
    view! {
        <h1>"Regions"</h1>
        <p class="muted">"Calls are served only by deployments in the regions every level allows: the tenant's, the team's and the key's."</p>
        {loaded(regions, move |catalog: Page<Region>| {
            let for_teams = catalog.data.clone();
            view! {
                {loaded(tenant, move |t: Tenant| view! {
                    <Residency title=format!("Tenant {}", t.name) path="/tenant".to_owned() allowed=t.allowed_regions catalog=catalog.data.clone() editable=can_tenant/>
                })}
                {loaded(teams, move |page: Page<Team>| {
                    let catalog = for_teams.clone();
                    page.data.into_iter().map(|team| view! {
                        <Residency title=format!("Team {}", team.name) path=format!("/teams/{}", team.id) allowed=team.allowed_regions catalog=catalog.clone() editable=can_teams/>
                    }).collect_view()
                })}
            }
        })}
    }
}

#[component]
fn Residency(
    title: String,
    path: String,
    allowed: Option<Vec<String>>,
    catalog: Vec<Region>,
    editable: bool,
) -> impl IntoView {
    let auth = use_auth();
    let chosen = RwSignal::new(allowed.clone().unwrap_or_default());
    let saved = RwSignal::new(allowed);
    let error: RwSignal<Option<ApiError>> = RwSignal::new(None);
    let status = RwSignal::new(String::new());
    let summary = move || match saved.get() {
        None => "Every region".to_owned(),
        Some(list) if list.is_empty() => "No region (every call is refused)".to_owned(),
        Some(list) => list.join(", "),
    };
    let heading_id = format!("res-{}", path.replace('/', "-"));
    let labelled_by = heading_id.clone();
    let save = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        error.set(None);
        status.set(String::new());
        let list = chosen.get_untracked();
        let value = if list.is_empty() {
            Value::Null
        } else {
            json!(list)
        };
        let path = path.clone();
        spawn_local(async move {
            match api::patch::<Value>(auth, &path, &json!({"allowed_regions": value})).await {
                Ok(answer) => {
                    let now: Option<Vec<String>> =
                        serde_json::from_value(answer["allowed_regions"].clone()).unwrap_or(None);
                    saved.set(now);
                    status.set("Saved.".into());
                }
                Err(e) => error.set(Some(e)),
            }
        });
    };
    view! {
        <form class="panel" on:submit=save aria-labelledby=labelled_by>
            <h2 id=heading_id>{title}</h2>
            <p>"Allowed now: " <strong>{summary}</strong></p>
            <fieldset disabled=!editable>
                <legend>"Allowed regions (none ticked: no restriction)"</legend>
                {catalog.into_iter().map(|r| {
                    let code = r.code.clone();
                    let code_for_change = r.code.clone();
                    let checked = move || chosen.with(|c| c.contains(&code));
                    view! {
                        <label class="inline">
                            <input type="checkbox" prop:checked=checked on:change=move |ev| {
                                let on = event_target_checked(&ev);
                                let code = code_for_change.clone();
                                chosen.update(|c| {
                                    c.retain(|x| x != &code);
                                    if on {
                                        c.push(code);
                                    }
                                });
                            }/>
                            {format!(" {} ({})", r.name, r.code)}
                        </label>
                    }
                }).collect_view()}
            </fieldset>
            <FormError error=error/>
            {editable.then(|| view! { <button type="submit">"Save regions"</button> })}
            <p role="status" class="status">{move || status.get()}</p>
        </form>
    }
}
