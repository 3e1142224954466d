//! The review desk: server-rendered HTML for licensing staff to triage matches.
//!
//! Served by the daemon on `[web] listen` next to `/healthz` and `/metrics`, or alone by
//! `copyhound serve`. Pages are askama templates compiled into the binary (HTML
//! auto-escaping on: everything crawled is escaped), with one stylesheet and one script
//! served from the binary too; no external assets.
//!
//! Security model:
//! - every route but `/login` and `/static/*` needs a session ([`auth`]); `/healthz`
//!   and `/metrics` belong to the daemon's own router and show counts only;
//! - every POST carries the session's CSRF token, and the session cookie is
//!   `SameSite=Strict`;
//! - every response carries a strict Content-Security-Policy (scripts and styles from
//!   the desk only, nothing inline, no frames), `nosniff` and `no-referrer`;
//! - crawled URLs become links only when they are `http(s)` ([`view::safe_href`]).
//!
//! The store is used through one connection behind a mutex, on the blocking pool:
//! desk queries are small and few, and SQLite's WAL lets the crawler write meanwhile.

pub mod auth;
mod cases;
pub mod i18n;
mod licences;
mod pages;

pub use pages::MAX_BULK_DECISION;
pub mod view;

use std::sync::{Arc, Mutex};

use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use tokio::sync::watch;

use crate::config::Settings;
use crate::store::{Store, StoreError};
use auth::LoginLimiter;

/// The policy every desk response carries.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; \
     style-src 'self'; img-src 'self'; connect-src 'self'; form-action 'self'; \
     frame-ancestors 'none'; base-uri 'none'";

/// The desk's shared state.
#[derive(Clone)]
pub struct Desk {
    inner: Arc<DeskInner>,
}

struct DeskInner {
    /// The settings in force (a daemon reload replaces them: users, language, lists).
    settings: watch::Receiver<Arc<Settings>>,
    store: Mutex<Store>,
    limiter: Mutex<LoginLimiter>,
    /// Wakes the alert outbox of this process when a decision queues an escalation.
    outbox_bell: Option<Arc<tokio::sync::Notify>>,
    /// One export is built at a time: a full one holds its rows and the finished file in
    /// memory (a few hundred megabytes at [`crate::export::MAX_EXPORT_ROWS`] in XLSX),
    /// so several reviewers exporting at once wait their turn instead of adding up.
    exports: tokio::sync::Semaphore,
}

/// Why the desk could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum WebError {
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl Desk {
    /// Opens the desk's own connection to the store in `[storage] dir`.
    ///
    /// # Errors
    /// [`WebError::Store`] when the database cannot be opened.
    pub fn open(settings: watch::Receiver<Arc<Settings>>) -> Result<Desk, WebError> {
        Desk::open_with_bell(settings, None)
    }

    /// [`Desk::open`], ringing `outbox_bell` whenever a decision queues an escalation
    /// (the outbox worker of the same process waits on it).
    ///
    /// # Errors
    /// [`WebError::Store`] when the database cannot be opened.
    pub fn open_with_bell(
        settings: watch::Receiver<Arc<Settings>>,
        outbox_bell: Option<Arc<tokio::sync::Notify>>,
    ) -> Result<Desk, WebError> {
        let storage = settings.borrow().storage.clone();
        let store = Store::open_storage(&storage)?;
        Ok(Desk {
            inner: Arc::new(DeskInner {
                settings,
                store: Mutex::new(store),
                limiter: Mutex::new(LoginLimiter::default()),
                outbox_bell,
                exports: tokio::sync::Semaphore::new(1),
            }),
        })
    }

    fn settings(&self) -> Arc<Settings> {
        self.inner.settings.borrow().clone()
    }

    /// Runs `f` with the store on the blocking pool.
    async fn with_store<T, F>(&self, f: F) -> Result<T, pages::Failure>
    where
        F: FnOnce(&mut Store) -> Result<T, pages::Failure> + Send + 'static,
        T: Send + 'static,
    {
        let inner = Arc::clone(&self.inner);
        tokio::task::spawn_blocking(move || {
            // A panic while holding the lock cannot leave a half-applied change: every
            // store write is one transaction. Keep serving.
            let mut store = inner.store.lock().unwrap_or_else(|p| p.into_inner());
            f(&mut store)
        })
        .await
        .map_err(|e| pages::Failure::internal(format!("desk task failed: {e}")))?
    }

    /// Tells the outbox there is an escalation to send.
    fn ring_outbox(&self) {
        if let Some(bell) = &self.inner.outbox_bell {
            bell.notify_one();
        }
    }

    /// Waits for the turn to build an export; the turn ends when the permit drops.
    async fn export_turn(&self) -> Result<tokio::sync::SemaphorePermit<'_>, pages::Failure> {
        self.inner
            .exports
            .acquire()
            .await
            .map_err(|e| pages::Failure::internal(format!("export turn: {e}")))
    }

    fn limiter(&self) -> std::sync::MutexGuard<'_, LoginLimiter> {
        // The limiter's counters stay meaningful after a panic elsewhere.
        self.inner.limiter.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// The desk's routes (without `/healthz` and `/metrics`, which the daemon adds).
pub fn router(desk: Desk) -> Router {
    let protected = Router::new()
        .route("/", get(pages::home))
        .route("/matches", get(pages::queue))
        .route("/matches.csv", get(pages::export_csv))
        .route("/matches.xlsx", get(pages::export_xlsx))
        .route("/matches/bulk", post(pages::decide_selected))
        .route("/matches/{id}", get(pages::match_page))
        .route("/matches/{id}/decide", post(pages::decide))
        .route("/matches/{id}/evidence", get(pages::evidence))
        .route("/matches/{id}/capture/{kind}", get(pages::capture_artefact))
        .route(
            "/matches/{id}/evidence/archived",
            get(pages::archived_evidence),
        )
        .route("/matches/{id}/notice.txt", get(pages::notice))
        .route("/matches/{id}/licence-request.txt", get(licences::request))
        .route("/cases", get(cases::list))
        .route("/cases.csv", get(cases::export_csv))
        .route("/cases/{id}", get(cases::page))
        .route("/cases/{id}/step", post(cases::step))
        .route("/cases/{id}/evidence/{event}", get(cases::evidence))
        .route("/cases/{id}/evidence/{event}/{kind}", get(cases::artefact))
        .route("/licences", get(licences::page).post(licences::add))
        .route("/licences/check", post(licences::check))
        .route("/licences/{id}/end", post(licences::end))
        .route("/sites", get(pages::sites))
        .route("/sites/decide", post(pages::decide_site))
        .route("/sites/{host}", get(pages::site_page))
        .route("/logout", post(pages::logout))
        .route_layer(middleware::from_fn_with_state(
            desk.clone(),
            pages::require_login,
        ));
    Router::new()
        .merge(protected)
        .route("/login", get(pages::login_form).post(pages::login))
        .route("/static/app.js", get(script))
        .route("/static/app.css", get(stylesheet))
        .route("/favicon.ico", get(no_icon))
        .fallback(pages::not_found)
        .layer(middleware::from_fn(security_headers))
        .with_state(desk)
}

const APP_JS: &str = include_str!("static/app.js");
const APP_CSS: &str = concat!(
    include_str!("static/app.css"),
    include_str!("templates/dashboard.css")
);

async fn script() -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        APP_JS,
    )
}

async fn stylesheet() -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        APP_CSS,
    )
}

/// Browsers ask every site for `/favicon.ico`; the desk has no icon, and a 404 would put
/// an error in the console of every page a reviewer opens. "No content" says there is
/// nothing to show without calling it a failure.
async fn no_icon() -> StatusCode {
    StatusCode::NO_CONTENT
}

/// Adds the security headers to every desk response.
async fn security_headers(request: Request, next: Next) -> Response {
    let mut response = next.run(request).await;
    let h = response.headers_mut();
    for (name, value) in [
        (header::CONTENT_SECURITY_POLICY, CONTENT_SECURITY_POLICY),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::REFERRER_POLICY, "no-referrer"),
        (header::X_FRAME_OPTIONS, "DENY"),
    ] {
        h.insert(name, HeaderValue::from_static(value));
    }
    // Pages show reviewers' data: never from a shared cache. (Static files set their own.)
    if !h.contains_key(header::CACHE_CONTROL) {
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    response
}

/// Serves the desk alone (`copyhound serve`): the desk, `/healthz` and `/metrics` (with
/// the store's gauges read every [`crate::daemon::SERVE_GAUGE_INTERVAL`]) on
/// `listener`, and the alert outbox (so escalations go out), until `shutdown`.
///
/// # Errors
/// [`WebError`] when the store cannot be opened.
pub async fn serve(
    settings: Settings,
    listener: tokio::net::TcpListener,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<(), WebError> {
    let metrics = Arc::new(crate::daemon::metrics::Metrics::default());
    let (_settings_tx, settings_rx) = watch::channel(Arc::new(settings.clone()));
    let bell = Arc::new(tokio::sync::Notify::new());
    let desk = Desk::open_with_bell(settings_rx, Some(Arc::clone(&bell)))?;
    metrics.set_status("review desk only (no crawling)".into());
    metrics.set_ready();
    let app = crate::daemon::web::router(Arc::clone(&metrics)).merge(router(desk));
    let token = tokio_util::sync::CancellationToken::new();
    // The store's gauges (the archive file queue that workers on other machines drain,
    // matches, cases), as `run` shows them after each crawl cycle.
    let gauges = tokio::spawn(crate::daemon::store_gauge_loop(
        settings.storage.clone(),
        Arc::clone(&metrics),
        token.clone(),
        crate::daemon::SERVE_GAUGE_INTERVAL,
    ));
    let outbox = {
        let token = token.clone();
        let settings = settings.clone();
        tokio::spawn(async move {
            let outbox = match crate::notify::Outbox::from_settings(&settings) {
                Ok(m) => m,
                Err(e) => {
                    tracing::error!(error = %e, "alert outbox not started: escalations stay queued");
                    return;
                }
            };
            let mut store = match Store::open_storage(&settings.storage) {
                Ok(s) => s,
                Err(e) => {
                    tracing::error!(error = %e, "alert outbox not started: escalations stay queued");
                    return;
                }
            };
            crate::notify::log_outbox_check(&outbox, token.cancelled()).await;
            let stop = token.cancelled_owned();
            let worker = crate::notify::run_worker_with(
                &mut store,
                &settings,
                &outbox,
                stop,
                Some(&bell),
                |_, _| {},
            );
            if let Err(e) = worker.await {
                tracing::error!(error = %e, "alert outbox stopped: escalations stay queued");
            }
        })
    };
    let stop = token.clone();
    let served = axum::serve(
        listener,
        app.into_make_service_with_connect_info::<std::net::SocketAddr>(),
    )
    .with_graceful_shutdown(async move {
        shutdown.await;
        stop.cancel();
    })
    .await;
    token.cancel();
    let _ = outbox.await;
    let _ = gauges.await;
    if let Err(e) = served {
        tracing::error!(error = %e, "review desk server failed");
    }
    Ok(())
}

/// The status code and page for an unauthenticated or refused request, shared by the
/// handlers.
pub(crate) fn status_page(status: StatusCode, html: String) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
        html,
    )
        .into_response()
}

/// For handlers that only need the desk to exist.
pub(crate) type DeskState = State<Desk>;
