//! The clinician's page: hand-written HTML, CSS and JavaScript, compiled into the binary (no
//! build step, nothing fetched from elsewhere). Chinese and English labels; the shipped
//! questions as forms, a sortable table whose rows open the reports and sentences behind a
//! link, SVG bar charts (relation counts, findings per vessel), and a SPARQL box.

use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};

const INDEX_HTML: &str = include_str!("assets/index.html");
const APP_JS: &str = include_str!("assets/app.js");
const STYLE_CSS: &str = include_str!("assets/style.css");

/// The page itself.
pub fn html(_name: &str) -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        INDEX_HTML,
    )
        .into_response()
}

/// `/assets/<file>`.
pub fn asset(file: &str) -> Response {
    let (ct, body) = match file {
        "app.js" => ("text/javascript; charset=utf-8", APP_JS),
        "style.css" => ("text/css; charset=utf-8", STYLE_CSS),
        _ => return (StatusCode::NOT_FOUND, "no such asset\n").into_response(),
    };
    (
        [
            (header::CONTENT_TYPE, ct),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        body,
    )
        .into_response()
}
