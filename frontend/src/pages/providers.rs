//! Providers and deployments: credentials only ever shown masked, regions, prices, and each deployment's
//! live health and circuit state.

use leptos::prelude::*;
use leptos::task::spawn_local;
use serde_json::json;
use switchyard_types::roles::Action;

use crate::api::{self, ApiError, Method};
use crate::auth::use_auth;
use crate::components::{
    FormError, Page, Pager, PagerControls, SelectField, TextField, load, loaded, or_dash,
    use_confirm,
};
use crate::model::{Deployment, Provider, Region};

fn pairs(values: &[&str]) -> Vec<(String, String)> {
    values
        .iter()
        .map(|v| ((*v).to_owned(), (*v).to_owned()))
        .collect()
}

#[component]
pub fn Providers() -> impl IntoView {
    let auth = use_auth();
    let confirm = use_confirm();
    let reload = RwSignal::new(0u32);
    // Every provider (for names and the deployment form), and the pages of both tables.
    let providers = load::<Page<Provider>>(auth, move || {
        reload.track();
        "/providers?limit=200".into()
    });
    let provider_pager = Pager::new();
    let provider_page = provider_pager.load::<Provider>(auth, "/providers", move || {
        reload.track();
        Vec::new()
    });
    let deployment_pager = Pager::new();
    let deployments = deployment_pager.load::<Deployment>(auth, "/deployments", move || {
        reload.track();
        Vec::new()
    });
    let regions = load::<Page<Region>>(auth, || "/regions".into());
    let manage = auth.can(Action::ProvidersManage);
    let status = RwSignal::new(String::new());
    let refresh = Callback::new(move |message: String| {
        status.set(message);
        reload.update(|n| *n += 1);
    });

    let delete_provider = move |p: Provider| {
        confirm.ask(
            format!("Delete the provider {}?", p.name),
            "Its stored credential is deleted. A provider that deployments still use cannot be deleted.",
            "Delete provider",
            move || {
                let p = p.clone();
                spawn_local(async move {
                    match api::no_content(auth, Method::Delete, &format!("/providers/{}", p.id)).await {
                        Ok(()) => {
                            refresh.try_run(format!("Deleted {}.", p.name));
                        }
                        Err(e) => status.set(e.message),
                    }
                });
            },
        );
    };
    let delete_deployment = move |d: Deployment| {
        confirm.ask(
            format!(
                "Delete the deployment of {} on {}?",
                d.model, d.upstream_model
            ),
            "Calls to the model are no longer routed to it.",
            "Delete deployment",
            move || {
                let d = d.clone();
                spawn_local(async move {
                    match api::no_content(auth, Method::Delete, &format!("/deployments/{}", d.id))
                        .await
                    {
                        Ok(()) => {
                            refresh.try_run(format!("Deleted the deployment of {}.", d.model));
                        }
                        Err(e) => status.set(e.message),
                    }
                });
            },
        );
    };

    view! {
        <h1>"Providers"</h1>
        <p role="status" class="status">{move || status.get()}</p>
        <section aria-labelledby="prov-list">
            <h2 id="prov-list">"Providers"</h2>
            {loaded(provider_page, move |page: Page<Provider>| view! {
                <table>
                    <thead><tr><th scope="col">"Name"</th><th scope="col">"Kind"</th><th scope="col">"Base URL"</th><th scope="col">"Credential"</th><th scope="col"><span class="sr-only">"Actions"</span></th></tr></thead>
                    <tbody>
                        {page.data.into_iter().map(|p| {
                            let credential = match (&p.api_key_hint, &p.api_key_env) {
                                (Some(hint), _) => hint.clone(),
                                (None, Some(env)) => format!("from ${env}"),
                                (None, None) => "none".into(),
                            };
                            let for_delete = p.clone();
                            view! {
                                <tr>
                                    <td>{p.name.clone()}</td><td>{p.kind.clone()}</td><td><code>{p.base_url.clone()}</code></td>
                                    <td><code>{credential}</code></td>
                                    <td class="actions">{manage.then(|| view! { <button type="button" class="danger" on:click=move |_| delete_provider(for_delete.clone())>"Delete"</button> })}</td>
                                </tr>
                            }
                        }).collect_view()}
                    </tbody>
                </table>
            })}
            <PagerControls pager=provider_pager label="Provider pages"/>
            {manage.then(|| view! { <NewProvider on_saved=refresh/> })}
        </section>
        <section aria-labelledby="dep-list">
            <h2 id="dep-list">"Deployments"</h2>
            {move || {
                let names: Vec<Provider> = providers.get().and_then(Result::ok).map(|p| p.data).unwrap_or_default();
                loaded(deployments, move |page: Page<Deployment>| {
                    let names = names.clone();
                    view! {
                        <table>
                            <thead><tr>
                                <th scope="col">"Model"</th><th scope="col">"Provider"</th><th scope="col">"Upstream model"</th><th scope="col">"Region"</th>
                                <th scope="col">"Prices (in / out per 1M)"</th><th scope="col">"Weight · priority"</th><th scope="col">"Health"</th>
                                <th scope="col"><span class="sr-only">"Actions"</span></th>
                            </tr></thead>
                            <tbody>
                                {page.data.into_iter().map(|d| {
                                    let provider = names.iter().find(|p| p.id == d.provider_id).map_or_else(|| d.provider_id.clone(), |p| p.name.clone());
                                    let health = match &d.health {
                                        Some(h) => format!("{} · {} in flight · {}", h.circuit.replace('_', "-"), h.in_flight, or_dash(h.latency_ms.map(|ms| format!("{ms:.1} ms")))),
                                        None => "not loaded yet".into(),
                                    };
                                    let for_delete = d.clone();
                                    view! {
                                        <tr>
                                            <td>{d.model.clone()}</td><td>{provider}</td><td><code>{d.upstream_model.clone()}</code></td><td>{d.region.clone()}</td>
                                            <td>{format!("{} / {} ({})", d.input_price, d.output_price, d.price_source)}</td>
                                            <td>{format!("{} · {}", d.weight, d.priority)}</td>
                                            <td>{health}</td>
                                            <td class="actions">{manage.then(|| view! { <button type="button" class="danger" on:click=move |_| delete_deployment(for_delete.clone())>"Delete"</button> })}</td>
                                        </tr>
                                    }
                                }).collect_view()}
                            </tbody>
                        </table>
                    }
                })
            }}
            <PagerControls pager=deployment_pager label="Deployment pages"/>
            {manage.then(|| view! { <NewDeployment providers=providers regions=regions on_saved=refresh/> })}
        </section>
    }
}

#[component]
fn NewProvider(on_saved: Callback<String>) -> impl IntoView {
    let auth = use_auth();
    let name = RwSignal::new(String::new());
    let kind = RwSignal::new("openai".to_owned());
    let base_url = RwSignal::new(String::new());
    let key = RwSignal::new(String::new());
    let error: RwSignal<Option<ApiError>> = RwSignal::new(None);
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        error.set(None);
        let mut body = json!({"name": name.get_untracked().trim(), "kind": kind.get_untracked(), "base_url": base_url.get_untracked().trim()});
        let secret = key.get_untracked();
        if !secret.is_empty() {
            body["api_key"] = json!(secret);
        }
        spawn_local(async move {
            match api::post::<Provider>(auth, "/providers", &body).await {
                Ok(p) => {
                    name.set(String::new());
                    base_url.set(String::new());
                    key.set(String::new());
                    on_saved.try_run(format!("Added the provider {}.", p.name));
                }
                Err(e) => error.set(Some(e)),
            }
        });
    };
    view! {
        <form class="panel" on:submit=submit aria-labelledby="new-provider">
            <h3 id="new-provider">"New provider"</h3>
            <div class="row">
                <TextField label="Provider name" id="prov-name" value=name required=true field="name" error=error/>
                <SelectField label="Kind" id="prov-kind" value=kind options=Signal::derive(|| pairs(&["openai", "azure", "anthropic", "gemini"]))/>
                <TextField label="Base URL" id="prov-url" value=base_url kind="url" required=true field="base_url" error=error hint="Including the version path, e.g. https://api.openai.com/v1"/>
                <TextField label="API key" id="prov-key" value=key kind="password" autocomplete="new-password" field="api_key" error=error hint="Stored encrypted; only a masked hint is ever shown"/>
            </div>
            <FormError error=error/>
            <button type="submit" class="primary">"Add provider"</button>
        </form>
    }
}

#[component]
fn NewDeployment(
    providers: crate::components::Loaded<Page<Provider>>,
    regions: crate::components::Loaded<Page<Region>>,
    on_saved: Callback<String>,
) -> impl IntoView {
    let auth = use_auth();
    let model = RwSignal::new(String::new());
    let provider = RwSignal::new(String::new());
    let upstream = RwSignal::new(String::new());
    let region = RwSignal::new(String::new());
    let input_price = RwSignal::new(String::new());
    let output_price = RwSignal::new(String::new());
    let error: RwSignal<Option<ApiError>> = RwSignal::new(None);
    let provider_options = Signal::derive(move || {
        let mut o = vec![(String::new(), "Choose a provider".to_owned())];
        if let Some(Ok(p)) = providers.get() {
            o.extend(p.data.into_iter().map(|p| (p.id, p.name)));
        }
        o
    });
    let region_options = Signal::derive(move || {
        let mut o = vec![(String::new(), "Choose a region".to_owned())];
        if let Some(Ok(p)) = regions.get() {
            o.extend(
                p.data
                    .into_iter()
                    .map(|r| (r.code.clone(), format!("{} ({})", r.name, r.code))),
            );
        }
        o
    });
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        error.set(None);
        let mut body = json!({
            "model": model.get_untracked().trim(),
            "provider_id": provider.get_untracked(),
            "upstream_model": upstream.get_untracked().trim(),
            "region": region.get_untracked(),
        });
        for (field, value) in [
            ("input_price", input_price.get_untracked()),
            ("output_price", output_price.get_untracked()),
        ] {
            if !value.trim().is_empty() {
                body[field] = json!(value.trim());
            }
        }
        spawn_local(async move {
            match api::post::<Deployment>(auth, "/deployments", &body).await {
                Ok(d) => {
                    on_saved.try_run(format!("Deployed {} on {}.", d.model, d.upstream_model));
                }
                Err(e) => error.set(Some(e)),
            }
        });
    };
    view! {
        <form class="panel" on:submit=submit aria-labelledby="new-deployment">
            <h3 id="new-deployment">"New deployment"</h3>
            <div class="row">
                <TextField label="Public model" id="dep-model" value=model required=true field="model" error=error/>
                <SelectField label="Provider" id="dep-provider" value=provider options=provider_options/>
                <TextField label="Upstream model" id="dep-upstream" value=upstream required=true field="upstream_model" error=error/>
                <SelectField label="Region" id="dep-region" value=region options=region_options/>
                <TextField label="Input price per 1M tokens" id="dep-in" value=input_price field="input_price" error=error hint="Empty: the price catalog"/>
                <TextField label="Output price per 1M tokens" id="dep-out" value=output_price field="output_price" error=error/>
            </div>
            <FormError error=error/>
            <button type="submit" class="primary">"Add deployment"</button>
        </form>
    }
}
