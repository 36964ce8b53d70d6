//! Serves the web console: the static files that `scripts/build-console.sh` writes to `console_dir`, with
//! `index.html` for every other browser path, because the console routes on the client (`/teams`, `/keys`, …).
//!
//! Only `GET` and `HEAD` outside `/v1` and `/api` reach the console; anything else keeps the proxy's JSON 404, so
//! an API client never gets an HTML page. Files are served as they are, or their `.gz` sibling when the browser
//! takes gzip (the build writes one next to the bundle), with a policy that lets the page load nothing from
//! elsewhere.

use std::path::{Path, PathBuf};

use actix_files::NamedFile;
use actix_web::http::header::{self, ContentEncoding, HeaderValue};
use actix_web::http::{Method, StatusCode};
use actix_web::{HttpRequest, HttpResponse};

/// Where the built console lives.
#[derive(Debug, Clone)]
pub struct ConsoleFiles {
    dir: PathBuf,
}

/// What the page may load: only its own origin; WebAssembly needs `wasm-unsafe-eval`, the console's inline
/// `style` attributes need `unsafe-inline` for styles (never for scripts).
const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self' 'wasm-unsafe-eval'; \
     style-src 'self' 'unsafe-inline'; img-src 'self' data: blob:; connect-src 'self'; object-src 'none'; \
     base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

impl ConsoleFiles {
    pub fn new(dir: PathBuf) -> Self {
        Self { dir }
    }

    /// The file a path names, when it is a plain file of the bundle: one or more segments of letters, digits,
    /// `-`, `_` and `.`, none starting with a dot (so no `..`, no hidden files, no encoded separators).
    fn asset(&self, path: &str) -> Option<PathBuf> {
        let relative = path.trim_start_matches('/');
        if relative.is_empty() {
            return None;
        }
        let plain = relative.split('/').all(|segment| {
            !segment.is_empty()
                && !segment.starts_with('.')
                && segment
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
        });
        let file = self.dir.join(relative);
        (plain && file.is_file()).then_some(file)
    }

    fn index(&self) -> PathBuf {
        self.dir.join("index.html")
    }
}

/// Whether a request is for the console rather than for an API.
pub fn is_console_request(req: &HttpRequest) -> bool {
    let path = req.path();
    let api = |prefix: &str| {
        path.strip_prefix(prefix)
            .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
    };
    matches!(*req.method(), Method::GET | Method::HEAD)
        && !api("/v1")
        && !api("/api")
        && !api("/metrics")
}

/// Serves a console file, or `index.html` for a client-side route. `None` when the console is not built.
pub fn serve(req: &HttpRequest, console: &ConsoleFiles) -> Option<HttpResponse> {
    let file = console.asset(req.path()).unwrap_or_else(|| console.index());
    let takes_gzip = req
        .headers()
        .get(header::ACCEPT_ENCODING)
        .and_then(|v| v.to_str().ok())
        .is_some_and(accepts_gzip);
    let mut response = match open(&file, takes_gzip) {
        // No Content-Disposition: a browser would take a `.gz` sibling's `attachment` for a download.
        Ok(named) => named.disable_content_disposition().into_response(req),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return None,
        Err(e) => {
            tracing::error!(error = %e, file = %file.display(), "could not read a console file");
            return Some(
                HttpResponse::build(StatusCode::INTERNAL_SERVER_ERROR)
                    .json(serde_json::json!({"error": {"code": "internal_error", "message": "could not read the console", "details": null}})),
            );
        }
    };
    let headers = response.headers_mut();
    // The bundle's names carry no hash, so every file is revalidated on every load (cheap: the ETag answers
    // 304); an old script never meets a new WebAssembly module after an upgrade.
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    headers.insert(header::VARY, HeaderValue::from_static("accept-encoding"));
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CONTENT_SECURITY_POLICY),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    Some(response)
}

/// Whether an `Accept-Encoding` value takes gzip (`gzip;q=0` refuses it).
fn accepts_gzip(value: &str) -> bool {
    value.split(',').any(|coding| {
        let mut parts = coding.split(';').map(str::trim);
        let name = parts.next().unwrap_or_default();
        let refused = parts.any(|p| {
            p.strip_prefix("q=")
                .and_then(|q| q.parse::<f32>().ok())
                .is_some_and(|q| q <= 0.0)
        });
        (name.eq_ignore_ascii_case("gzip") || name == "*") && !refused
    })
}

/// The file, or its pre-compressed `.gz` sibling with the original's content type. Opening is one quick
/// syscall on a small local file, as actix-files does it too.
fn open(file: &Path, takes_gzip: bool) -> std::io::Result<NamedFile> {
    if takes_gzip {
        let mut gz = file.as_os_str().to_owned();
        gz.push(".gz");
        if let Ok(named) = NamedFile::open(PathBuf::from(gz)) {
            let mime = actix_files::file_extension_to_mime(
                file.extension()
                    .and_then(|e| e.to_str())
                    .unwrap_or_default(),
            );
            return Ok(named
                .set_content_type(mime)
                .set_content_encoding(ContentEncoding::Gzip));
        }
    }
    NamedFile::open(file)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gzip_is_taken_unless_refused() {
        assert!(accepts_gzip("gzip, deflate, br"));
        assert!(accepts_gzip("br;q=1.0, gzip;q=0.8"));
        assert!(accepts_gzip("*"));
        assert!(!accepts_gzip("gzip;q=0"));
        assert!(!accepts_gzip("br, deflate"));
        assert!(!accepts_gzip("identity"));
    }

    #[test]
    fn only_plain_bundle_files_are_assets() {
        let dir = std::env::temp_dir().join(format!("sy-console-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap_or_default();
        std::fs::write(dir.join("app.js"), "x").unwrap_or_default();
        std::fs::write(dir.join(".secret"), "x").unwrap_or_default();
        let console = ConsoleFiles::new(dir.clone());
        assert!(console.asset("/app.js").is_some());
        assert!(console.asset("/.secret").is_none());
        assert!(console.asset("/../app.js").is_none());
        assert!(
            console.asset("/teams").is_none(),
            "a client route is not a file"
        );
        assert!(console.asset("/").is_none());
        assert!(console.asset("/app.js/").is_none());
        let _ = std::fs::remove_dir_all(dir);
    }
}
