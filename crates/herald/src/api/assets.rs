//! The browser side, embedded in the binary: `/herald-sw.js`, `/herald.js`, `/demo/`, `/admin/`.
//! Pages get a strict Content-Security-Policy: scripts and styles only from this origin.
//! `include_dir` embeds the files and `mime_guess` names their types, so a new kind of file
//! needs no table here.

use axum::extract::Path;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use axum::Router;
use include_dir::{include_dir, Dir};
use std::sync::Arc;

static ASSETS: Dir<'_> = include_dir!("$CARGO_MANIFEST_DIR/../../assets");

const CSP: &str = "default-src 'self'; img-src 'self' data: https:; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'";

pub fn router() -> Router<Arc<super::AppState>> {
    Router::new()
        .route("/herald-sw.js", get(|| async { serve("herald-sw.js") }))
        .route("/herald.js", get(|| async { serve("herald.js") }))
        .route("/demo", get(|| async { Redirect::permanent("/demo/") }))
        .route("/demo/", get(|| async { serve("demo/index.html") }))
        .route(
            "/demo/{file}",
            get(|Path(file): Path<String>| async move { serve(&format!("demo/{file}")) }),
        )
        .route("/admin", get(|| async { Redirect::permanent("/admin/") }))
        .route("/admin/", get(|| async { serve("admin/index.html") }))
        .route(
            "/admin/{file}",
            get(|Path(file): Path<String>| async move { serve(&format!("admin/{file}")) }),
        )
        .route("/", get(|| async { Redirect::temporary("/admin/") }))
}

fn serve(path: &str) -> Response {
    let Some(file) = ASSETS.get_file(path) else {
        return super::error::ApiError::not_found("no such file").into_response();
    };
    let mut response = (StatusCode::OK, file.contents()).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, content_type(path));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    headers.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CSP));
    if path == "herald-sw.js" {
        headers.insert("service-worker-allowed", HeaderValue::from_static("/"));
    }
    response
}

/// The file's media type by its extension; text is UTF-8.
fn content_type(path: &str) -> HeaderValue {
    let mime = mime_guess::from_path(path).first_or_octet_stream();
    let value = if mime.type_() == mime_guess::mime::TEXT {
        format!("{mime}; charset=utf-8")
    } else {
        mime.to_string()
    };
    HeaderValue::from_str(&value).unwrap_or(HeaderValue::from_static("application/octet-stream"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_shipped_file_has_its_type() {
        for (path, expected) in [
            ("admin/index.html", "text/html; charset=utf-8"),
            ("herald-sw.js", "text/javascript; charset=utf-8"),
            ("demo/demo.css", "text/css; charset=utf-8"),
            ("x.json", "application/json"),
            ("x.svg", "image/svg+xml"),
            ("x.png", "image/png"),
            ("no-extension", "application/octet-stream"),
        ] {
            assert_eq!(content_type(path), expected, "{path}");
        }
        for file in ASSETS.files().chain(ASSETS.dirs().flat_map(|d| d.files())) {
            let path = file.path().to_str().unwrap();
            assert_ne!(content_type(path), "application/octet-stream", "{path}");
        }
    }
}
