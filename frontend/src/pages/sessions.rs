//! Agent sessions: the list (latest first, with cost and failures), and one session as its graph of calls,
//! tool invocations and steps.

use leptos::prelude::*;
use serde::Deserialize;
use serde_json::Value;
use switchyard_types::roles::Action;

use crate::app::NotAllowed;
use crate::auth::use_auth;
use crate::components::{Page, Pager, PagerControls, TextField, load, loaded, or_dash, short_time};
use crate::model::{SessionSummary, text};

#[derive(Debug, Clone, PartialEq, Deserialize)]
struct Graph {
    session_id: String,
    nodes: Vec<Value>,
    edges: Vec<Value>,
    totals: Value,
    truncated: bool,
}

#[component]
pub fn Sessions() -> impl IntoView {
    let auth = use_auth();
    if !auth.can(Action::RequestsRead) {
        return view! { <h1>"Sessions"</h1><NotAllowed/> }.into_any();
    }
    let agent = RwSignal::new(String::new());
    let filters = RwSignal::new(Vec::<(&'static str, String)>::new());
    let pager = Pager::new();
    let sessions = pager.load::<SessionSummary>(auth, "/sessions", move || filters.get());
    let open: RwSignal<Option<String>> = RwSignal::new(None);
    let apply = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        filters.set(vec![("agent_id", agent.get_untracked().trim().to_owned())]);
        pager.reset();
    };
    view! {
        <h1>"Sessions"</h1>
        <form class="panel" on:submit=apply aria-label="Filters">
            <div class="row"><TextField label="Agent id" id="sess-agent" value=agent/></div>
            <button type="submit">"Apply filters"</button>
        </form>
        {loaded(sessions, move |page: Page<SessionSummary>| {
            if page.data.is_empty() {
                return view! { <p class="muted">"No sessions. Calls join a session with the x-switchyard-session-id header."</p> }.into_any();
            }
            view! {
                <table>
                    <thead><tr>
                        <th scope="col">"Session"</th><th scope="col">"Last call"</th><th scope="col">"Calls"</th>
                        <th scope="col">"Failed"</th><th scope="col">"Tokens in / out"</th><th scope="col">"Cost"</th>
                    </tr></thead>
                    <tbody>
                        {page.data.into_iter().map(|s| {
                            let id = s.session_id.clone();
                            view! {
                                <tr>
                                    <td><button type="button" class="link" on:click=move |_| open.set(Some(id.clone()))>{s.session_id.clone()}</button></td>
                                    <td>{short_time(&s.last_call_at)}</td>
                                    <td class="num">{s.calls}</td>
                                    <td class="num">{s.failed_calls}</td>
                                    <td class="num">{format!("{} / {}", s.input_tokens, s.output_tokens)}</td>
                                    <td class="num">{s.cost.clone()}</td>
                                </tr>
                            }
                        }).collect_view()}
                    </tbody>
                </table>
            }.into_any()
        })}
        <PagerControls pager=pager/>
        {move || open.get().map(|id| view! { <SessionGraph id=id/> })}
    }
    .into_any()
}

#[component]
fn SessionGraph(id: String) -> impl IntoView {
    let auth = use_auth();
    let path = format!(
        "/sessions/{}",
        String::from(js_sys::encode_uri_component(&id))
    );
    let graph = load::<Graph>(auth, move || path.clone());
    view! {
        <section class="panel" aria-labelledby="graph-title">
            {loaded(graph, |g: Graph| {
                let name_of = |node_id: &str, nodes: &[Value]| {
                    nodes.iter().find(|n| text(n, "id") == node_id).map_or_else(|| node_id.to_owned(), |n| {
                        let name = text(n, "name");
                        format!("{} {}", text(n, "kind"), if name.is_empty() { node_id.to_owned() } else { name })
                    })
                };
                view! {
                    <h2 id="graph-title">{format!("Session {}", g.session_id)}</h2>
                    <p>{format!(
                        "{} calls, {} tool invocations, {} / {} tokens, cost {}{}",
                        text(&g.totals, "calls"), text(&g.totals, "tool_invocations"), text(&g.totals, "input_tokens"),
                        text(&g.totals, "output_tokens"), text(&g.totals, "cost"),
                        if g.truncated { " (the oldest 5,000 calls only)" } else { "" },
                    )}</p>
                    <h3>"Steps"</h3>
                    <table>
                        <thead><tr><th scope="col">"Kind"</th><th scope="col">"Name"</th><th scope="col">"When"</th><th scope="col">"Model"</th><th scope="col">"Outcome"</th><th scope="col">"Cost"</th></tr></thead>
                        <tbody>
                            {g.nodes.iter().map(|n| view! {
                                <tr>
                                    <td>{text(n, "kind")}</td>
                                    <td>{or_dash(Some(text(n, "name")).filter(|s| !s.is_empty()))}</td>
                                    <td>{short_time(&text(n, "created_at"))}</td>
                                    <td>{text(n, "model")}</td>
                                    <td>{text(n, "outcome")}</td>
                                    <td class="num">{text(n, "cost")}</td>
                                </tr>
                            }).collect_view()}
                        </tbody>
                    </table>
                    <h3>"Links"</h3>
                    <ul class="plain">
                        {g.edges.iter().map(|e| view! {
                            <li>{format!("{} → {} ({})", name_of(&text(e, "from"), &g.nodes), name_of(&text(e, "to"), &g.nodes), text(e, "kind"))}</li>
                        }).collect_view()}
                    </ul>
                }
            })}
        </section>
    }
}
