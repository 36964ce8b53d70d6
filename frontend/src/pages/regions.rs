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
    let reload = RwSignal::new(0u32);
    let tenant = load::<Tenant>(auth, move || {
        reload.track();
        "/tenant".into()
    });
    let teams = load::<Page<Team>>(auth, move || {
        reload.track();
        "/teams?limit=200".into()
    });
    let regions = load::<Page<Region>>(auth, || "/regions".into());
    let can_tenant = auth.can(Action::TenantUpdate);
    let can_teams = auth.can(Action::TeamsManage);
    let catalog = move || {
        regions
            .get()
            .and_then(Result::ok)
            .map(|p| p.data)
            .unwrap_or_default()
    };

    view! {
        <h1>"Regions"</h1>
        <p class="muted">"Calls are served only by deployments in the regions every level allows: the tenant's, the team's and the key's."</p>
        {loaded(tenant, move |t: Tenant| {
            let path = "/tenant".to_owned();
            let title = format!("Tenant {}", t.name);
            view! { <Residency title=title path=path allowed=t.allowed_regions catalog=catalog() editable=can_tenant on_saved=Callback::new(move |()| reload.update(|n| *n += 1))/> }
        })}
        {loaded(teams, move |page: Page<Team>| {
            page.data.into_iter().map(|team| {
                let path = format!("/teams/{}", team.id);
                let title = format!("Team {}", team.name);
                view! { <Residency title=title path=path allowed=team.allowed_regions catalog=catalog() editable=can_teams on_saved=Callback::new(move |()| reload.update(|n| *n += 1))/> }
            }).collect_view()
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
    on_saved: Callback<()>,
) -> impl IntoView {
    let auth = use_auth();
    let chosen = RwSignal::new(allowed.clone().unwrap_or_default());
    let error: RwSignal<Option<ApiError>> = RwSignal::new(None);
    let status = RwSignal::new(String::new());
    let summary = match &allowed {
        None => "Every region".to_owned(),
        Some(list) if list.is_empty() => "No region (every call is refused)".to_owned(),
        Some(list) => list.join(", "),
    };
    let heading_id = format!("res-{}", path.replace('/', "-"));
    let labelled_by = heading_id.clone();
    let save = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        error.set(None);
        let list = chosen.get_untracked();
        let value = if list.is_empty() {
            Value::Null
        } else {
            json!(list)
        };
        let path = path.clone();
        spawn_local(async move {
            match api::patch::<Value>(auth, &path, &json!({"allowed_regions": value})).await {
                Ok(_) => {
                    status.set("Saved.".into());
                    on_saved.run(());
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
