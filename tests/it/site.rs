//! A real HTTP server on 127.0.0.1 (port 0) serving a fixed set of pages, for tests that
//! need a web site: the outlet's feeds and sitemaps, article pages.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::State;
use axum::http::{header, StatusCode, Uri};
use axum::response::Response;

/// One resource of the site.
#[derive(Clone)]
pub struct Resource {
    pub status: u16,
    pub content_type: String,
    pub body: Vec<u8>,
}

/// A running site; the server thread ends with the test process.
pub struct Site {
    pub addr: SocketAddr,
}

impl Site {
    /// Serves `pages` (path → resource); other paths are 404.
    pub fn serve(pages: HashMap<String, Resource>) -> Site {
        let pages = Arc::new(pages);
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        listener
            .set_nonblocking(true)
            .expect("non-blocking listener");
        let addr = listener.local_addr().expect("local address");
        std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("test runtime");
            runtime.block_on(async move {
                let listener = tokio::net::TcpListener::from_std(listener).expect("tokio listener");
                let app = axum::Router::new().fallback(handler).with_state(pages);
                axum::serve(listener, app).await.expect("serve");
            });
        });
        Site { addr }
    }

    /// `http://127.0.0.1:PORT{path}`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }
}

async fn handler(State(pages): State<Arc<HashMap<String, Resource>>>, uri: Uri) -> Response {
    let key = uri
        .path_and_query()
        .map_or(uri.path().to_string(), |p| p.as_str().to_string());
    match pages.get(&key).or_else(|| pages.get(uri.path())) {
        Some(r) => Response::builder()
            .status(r.status)
            .header(header::CONTENT_TYPE, r.content_type.as_str())
            .body(Body::from(r.body.clone()))
            .expect("valid response"),
        None => Response::builder()
            .status(StatusCode::NOT_FOUND)
            .body(Body::from("not found"))
            .expect("valid response"),
    }
}

/// A 200 resource.
pub fn ok(content_type: &str, body: impl Into<Vec<u8>>) -> Resource {
    Resource {
        status: 200,
        content_type: content_type.to_string(),
        body: body.into(),
    }
}
