//! The request log: every admitted call with its model, route, status, tokens, exact cost and latency.
//! Developers see only the calls of their own keys (the gateway filters them).

use leptos::prelude::*;
use switchyard_types::roles::Action;

use crate::app::NotAllowed;
use crate::auth::use_auth;
use crate::components::{
    Page, Pager, PagerControls, SelectField, TextField, loaded, or_dash, short_time,
};
use crate::model::Call;

const OUTCOMES: &[&str] = &[
    "",
    "ok",
    "incomplete",
    "client_disconnected",
    "upstream_error",
    "upstream_timeout",
    "upstream_rejected",
    "untranslatable",
    "no_healthy_deployment",
];

#[component]
pub fn Requests() -> impl IntoView {
    let auth = use_auth();
    if !auth.can(Action::RequestsRead) {
        return view! { <h1>"Requests"</h1><NotAllowed/> }.into_any();
    }
    let model = RwSignal::new(String::new());
    let outcome = RwSignal::new(String::new());
    let session = RwSignal::new(String::new());
    let filters = RwSignal::new(Vec::<(&'static str, String)>::new());
    let pager = Pager::new();
    let calls = pager.load::<Call>(auth, "/requests", move || filters.get());
    let apply = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        filters.set(vec![
            ("model", model.get_untracked().trim().to_owned()),
            ("outcome", outcome.get_untracked()),
            ("session_id", session.get_untracked().trim().to_owned()),
        ]);
        pager.reset();
    };
    view! {
        <h1>"Requests"</h1>
        <form class="panel" on:submit=apply aria-label="Filters">
            <div class="row">
                <TextField label="Model" id="req-model" value=model/>
                <SelectField label="Outcome" id="req-outcome" value=outcome options=Signal::derive(|| OUTCOMES.iter().map(|o| ((*o).to_owned(), if o.is_empty() { "Any".to_owned() } else { (*o).to_owned() })).collect())/>
                <TextField label="Session id" id="req-session" value=session/>
            </div>
            <button type="submit">"Apply filters"</button>
        </form>
        {loaded(calls, |page: Page<Call>| {
            if page.data.is_empty() {
                return view! { <p class="muted">"No calls."</p> }.into_any();
            }
            view! {
                <div class="scroll">
                <table>
                    <thead><tr>
                        <th scope="col">"When"</th><th scope="col">"Model"</th><th scope="col">"Provider · region"</th><th scope="col">"Status"</th>
                        <th scope="col">"Tokens in / out"</th><th scope="col">"Cost"</th><th scope="col">"Latency"</th><th scope="col">"Session"</th>
                    </tr></thead>
                    <tbody>
                        {page.data.into_iter().map(|c| {
                            let status = match &c.error_message {
                                Some(message) => format!("{} {} — {message}", c.status_code, c.outcome),
                                None => format!("{} {}", c.status_code, c.outcome),
                            };
                            view! {
                                <tr>
                                    <td title=c.id.clone()>{short_time(&c.created_at)}</td>
                                    <td>{c.model.clone()}</td>
                                    <td>{format!("{} · {}", or_dash(c.provider.clone()), or_dash(c.region.clone()))}</td>
                                    <td class=if c.outcome == "ok" { "" } else { "error" }>{status}</td>
                                    <td class="num">{format!("{} / {}", c.input_tokens, c.output_tokens)}</td>
                                    <td class="num">{c.cost.clone()}</td>
                                    <td class="num">{or_dash(c.latency_ms.map(|ms| format!("{ms:.1} ms")))}</td>
                                    <td>{or_dash(c.session_id.clone())}</td>
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
