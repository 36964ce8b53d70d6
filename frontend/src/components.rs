//! Pieces every page uses: loading a resource, error and status lines, a confirmation dialog, paging,
//! progress bars, a bar chart and small formatting helpers.

use leptos::prelude::*;
use leptos::task::spawn_local;
use serde::Deserialize;
use serde::de::DeserializeOwned;

use crate::api::{self, ApiError, ApiResult};
use crate::auth::Auth;

/// A resource read from the API: `None` while loading.
pub type Loaded<T> = RwSignal<Option<ApiResult<T>>>;

/// Loads `path()` now and whenever what it reads changes (filters, the page cursor, a reload counter), and
/// again once the user has signed in after a session expired. Only the answer to the latest request is kept,
/// so a slow answer to an older filter never replaces a newer one.
pub fn load<T>(auth: Auth, path: impl Fn() -> String + 'static) -> Loaded<T>
where
    T: DeserializeOwned + Send + Sync + 'static,
{
    let state: Loaded<T> = RwSignal::new(None);
    let latest = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
    Effect::new(move |_| {
        let path = path();
        if auth.is_expired() {
            return;
        }
        let this = latest.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
        let latest = std::sync::Arc::clone(&latest);
        spawn_local(async move {
            let result = api::get::<T>(auth, &path).await;
            if latest.load(std::sync::atomic::Ordering::Relaxed) == this {
                state.set(Some(result));
            }
        });
    });
    state
}

/// A page of a list endpoint.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Page<T> {
    pub data: Vec<T>,
    #[serde(default)]
    pub next_cursor: Option<String>,
}

/// Shows a loaded value through `render`, a loading line, or the error.
pub fn loaded<T, V>(
    state: Loaded<T>,
    render: impl Fn(T) -> V + Send + Sync + 'static,
) -> impl IntoView
where
    T: Clone + Send + Sync + 'static,
    V: IntoView + 'static,
{
    move || match state.get() {
        None => view! { <p class="muted" aria-busy="true">"Loading…"</p> }.into_any(),
        Some(Err(e)) => view! { <ErrorLine error=e/> }.into_any(),
        Some(Ok(value)) => render(value).into_any(),
    }
}

#[component]
pub fn ErrorLine(error: ApiError) -> impl IntoView {
    let text = if error.status == 403 {
        "Your role does not allow this.".to_owned()
    } else {
        error.message
    };
    view! { <p class="error" role="alert">{text}</p> }
}

/// The error of the last submit, if it is not about one field (those show under their input).
#[component]
pub fn FormError(error: RwSignal<Option<ApiError>>) -> impl IntoView {
    move || {
        error.get().map(|e| {
            let text = match &e.field {
                Some(field) => format!("{} ({field})", e.message),
                None => e.message.clone(),
            };
            view! { <p class="error" role="alert">{text}</p> }
        })
    }
}

/// A labelled text input bound to a signal, with the API's message for this field under it.
#[component]
pub fn TextField(
    label: &'static str,
    id: &'static str,
    value: RwSignal<String>,
    #[prop(optional)] field: Option<&'static str>,
    #[prop(optional)] error: Option<RwSignal<Option<ApiError>>>,
    #[prop(default = "text")] kind: &'static str,
    #[prop(optional)] required: bool,
    #[prop(optional)] placeholder: &'static str,
    #[prop(optional)] hint: &'static str,
    #[prop(optional)] autocomplete: &'static str,
    #[prop(optional)] autofocus: bool,
    #[prop(optional)] readonly: bool,
) -> impl IntoView {
    let field = field.unwrap_or(id);
    let input = NodeRef::<leptos::html::Input>::new();
    if autofocus {
        Effect::new(move |_| {
            if let Some(element) = input.get() {
                let _ = element.focus();
            }
        });
    }
    let message = move || error.and_then(|e| e.get()).and_then(|e| e.for_field(field));
    let error_id = format!("{id}-error");
    let described = error_id.clone();
    view! {
        <div class="field">
            <label for=id>{label}</label>
            <input
                node_ref=input
                id=id
                type=kind
                readonly=readonly
                required=required
                placeholder=placeholder
                autocomplete=if autocomplete.is_empty() { "off" } else { autocomplete }
                aria-invalid=move || if message().is_some() { "true" } else { "false" }
                aria-describedby=described
                bind:value=value
            />
            {(!hint.is_empty()).then(|| view! { <small class="muted">{hint}</small> })}
            <small class="field-error" id=error_id>{message}</small>
        </div>
    }
}

/// A labelled `<select>` with fixed options.
#[component]
pub fn SelectField(
    label: &'static str,
    id: &'static str,
    value: RwSignal<String>,
    #[prop(into)] options: Signal<Vec<(String, String)>>,
) -> impl IntoView {
    view! {
        <div class="field">
            <label for=id>{label}</label>
            <select id=id on:change=move |ev| value.set(event_target_value(&ev)) prop:value=move || value.get()>
                {move || {
                    options
                        .get()
                        .into_iter()
                        .map(|(v, text)| {
                            let selected = value.get_untracked() == v;
                            view! { <option value=v selected=selected>{text}</option> }
                        })
                        .collect_view()
                }}
            </select>
        </div>
    }
}

/// What a confirmation asks. The action is a plain closure, not a `Callback`: the row that asked may be
/// re-rendered (and its reactive owner disposed) while the dialog is open.
#[derive(Clone)]
pub struct Confirmation {
    pub title: String,
    pub body: String,
    /// The confirming button, e.g. "Revoke key".
    pub action: String,
    pub on_confirm: std::sync::Arc<dyn Fn() + Send + Sync>,
}

/// The one confirmation dialog of the page; pages open it through `ConfirmHandle::ask`.
#[derive(Clone, Copy)]
pub struct ConfirmHandle(RwSignal<Option<Confirmation>>);

impl ConfirmHandle {
    pub fn ask(
        &self,
        title: impl Into<String>,
        body: impl Into<String>,
        action: impl Into<String>,
        on_confirm: impl Fn() + Send + Sync + 'static,
    ) {
        self.0.set(Some(Confirmation {
            title: title.into(),
            body: body.into(),
            action: action.into(),
            on_confirm: std::sync::Arc::new(on_confirm),
        }));
    }
}

pub fn use_confirm() -> ConfirmHandle {
    expect_context::<ConfirmHandle>()
}

/// Provides the handle and renders the dialog when it is open: a native modal `<dialog>`, so the page behind
/// is inert, focus stays inside, Escape cancels, and focus returns where it was when it closes.
#[component]
pub fn ConfirmDialog() -> impl IntoView {
    let open: RwSignal<Option<Confirmation>> = RwSignal::new(None);
    provide_context(ConfirmHandle(open));
    move || {
        open.get().map(|c| {
            let on_confirm = c.on_confirm;
            let dialog = NodeRef::<leptos::html::Dialog>::new();
            let close = move || {
                if let Some(Some(d)) = dialog.try_get_untracked() {
                    d.close();
                }
                open.set(None);
            };
            view! {
                <Modal node=dialog labelled_by="confirm-title" on_cancel=Callback::new(move |()| close())>
                    <h2 id="confirm-title">{c.title}</h2>
                    <p>{c.body}</p>
                    <div class="actions">
                        <button type="button" autofocus on:click=move |_| close()>
                            "Cancel"
                        </button>
                        <button
                            type="button"
                            class="danger"
                            on:click=move |_| {
                                close();
                                on_confirm();
                            }
                        >
                            {c.action}
                        </button>
                    </div>
                </Modal>
            }
        })
    }
}

/// A native modal dialog, opened with `showModal()` once it is in the page.
#[component]
pub fn Modal(
    node: NodeRef<leptos::html::Dialog>,
    labelled_by: &'static str,
    /// Escape pressed; `None`: the dialog cannot be dismissed that way.
    #[prop(optional)]
    on_cancel: Option<Callback<()>>,
    children: Children,
) -> impl IntoView {
    Effect::new(move |_| {
        if let Some(d) = node.get()
            && !d.open()
        {
            let _ = d.show_modal();
        }
    });
    view! {
        <dialog
            node_ref=node
            class="dialog"
            aria-labelledby=labelled_by
            on:cancel=move |ev: leptos::ev::Event| {
                ev.prevent_default();
                if let Some(cancel) = on_cancel {
                    cancel.try_run(());
                }
            }
            on:close=move |_| {
                // Browsers close a modal on a repeated Escape even when `cancel` is prevented: a dialog that
                // must stay (the expired session's sign-in) opens again; another one counts it as cancelled.
                match on_cancel {
                    Some(cancel) => {
                        cancel.try_run(());
                    }
                    None => {
                        if let Some(Some(d)) = node.try_get_untracked() {
                            let _ = d.show_modal();
                        }
                    }
                }
            }
        >
            {children()}
        </dialog>
    }
}

/// Cursor paging: the cursors of the pages before this one, and the next page's.
#[derive(Clone, Copy)]
pub struct Pager {
    pub cursor: RwSignal<Option<String>>,
    back: RwSignal<Vec<Option<String>>>,
    pub next: RwSignal<Option<String>>,
}

impl Pager {
    pub fn new() -> Self {
        Self {
            cursor: RwSignal::new(None),
            back: RwSignal::new(Vec::new()),
            next: RwSignal::new(None),
        }
    }

    /// `limit` and `cursor` for the list's query.
    fn query(&self) -> Vec<(&'static str, String)> {
        vec![
            ("limit", "25".into()),
            ("cursor", self.cursor.get().unwrap_or_default()),
        ]
    }

    /// Loads the pages of the list at `path`, with the query `filters()` gives (whatever signals it reads
    /// reload it too), and takes each page's `next_cursor` as the next page.
    pub fn load<T>(
        &self,
        auth: Auth,
        path: &'static str,
        filters: impl Fn() -> Vec<(&'static str, String)> + 'static,
    ) -> Loaded<Page<T>>
    where
        T: DeserializeOwned + Clone + Send + Sync + 'static,
    {
        let pager = *self;
        let state = load::<Page<T>>(auth, move || {
            let mut query = pager.query();
            query.extend(filters());
            api::path_with_query(path, &query)
        });
        Effect::new(move |_| {
            if let Some(Ok(page)) = state.get() {
                pager.next.set(page.next_cursor);
            }
        });
        state
    }

    /// Back to the first page (after a filter changed or a row was added).
    pub fn reset(&self) {
        self.back.set(Vec::new());
        self.next.set(None);
        self.cursor.set(None);
    }
}

impl Default for Pager {
    fn default() -> Self {
        Self::new()
    }
}

#[component]
pub fn PagerControls(
    pager: Pager,
    /// The landmark's name, when a page has more than one list.
    #[prop(default = "Pages")]
    label: &'static str,
) -> impl IntoView {
    let has_prev = move || pager.back.with(|b| !b.is_empty());
    let has_next = move || pager.next.with(Option::is_some);
    view! {
        <nav class="pager" aria-label=label>
            <button
                type="button"
                disabled=move || !has_prev()
                on:click=move |_| {
                    let mut back = pager.back.get();
                    let previous = back.pop().flatten();
                    pager.back.set(back);
                    // Disabled until the page arrives, so a second click cannot skip one.
                    pager.next.set(None);
                    pager.cursor.set(previous);
                }
            >
                "Previous page"
            </button>
            <button
                type="button"
                disabled=move || !has_next()
                on:click=move |_| {
                    let Some(next) = pager.next.get() else { return };
                    let current = pager.cursor.get();
                    pager.back.update(|b| b.push(current));
                    pager.next.set(None);
                    pager.cursor.set(Some(next));
                }
            >
                "Next page"
            </button>
        </nav>
    }
}

/// A budget's use: a bar, the figures, and "Exceeded" at or over the limit.
#[component]
pub fn BudgetBar(
    name: String,
    percent: i64,
    spent: String,
    limit: String,
    currency: String,
) -> impl IntoView {
    let width = percent.clamp(0, 100);
    let class = if percent >= 100 {
        "bar over"
    } else if percent >= 80 {
        "bar warn"
    } else {
        "bar"
    };
    view! {
        <div class="budget-bar">
            <div
                class="track"
                role="progressbar"
                aria-label=name
                aria-valuemin="0"
                aria-valuemax="100"
                aria-valuenow=percent.to_string()
            >
                <div class=class style=format!("width: {width}%")></div>
            </div>
            <span class="figures">
                {format!("{spent} of {limit} {currency} ({percent}%)")}
                {(percent >= 100).then(|| view! { <strong class="exceeded">" Exceeded"</strong> })}
            </span>
        </div>
    }
}

/// A horizontal bar chart in SVG: one bar per label, scaled to the largest value.
#[component]
pub fn BarChart(title: String, bars: Vec<(String, f64, String)>) -> impl IntoView {
    let row = 28.0;
    let label_width = 180.0;
    let width = 640.0;
    let height = (bars.len().max(1) as f64) * row + 8.0;
    let max = bars.iter().map(|(_, v, _)| *v).fold(0.0_f64, f64::max);
    let scale = if max > 0.0 {
        (width - label_width - 120.0) / max
    } else {
        0.0
    };
    let rows = bars
        .into_iter()
        .enumerate()
        .map(|(i, (label, value, text))| {
            let y = i as f64 * row + 4.0;
            let short: String = if label.chars().count() > 24 {
                format!("{}…", label.chars().take(23).collect::<String>())
            } else {
                label.clone()
            };
            let w = (value * scale).max(if value > 0.0 { 1.0 } else { 0.0 });
            view! {
                <g>
                    <title>{format!("{label}: {text}")}</title>
                    <text x="0" y=y + 18.0 class="chart-label">{short}</text>
                    <rect x=label_width y=y + 4.0 width=w height=row - 10.0 class="chart-bar"></rect>
                    <text x=label_width + w + 6.0 y=y + 18.0 class="chart-value">{text}</text>
                </g>
            }
        })
        .collect_view();
    view! {
        <svg
            class="chart"
            role="img"
            aria-label=title
            viewBox=format!("0 0 {width} {height}")
            preserveAspectRatio="xMinYMin meet"
        >
            {rows}
        </svg>
    }
}

/// Writes `text` to the clipboard and says in `status` whether it worked (`what` names the text for the way out
/// when the browser refuses: selecting and copying it by hand).
pub fn copy_to_clipboard(text: String, what: &'static str, status: RwSignal<String>) {
    spawn_local(async move {
        let Some(clipboard) = web_sys::window().map(|w| w.navigator().clipboard()) else {
            return;
        };
        match wasm_bindgen_futures::JsFuture::from(clipboard.write_text(&text)).await {
            Ok(_) => status.set("Copied to the clipboard.".into()),
            Err(_) => status.set(format!(
                "The browser refused the clipboard; select the {what} and copy it."
            )),
        }
    });
}

/// A UTC time as `2026-11-30 14:05`.
pub fn short_time(rfc3339: &str) -> String {
    let t = rfc3339.replace('T', " ");
    t.chars().take(16).collect()
}

/// An optional value, or a dash.
pub fn or_dash<T: ToString>(value: Option<T>) -> String {
    value.map_or_else(|| "—".to_owned(), |v| v.to_string())
}

/// A decimal string as a number, only for sorting and chart lengths (figures are shown exactly as given).
pub fn approx(decimal: &str) -> f64 {
    decimal.parse().unwrap_or(0.0)
}

/// An optional positive integer typed into a form: empty is `None`.
pub fn optional_number(text: &str, field: &'static str) -> Result<Option<i64>, ApiError> {
    let text = text.trim();
    if text.is_empty() {
        return Ok(None);
    }
    match text.parse::<i64>() {
        Ok(n) if n > 0 => Ok(Some(n)),
        _ => Err(ApiError {
            status: 400,
            code: "validation_failed".into(),
            message: "must be a whole number greater than 0".into(),
            field: Some(field.into()),
        }),
    }
}

/// Today's date in UTC, `YYYY-MM-DD`, plus `days`.
pub fn utc_date(days: i32) -> String {
    let now = js_sys::Date::new_0();
    let ms = now.get_time() + f64::from(days) * 86_400_000.0;
    let date = js_sys::Date::new(&wasm_bindgen::JsValue::from_f64(ms));
    let iso: String = date.to_iso_string().into();
    iso.chars().take(10).collect()
}
