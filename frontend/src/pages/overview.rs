//! The overview: spend today and this month against budgets, requests and error rate, the top teams and
//! models, and the live health of the deployments. Figures come from the chargeback report (the same roll-ups
//! finance exports), budgets from `/budgets`, health from `/deployments`.

use leptos::prelude::*;
use leptos_router::hooks::use_navigate;
use switchyard_types::roles::Action;

use crate::auth::{home_path, use_auth};
use crate::components::{BudgetBar, Page, approx, load, loaded, or_dash, utc_date};
use crate::model::{Budget, Deployment, Provider, Report, text};

#[component]
pub fn Overview() -> impl IntoView {
    let auth = use_auth();
    if !auth.can(Action::ReportsRead) {
        // Developers have no reports: their home is their keys.
        let navigate = use_navigate();
        Effect::new(move |_| navigate(home_path(&auth), Default::default()));
        return ().into_any();
    }
    let today = load::<Report>(auth, || {
        format!(
            "/reports/chargeback?from={}&to={}",
            utc_date(0),
            utc_date(1)
        )
    });
    let month = load::<Report>(auth, || "/reports/chargeback".into());
    let teams = load::<Report>(auth, || "/reports/chargeback?group_by=team".into());
    let models = load::<Report>(auth, || "/reports/chargeback?group_by=model".into());
    let budgets = load::<Page<Budget>>(auth, || "/budgets?limit=200".into());
    // Health is live: re-read every 15 seconds while the page is open.
    let tick = RwSignal::new(0u32);
    if let Ok(handle) = set_interval_with_handle(
        move || tick.update(|n| *n += 1),
        std::time::Duration::from_secs(15),
    ) {
        on_cleanup(move || handle.clear());
    }
    let deployments = load::<Page<Deployment>>(auth, move || {
        tick.track();
        "/deployments?limit=200".into()
    });
    let providers = load::<Page<Provider>>(auth, || "/providers?limit=200".into());

    view! {
        <h1>"Overview"</h1>
        <section class="cards" aria-label="Key figures">
            <Figure label="Spend today" value=Signal::derive(move || report_figure(today.get(), |r| format!("{} {}", r.total_cost(), r.currency)))/>
            <Figure label="Spend this month" value=Signal::derive(move || report_figure(month.get(), |r| format!("{} {}", r.total_cost(), r.currency)))/>
            <Figure label="Requests this month" value=Signal::derive(move || report_figure(month.get(), |r| r.total("requests").to_string()))/>
            <Figure label="Error rate" value=Signal::derive(move || report_figure(month.get(), |r| {
                let requests = r.total("requests");
                if requests == 0 {
                    "—".to_owned()
                } else {
                    format!("{:.1}%", r.total("errors") as f64 * 100.0 / requests as f64)
                }
            }))/>
        </section>

        <section aria-labelledby="ov-budgets">
            <h2 id="ov-budgets">"Budgets"</h2>
            {loaded(budgets, |page: Page<Budget>| {
                let mut list = page.data;
                list.sort_by_key(|b| std::cmp::Reverse(b.percent()));
                if list.is_empty() {
                    return view! { <p class="muted">"No budgets yet."</p> }.into_any();
                }
                view! {
                    <p class="muted">"Closest to its limit first."</p>
                    <ul class="plain">
                        {list.into_iter().take(8).map(|b| {
                            let label = format!("{} · {} {}", b.name, b.period, if b.hard_limit { "(hard)" } else { "(soft)" });
                            view! {
                                <li>
                                    <div>{label}</div>
                                    <BudgetBar name=b.name.clone() percent=b.percent() spent=b.spent() limit=b.limit.clone() currency=b.currency.clone()/>
                                </li>
                            }
                        }).collect_view()}
                    </ul>
                }.into_any()
            })}
        </section>

        <div class="two">
            <section aria-labelledby="ov-teams">
                <h2 id="ov-teams">"Top teams"</h2>
                {loaded(teams, |r: Report| top_table(&r, "Team", |row| {
                    let name = text(row, "team_name");
                    if name.is_empty() { text(row, "team_id") } else { name }
                }))}
            </section>
            <section aria-labelledby="ov-models">
                <h2 id="ov-models">"Top models"</h2>
                {loaded(models, |r: Report| top_table(&r, "Model", |row| text(row, "model")))}
            </section>
        </div>

        <section aria-labelledby="ov-health">
            <h2 id="ov-health">"Provider health"</h2>
            {move || {
                let names: Vec<Provider> = providers.get().and_then(Result::ok).map(|p| p.data).unwrap_or_default();
                loaded(deployments, move |page: Page<Deployment>| health_table(page.data, names.clone()))
            }}
        </section>
    }
    .into_any()
}

fn report_figure(
    report: Option<Result<Report, crate::api::ApiError>>,
    show: impl Fn(&Report) -> String,
) -> String {
    match report {
        None => "…".into(),
        Some(Ok(r)) => show(&r),
        Some(Err(e)) => e.message,
    }
}

#[component]
fn Figure(label: &'static str, value: Signal<String>) -> impl IntoView {
    view! {
        <div class="card">
            <div class="card-label">{label}</div>
            <div class="card-value" aria-label=label>{move || value.get()}</div>
        </div>
    }
}

/// The five groups with the highest cost.
fn top_table(
    report: &Report,
    heading: &'static str,
    name: impl Fn(&serde_json::Value) -> String,
) -> AnyView {
    let mut rows: Vec<_> = report.rows.iter().collect();
    rows.sort_by(|a, b| approx(&text(b, "cost")).total_cmp(&approx(&text(a, "cost"))));
    if rows.is_empty() {
        return view! { <p class="muted">"No calls this month."</p> }.into_any();
    }
    let currency = report.currency.clone();
    view! {
        <table>
            <thead><tr><th scope="col">{heading}</th><th scope="col">"Requests"</th><th scope="col">"Cost"</th></tr></thead>
            <tbody>
                {rows.into_iter().take(5).map(|row| view! {
                    <tr>
                        <td>{name(row)}</td>
                        <td class="num">{text(row, "requests")}</td>
                        <td class="num">{format!("{} {}", text(row, "cost"), currency)}</td>
                    </tr>
                }).collect_view()}
            </tbody>
        </table>
    }
    .into_any()
}

/// Deployments with their circuit state, as the answering replica sees them.
pub fn health_table(deployments: Vec<Deployment>, providers: Vec<Provider>) -> AnyView {
    if deployments.is_empty() {
        return view! { <p class="muted">"No deployments yet."</p> }.into_any();
    }
    view! {
        <table>
            <thead><tr>
                <th scope="col">"Model"</th><th scope="col">"Provider"</th><th scope="col">"Region"</th>
                <th scope="col">"Circuit"</th><th scope="col">"Latency"</th><th scope="col">"In flight"</th>
            </tr></thead>
            <tbody>
                {deployments.into_iter().map(|d| {
                    let provider = providers.iter().find(|p| p.id == d.provider_id).map_or_else(|| d.provider_id.clone(), |p| p.name.clone());
                    let cooling = d.health.as_ref().filter(|h| h.circuit == "closed" && h.available_in_ms > 0).map(|h| h.available_in_ms);
                    let (circuit, class) = match (d.health.as_ref().map(|h| h.circuit.as_str()), cooling) {
                        (Some("closed"), Some(ms)) => (format!("cooling down ({} s)", ms.div_ceil(1000)), "warn"),
                        (Some("closed"), None) => ("healthy".to_owned(), "ok"),
                        (Some("half_open"), _) => ("probing".to_owned(), "warn"),
                        (Some("open"), _) => ("open (failing)".to_owned(), "bad"),
                        _ => ("not loaded yet".to_owned(), "muted"),
                    };
                    let latency = or_dash(d.health.as_ref().and_then(|h| h.latency_ms).map(|ms| format!("{ms:.1} ms")));
                    let in_flight = or_dash(d.health.as_ref().map(|h| h.in_flight));
                    view! {
                        <tr>
                            <td>{d.model}</td><td>{provider}</td><td>{d.region}</td>
                            <td><span class=format!("pill {class}")>{circuit}</span></td>
                            <td class="num">{latency}</td><td class="num">{in_flight}</td>
                        </tr>
                    }
                }).collect_view()}
            </tbody>
        </table>
    }
    .into_any()
}
