//! The Switchyard web console: a Leptos app rendered in the browser (compiled to WebAssembly), served by the
//! gateway at `/`, talking only to the documented `/api/v1`. Built by `scripts/build-console.sh`.

mod api;
mod app;
mod auth;
mod components;
mod model;
mod pages;

use wasm_bindgen::prelude::wasm_bindgen;

/// Called by the generated JavaScript once the module is loaded.
#[wasm_bindgen(start)]
pub fn start() {
    console_error_panic_hook::set_once();
    leptos::mount::mount_to_body(app::App);
}
