//! Chargeback: a date range, filters and a grouping; the report as an SVG chart and a table with totals; and
//! the CSV download, which is the API's own export byte for byte (the page fetches it and saves the bytes
//! as they came).

use leptos::prelude::*;
use leptos::task::spawn_local;
use switchyard_types::roles::Action;
use wasm_bindgen::JsCast;

use crate::api::{self, ApiError};
use crate::app::NotAllowed;
use crate::auth::use_auth;
use crate::components::{
    BarChart, ErrorLine, Page, SelectField, TextField, approx, load, short_time, utc_date,
};
use crate::model::{Report, Team, text};

const GROUPINGS: &[(&str, &str)] = &[
    ("team", "Team"),
    ("model", "Model"),
    ("key", "API key"),
    ("user", "Key owner"),
    ("provider", "Provider"),
    ("region", "Region"),
    ("application", "Application"),
    ("day", "Day"),
    ("month", "Month"),
];

/// Column headers for the report's columns; ids are left out of the table (the names stand for them).
fn header(column: &str) -> Option<&'static str> {
    Some(match column {
        "month" => "Month",
        "day" => "Day",
        "team_name" => "Team",
        "application" => "Application",
        "key_name" => "Key",
        "key_prefix" => "Prefix",
        "user_email" => "Owner",
        "model" => "Model",
        "provider" => "Provider",
        "region" => "Region",
        "tag_key" => "Tag",
        "tag_value" => "Value",
        "requests" => "Requests",
        "errors" => "Errors",
        "input_tokens" => "Input tokens",
        "output_tokens" => "Output tokens",
        "cached_tokens" => "Cached tokens",
        "reasoning_tokens" => "Reasoning tokens",
        "cost" => "Cost",
        _ => return None,
    })
}

const FIGURES: &[&str] = &[
    "requests",
    "errors",
    "input_tokens",
    "output_tokens",
    "cached_tokens",
    "reasoning_tokens",
    "cost",
];

#[component]
pub fn Chargeback() -> impl IntoView {
    let auth = use_auth();
    if !auth.can(Action::ReportsRead) {
        return view! { <h1>"Chargeback"</h1><NotAllowed/> }.into_any();
    }
    let from = RwSignal::new(format!("{}01", &utc_date(0)[..8]));
    let to = RwSignal::new(utc_date(1));
    let group_by = RwSignal::new("team".to_owned());
    let team = RwSignal::new(String::new());
    let model = RwSignal::new(String::new());
    let teams = load::<Page<Team>>(auth, || "/teams?limit=200".into());
    let team_options = Signal::derive(move || {
        let mut o = vec![(String::new(), "All teams".to_owned())];
        if let Some(Ok(p)) = teams.get() {
            o.extend(p.data.into_iter().map(|t| (t.id, t.name)));
        }
        o
    });

    // The query of the last "Run report"; the report reloads when it changes.
    let query = move || {
        api::path_with_query(
            "/reports/chargeback",
            &[
                ("from", from.get_untracked()),
                ("to", to.get_untracked()),
                ("group_by", group_by.get_untracked()),
                ("team_id", team.get_untracked()),
                ("model", model.get_untracked().trim().to_owned()),
            ],
        )
    };
    let submitted = RwSignal::new(query());
    let runs = RwSignal::new(0u32);
    // Through `load`: only the latest run's answer is shown (the CSV exports that same query), and a run that
    // failed while the session was expired runs again after signing in.
    let report = load::<Report>(auth, move || {
        runs.track();
        submitted.get()
    });
    let run = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        submitted.set(query());
        runs.update(|n| *n += 1);
    };
    let download_error: RwSignal<Option<ApiError>> = RwSignal::new(None);
    let download = move |_| {
        let path = format!("{}&format=csv", submitted.get_untracked());
        download_error.set(None);
        spawn_local(async move {
            match api::download(auth, &path).await {
                Ok((bytes, filename, content_type)) => {
                    let name = filename.unwrap_or_else(|| "chargeback.csv".into());
                    if let Err(message) = save_file(&bytes, &name, &content_type) {
                        download_error.set(Some(ApiError::local(message)));
                    }
                }
                Err(e) => download_error.set(Some(e)),
            }
        });
    };

    view! {
        <h1>"Chargeback"</h1>
        <form class="panel" on:submit=run aria-label="Report parameters">
            <div class="row">
                <TextField label="From" id="cb-from" value=from kind="date" required=true field="from" hint="Inclusive, UTC"/>
                <TextField label="To" id="cb-to" value=to kind="date" required=true field="to" hint="Exclusive, UTC"/>
                <SelectField label="Group by" id="cb-group" value=group_by options=Signal::derive(|| GROUPINGS.iter().map(|(v, t)| ((*v).to_owned(), (*t).to_owned())).collect())/>
                <SelectField label="Team" id="cb-team" value=team options=team_options/>
                <TextField label="Model" id="cb-model" value=model field="model" hint="Optional: one public model"/>
            </div>
            <div class="actions">
                <button type="submit" class="primary">"Run report"</button>
                <button type="button" on:click=download>"Download CSV"</button>
            </div>
            {move || download_error.get().map(|e| view! { <ErrorLine error=e/> })}
        </form>
        {move || match report.get() {
            None => view! { <p class="muted" aria-busy="true">"Loading…"</p> }.into_any(),
            Some(Err(e)) => view! { <ErrorLine error=e/> }.into_any(),
            Some(Ok(r)) => report_view(r).into_any(),
        }}
    }
    .into_any()
}

fn report_view(report: Report) -> impl IntoView {
    let shown: Vec<String> = report
        .columns
        .iter()
        .filter(|c| header(c).is_some() && c.as_str() != "currency")
        .cloned()
        .collect();
    let labels: Vec<String> = shown
        .iter()
        .filter(|c| !FIGURES.contains(&c.as_str()))
        .cloned()
        .collect();
    let label_of = {
        let labels = labels.clone();
        move |row: &serde_json::Value| -> String {
            let parts: Vec<String> = labels
                .iter()
                .map(|c| {
                    let v = text(row, c);
                    if v.is_empty() {
                        // A deleted team or key: its id stands in for the name.
                        let id_column = c.replace("_name", "_id").replace("_email", "_id");
                        let id = text(row, &id_column);
                        if id.is_empty() {
                            "(none)".to_owned()
                        } else {
                            id
                        }
                    } else {
                        v
                    }
                })
                .collect();
            if parts.is_empty() {
                "All calls".to_owned()
            } else {
                parts.join(" · ")
            }
        }
    };
    let currency = report.currency.clone();
    let mut bars: Vec<(String, f64, String)> = report
        .rows
        .iter()
        .map(|row| {
            (
                label_of(row),
                approx(&text(row, "cost")),
                format!("{} {}", text(row, "cost"), currency),
            )
        })
        .collect();
    bars.sort_by(|a, b| b.1.total_cmp(&a.1));
    bars.truncate(20);
    let title = format!(
        "Cost by {} from {} to {}",
        labels.join(" and ").replace("_name", "").replace("_", " "),
        report.from,
        report.to
    );
    let empty = report.rows.is_empty();
    let totals = report.totals.clone();
    view! {
        <section aria-labelledby="cb-result">
            <h2 id="cb-result">{format!("{} to {} UTC, in {}", short_time(&report.from), short_time(&report.to), report.currency)}</h2>
            {if empty {
                view! { <p class="muted">"No calls in this range."</p> }.into_any()
            } else {
                view! { <BarChart title=title bars=bars/> }.into_any()
            }}
            <div class="scroll">
                <table class="report">
                    <thead><tr>
                        {shown.iter().map(|c| view! { <th scope="col" class:num=FIGURES.contains(&c.as_str())>{header(c).unwrap_or_default()}</th> }).collect_view()}
                    </tr></thead>
                    <tbody>
                        {report.rows.iter().map(|row| view! {
                            <tr>
                                {shown.iter().map(|c| {
                                    let value = if labels.contains(c) { label_cell(row, c) } else { text(row, c) };
                                    view! { <td class:num=FIGURES.contains(&c.as_str())>{value}</td> }
                                }).collect_view()}
                            </tr>
                        }).collect_view()}
                    </tbody>
                    <tfoot><tr>
                        {shown.iter().enumerate().map(|(i, c)| {
                            if i == 0 {
                                view! { <th scope="row">"Total"</th> }.into_any()
                            } else if c == "cost" {
                                view! { <td class="num" aria-label="Total cost">{text(&totals, "cost")}</td> }.into_any()
                            } else if FIGURES.contains(&c.as_str()) {
                                view! { <td class="num">{text(&totals, c)}</td> }.into_any()
                            } else {
                                view! { <td></td> }.into_any()
                            }
                        }).collect_view()}
                    </tr></tfoot>
                </table>
            </div>
        </section>
    }
}

fn label_cell(row: &serde_json::Value, column: &str) -> String {
    let v = text(row, column);
    if v.is_empty() { "(none)".into() } else { v }
}

/// Saves bytes as a file download, as they are.
fn save_file(bytes: &[u8], name: &str, content_type: &str) -> Result<(), String> {
    let array = js_sys::Uint8Array::from(bytes);
    let parts = js_sys::Array::of1(&array);
    let options = web_sys::BlobPropertyBag::new();
    options.set_type(content_type);
    let blob = web_sys::Blob::new_with_u8_array_sequence_and_options(&parts, &options)
        .map_err(|_| "the browser could not hold the file")?;
    let url = web_sys::Url::create_object_url_with_blob(&blob)
        .map_err(|_| "the browser could not save the file")?;
    let document = web_sys::window()
        .and_then(|w| w.document())
        .ok_or("no document")?;
    let anchor = document
        .create_element("a")
        .map_err(|_| "no link")?
        .dyn_into::<web_sys::HtmlAnchorElement>()
        .map_err(|_| "no link")?;
    anchor.set_href(&url);
    anchor.set_download(name);
    anchor.click();
    // The download reads the blob after this returns; free it once it surely has.
    set_timeout(
        move || {
            let _ = web_sys::Url::revoke_object_url(&url);
        },
        std::time::Duration::from_secs(30),
    );
    Ok(())
}
