//! The audit log: who changed what, with filters by action, target type and time.

use leptos::prelude::*;
use switchyard_types::roles::Action;

use crate::app::NotAllowed;
use crate::auth::use_auth;
use crate::components::{
    Page, Pager, PagerControls, SelectField, TextField, loaded, or_dash, short_time,
};
use crate::model::AuditEntry;

const TARGETS: &[&str] = &[
    "",
    "tenant",
    "user",
    "team",
    "api_key",
    "provider",
    "deployment",
    "model_group",
    "price",
    "budget",
];

#[component]
pub fn Audit() -> impl IntoView {
    let auth = use_auth();
    if !auth.can(Action::AuditRead) {
        return view! { <h1>"Audit log"</h1><NotAllowed/> }.into_any();
    }
    let action = RwSignal::new(String::new());
    let target = RwSignal::new(String::new());
    let since = RwSignal::new(String::new());
    let filters = RwSignal::new(Vec::<(&'static str, String)>::new());
    let pager = Pager::new();
    let entries = pager.load::<AuditEntry>(auth, "/audit", move || filters.get());
    let apply = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let since_value = since.get_untracked();
        filters.set(vec![
            ("action", action.get_untracked().trim().to_owned()),
            ("target_type", target.get_untracked()),
            (
                "since",
                if since_value.is_empty() {
                    String::new()
                } else {
                    format!("{since_value}T00:00:00Z")
                },
            ),
        ]);
        pager.reset();
    };
    view! {
        <h1>"Audit log"</h1>
        <form class="panel" on:submit=apply aria-label="Filters">
            <div class="row">
                <TextField label="Action" id="audit-action" value=action placeholder="e.g. api_key.revoke"/>
                <SelectField label="Target type" id="audit-target" value=target options=Signal::derive(|| TARGETS.iter().map(|t| ((*t).to_owned(), if t.is_empty() { "Any".to_owned() } else { (*t).to_owned() })).collect())/>
                <TextField label="Since" id="audit-since" value=since kind="date"/>
            </div>
            <button type="submit">"Apply filters"</button>
        </form>
        {loaded(entries, |page: Page<AuditEntry>| {
            if page.data.is_empty() {
                return view! { <p class="muted">"No entries."</p> }.into_any();
            }
            view! {
                <div class="scroll">
                <table>
                    <thead><tr><th scope="col">"When"</th><th scope="col">"Who"</th><th scope="col">"Action"</th><th scope="col">"Target"</th><th scope="col">"Change"</th></tr></thead>
                    <tbody>
                        {page.data.into_iter().map(|e| {
                            let change = match (&e.before, &e.after) {
                                (Some(b), Some(a)) => format!("{b} → {a}"),
                                (None, Some(a)) => a.to_string(),
                                (Some(b), None) => format!("was {b}"),
                                (None, None) => String::new(),
                            };
                            view! {
                                <tr>
                                    <td>{short_time(&e.created_at)}</td>
                                    <td>{or_dash(e.actor.clone())}</td>
                                    <td><code>{e.action.clone()}</code></td>
                                    <td>{format!("{} {}", e.target_type, e.target_id.clone().unwrap_or_default())}</td>
                                    <td><details><summary>"Show"</summary><pre>{change}</pre></details></td>
                                </tr>
                            }
                        }).collect_view()}
                    </tbody>
                </table>
                </div>
            }.into_any()
        })}
        <PagerControls pager=pager/>
    }
    .into_any()
}
