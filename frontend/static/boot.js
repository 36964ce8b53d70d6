// Loads the console's WebAssembly; the module mounts the app itself (its `start` function).
// A separate file rather than an inline script, so the page's Content-Security-Policy needs no 'unsafe-inline'.
import init from '/switchyard_console.js';

init({ module_or_path: '/switchyard_console_bg.wasm' }).catch((error) => {
  document.body.textContent = 'The console could not start: ' + error;
});
