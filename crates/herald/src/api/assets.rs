//! The browser side, embedded in the binary: `/herald-sw.js`, `/herald.js`, `/demo/`, `/admin/`.
//! Pages get a strict Content-Security-Policy: scripts and styles only from this origin.

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
    let content_type = match path.rsplit('.').next() {
        Some("html") => "text/html; charset=utf-8",
        Some("js" | "mjs") => "text/javascript; charset=utf-8",
        Some("css") => "text/css; charset=utf-8",
        Some("json") => "application/json",
        Some("png") => "image/png",
        Some("svg") => "image/svg+xml",
        _ => "application/octet-stream",
    };
    let mut response = (StatusCode::OK, file.contents()).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    headers.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CSP));
    if path == "herald-sw.js" {
        headers.insert("service-worker-allowed", HeaderValue::from_static("/"));
    }
    response
}
