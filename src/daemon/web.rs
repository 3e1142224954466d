//! The daemon's health and metrics routes: `/healthz` and `/metrics`. The review desk
//! (`crate::web`) is merged into the same endpoint.
//!
//! Read-only and unauthenticated by design (load balancers and Prometheus poll them):
//! they show counts, never page text, URLs or contacts, and never change state.

use std::sync::Arc;

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;

use super::metrics::Metrics;

/// The router of the endpoint.
pub fn router(metrics: Arc<Metrics>) -> Router {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/metrics", get(metrics_text))
        .with_state(metrics)
}

/// 200 `ok: <status>` once ready; 503 `starting` before (load balancers and
/// `systemctl` wrappers wait on this).
async fn healthz(State(metrics): State<Arc<Metrics>>) -> impl IntoResponse {
    if metrics.is_ready() {
        (StatusCode::OK, format!("ok: {}\n", metrics.status()))
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            "starting: loading the index\n".to_string(),
        )
    }
}

async fn metrics_text(State(metrics): State<Arc<Metrics>>) -> impl IntoResponse {
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        metrics.render(),
    )
}
