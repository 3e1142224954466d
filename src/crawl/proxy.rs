//! A tiny HTTP proxy on loopback that applies the crawler's private-network guard to a
//! browser's connections.
//!
//! The headless browser that renders a match's page (see `evidence::browser`) fetches
//! whatever the page asks for: scripts, images, frames, redirects. Without this proxy a
//! copied page could make it reach `http://127.0.0.1:8080/admin` or a cloud metadata
//! service, and the screenshot would put the answer in our evidence. Chromium is started
//! with `--proxy-server` pointing here (and `--proxy-bypass-list=<-loopback>`, so even
//! loopback URLs come through), so every request it makes is checked by the same
//! [`Guard`] as the crawler's: IP literals against the guard's addresses and exemptions,
//! names resolved here and every answer filtered ([`Guard::filter_resolved`]), and the
//! connection made to an address that passed, so a name cannot re-resolve elsewhere
//! between check and connect.
//!
//! Why a proxy rather than Chromium's `--host-resolver-rules`: resolver rules map names,
//! they cannot say "refuse every name whose answer is private" (the answer is only known
//! after resolving), and IP-literal URLs never reach the resolver at all. The proxy sees
//! every connection, by name or by address, and decides with the crawler's own code.
//!
//! Two request forms are served: `CONNECT host:port` (HTTPS and WebSockets over TLS; the
//! browser does TLS end to end, the proxy only relays bytes after the check) and
//! absolute-form requests for `http://` URLs (forwarded in origin form with
//! `Connection: close`, so each client connection carries one exchange and one
//! destination). Everything else is answered 405. A refused `CONNECT` is answered 403
//! (the browser reports a tunnel failure); a refused forward is closed without an
//! answer, because a browser shows a proxy's answer to a plain `http://` request as the
//! site's own page, and no text of ours may ever appear in a screenshot as if the copy
//! had served it. Sizes, times and connection counts are
//! bounded; the proxy lives only as long as its [`GuardedProxy`] handle.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tokio::task::JoinHandle;

use crate::crawl::guard::Guard;

/// A request head longer than this is refused: browsers send a few kilobytes at most.
const MAX_HEAD_BYTES: usize = 32 * 1024;

/// Connections relayed at once; a page asking for more waits in the browser's queue.
const MAX_CONNECTIONS: usize = 64;

/// How long a client may take to send its request head, and a destination to accept
/// the connection.
const STEP_TIMEOUT: Duration = Duration::from_secs(15);

/// The longest one relayed connection may live. The proxy itself lives only as long as
/// one rendering, which has its own (shorter) deadline; this bounds a connection even if
/// a handle is kept longer.
const MAX_CONNECTION_LIFETIME: Duration = Duration::from_secs(600);

/// A running proxy: its address, and the task serving it (stopped on drop).
#[derive(Debug)]
pub struct GuardedProxy {
    addr: SocketAddr,
    task: JoinHandle<()>,
}

impl GuardedProxy {
    /// Starts a proxy on `127.0.0.1:0` that refuses what `guard` refuses.
    ///
    /// # Errors
    /// The I/O error of binding the listener.
    pub async fn start(guard: Arc<Guard>) -> std::io::Result<GuardedProxy> {
        let listener = TcpListener::bind(("127.0.0.1", 0)).await?;
        let addr = listener.local_addr()?;
        let task = tokio::spawn(serve(listener, guard));
        Ok(GuardedProxy { addr, task })
    }

    /// The address to hand the browser (`--proxy-server=http://ADDR`).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }
}

impl Drop for GuardedProxy {
    fn drop(&mut self) {
        // Aborting the accept loop drops the listener; the connection tasks it spawned
        // are in its JoinSet and are aborted with it.
        self.task.abort();
    }
}

async fn serve(listener: TcpListener, guard: Arc<Guard>) {
    let permits = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    let mut tasks = tokio::task::JoinSet::new();
    loop {
        let Ok(permit) = Arc::clone(&permits).acquire_owned().await else {
            return;
        };
        let Ok((client, _)) = listener.accept().await else {
            // Out of descriptors, most likely: wait instead of spinning.
            tokio::time::sleep(Duration::from_millis(50)).await;
            continue;
        };
        let guard = Arc::clone(&guard);
        tasks.spawn(async move {
            let _ = tokio::time::timeout(MAX_CONNECTION_LIFETIME, relay(client, &guard)).await;
            drop(permit);
        });
        // Reap finished connections so the set stays as small as the live ones.
        while tasks.try_join_next().is_some() {}
    }
}

/// What the client asked for, parsed from its request head.
#[derive(Debug, PartialEq, Eq)]
enum Target {
    /// `CONNECT host:port`.
    Tunnel { host: String, port: u16 },
    /// An absolute-form `http://` request, rewritten to origin form.
    Forward {
        host: String,
        port: u16,
        /// The head to send the destination: origin-form request line, the client's
        /// headers without hop-by-hop and proxy ones, `Connection: close`.
        head: Vec<u8>,
    },
}

/// Parses a proxy request head (request line and headers, without the blank line).
/// Pure, so the rules can be tested without sockets.
fn parse_head(head: &[u8]) -> Result<Target, &'static str> {
    let text = std::str::from_utf8(head).map_err(|_| "request head is not UTF-8")?;
    let mut lines = text.split("\r\n");
    let request_line = lines.next().ok_or("empty request")?;
    let mut parts = request_line.split(' ');
    let (Some(method), Some(target), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err("malformed request line");
    };
    if !version.starts_with("HTTP/1.") {
        return Err("unsupported HTTP version");
    }
    if method == "CONNECT" {
        let (host, port) = split_host_port(target).ok_or("malformed CONNECT target")?;
        return Ok(Target::Tunnel { host, port });
    }
    let url = url::Url::parse(target).map_err(|_| "not an absolute URL")?;
    if url.scheme() != "http" {
        return Err("only http:// URLs are forwarded (https goes through CONNECT)");
    }
    let host = match url.host() {
        Some(url::Host::Domain(d)) => d.to_string(),
        Some(url::Host::Ipv4(v4)) => v4.to_string(),
        Some(url::Host::Ipv6(v6)) => v6.to_string(),
        None => return Err("URL without host"),
    };
    let port = url.port_or_known_default().unwrap_or(80);
    let mut path = url.path().to_string();
    if let Some(q) = url.query() {
        path.push('?');
        path.push_str(q);
    }
    let mut out = format!("{method} {path} {version}\r\n").into_bytes();
    for line in lines {
        let name = line.split(':').next().unwrap_or("").trim();
        if [
            "connection",
            "proxy-connection",
            "keep-alive",
            "proxy-authorization",
        ]
        .iter()
        .any(|h| name.eq_ignore_ascii_case(h))
        {
            continue;
        }
        out.extend_from_slice(line.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"Connection: close\r\n\r\n");
    Ok(Target::Forward {
        host,
        port,
        head: out,
    })
}

/// `host:port` or `[v6]:port`.
fn split_host_port(target: &str) -> Option<(String, u16)> {
    let (host, port) = target.rsplit_once(':')?;
    let port: u16 = port.parse().ok()?;
    let host = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    (!host.is_empty()).then(|| (host.to_string(), port))
}

/// Reads the request head; returns it (without the blank line) and any bytes after it.
async fn read_head(client: &mut TcpStream) -> Option<(Vec<u8>, Vec<u8>)> {
    let mut buf = Vec::with_capacity(4096);
    let mut chunk = [0u8; 4096];
    loop {
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let rest = buf.split_off(end + 4);
            buf.truncate(end);
            return Some((buf, rest));
        }
        if buf.len() > MAX_HEAD_BYTES {
            return None;
        }
        let n = client.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
    }
}

/// Resolves `host` and connects to the first address the guard allows.
async fn connect_guarded(guard: &Guard, host: &str, port: u16) -> Result<TcpStream, String> {
    let candidates: Vec<SocketAddr> = match host.parse::<std::net::IpAddr>() {
        Ok(ip) => {
            let addr = SocketAddr::new(ip, port);
            if !guard.allows(addr) {
                return Err(format!("{addr} refused by the private-network guard"));
            }
            vec![addr]
        }
        Err(_) => {
            let resolved: Vec<SocketAddr> = tokio::net::lookup_host((host, port))
                .await
                .map_err(|e| format!("cannot resolve {host}: {e}"))?
                .collect();
            guard
                .filter_resolved(host, resolved)
                .map_err(|e| e.to_string())?
        }
    };
    let mut last = String::from("no address");
    for addr in candidates {
        match tokio::time::timeout(STEP_TIMEOUT, TcpStream::connect(addr)).await {
            Ok(Ok(stream)) => return Ok(stream),
            Ok(Err(e)) => last = format!("{addr}: {e}"),
            Err(_) => last = format!("{addr}: connect timed out"),
        }
    }
    Err(last)
}

async fn refuse(client: &mut TcpStream, status: &str, why: &str) {
    let body = format!("copyhound proxy: {why}\n");
    let reply = format!(
        "HTTP/1.1 {status}\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let _ = client.write_all(reply.as_bytes()).await;
    let _ = client.shutdown().await;
}

async fn relay(mut client: TcpStream, guard: &Guard) {
    let Ok(Some((head, rest))) = tokio::time::timeout(STEP_TIMEOUT, read_head(&mut client)).await
    else {
        return;
    };
    let target = match parse_head(&head) {
        Ok(t) => t,
        Err(why) => return refuse(&mut client, "405 Method Not Allowed", why).await,
    };
    let (host, port) = match &target {
        Target::Tunnel { host, port } | Target::Forward { host, port, .. } => (host.clone(), *port),
    };
    let mut upstream = match connect_guarded(guard, &host, port).await {
        Ok(s) => s,
        Err(why) => {
            tracing::debug!(host = %crate::crawl::sanitize(&host), port, why = %crate::crawl::sanitize(&why), "browser connection refused");
            if matches!(target, Target::Tunnel { .. }) {
                refuse(&mut client, "403 Forbidden", &why).await;
            }
            return;
        }
    };
    match target {
        Target::Tunnel { .. } => {
            if client
                .write_all(b"HTTP/1.1 200 Connection Established\r\n\r\n")
                .await
                .is_err()
            {
                return;
            }
        }
        Target::Forward { head, .. } => {
            if upstream.write_all(&head).await.is_err() {
                return;
            }
        }
    }
    if !rest.is_empty() && upstream.write_all(&rest).await.is_err() {
        return;
    }
    let _ = tokio::io::copy_bidirectional(&mut client, &mut upstream).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn heads_are_parsed_and_rewritten() {
        assert_eq!(
            parse_head(b"CONNECT copier.example:443 HTTP/1.1\r\nHost: copier.example:443"),
            Ok(Target::Tunnel {
                host: "copier.example".into(),
                port: 443
            })
        );
        assert_eq!(
            parse_head(b"CONNECT [::1]:8443 HTTP/1.1"),
            Ok(Target::Tunnel {
                host: "::1".into(),
                port: 8443
            })
        );
        let Ok(Target::Forward { host, port, head }) = parse_head(
            b"GET http://copier.example:8080/a/b?x=1 HTTP/1.1\r\nHost: copier.example:8080\r\nProxy-Connection: keep-alive\r\nAccept: */*",
        ) else {
            panic!("forward expected")
        };
        assert_eq!((host.as_str(), port), ("copier.example", 8080));
        assert_eq!(
            String::from_utf8(head).unwrap(),
            "GET /a/b?x=1 HTTP/1.1\r\nHost: copier.example:8080\r\nAccept: */*\r\nConnection: close\r\n\r\n"
        );
        for bad in [
            &b"GET /relative HTTP/1.1"[..],
            b"GET ftp://x.example/ HTTP/1.1",
            b"GET https://x.example/ HTTP/1.1",
            b"CONNECT x.example HTTP/1.1",
            b"GET http://x.example/ SPDY/3",
            b"garbage",
        ] {
            assert!(parse_head(bad).is_err(), "{}", String::from_utf8_lossy(bad));
        }
    }

    #[tokio::test]
    async fn the_guard_refuses_loopback_unless_allowed() {
        let site = TcpListener::bind(("127.0.0.1", 0)).await.unwrap();
        let site_addr = site.local_addr().unwrap();
        tokio::spawn(async move {
            while let Ok((mut s, _)) = site.accept().await {
                tokio::spawn(async move {
                    let mut buf = [0u8; 1024];
                    let _ = s.read(&mut buf).await;
                    let _ = s
                        .write_all(
                            b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok",
                        )
                        .await;
                });
            }
        });
        let ask = |proxy: SocketAddr, request: String| async move {
            let mut c = TcpStream::connect(proxy).await.unwrap();
            c.write_all(request.as_bytes()).await.unwrap();
            let mut out = Vec::new();
            let _ = c.read_to_end(&mut out).await;
            String::from_utf8_lossy(&out).into_owned()
        };
        let request = format!("GET http://{site_addr}/ HTTP/1.1\r\nHost: {site_addr}\r\n\r\n");
        let strict = GuardedProxy::start(Arc::new(Guard::new(false)))
            .await
            .unwrap();
        // A refused forward gets no answer at all (nothing the browser could show).
        let answer = ask(strict.addr(), request.clone()).await;
        assert_eq!(answer, "");
        let tunnel = ask(
            strict.addr(),
            format!("CONNECT {site_addr} HTTP/1.1\r\n\r\n"),
        )
        .await;
        assert!(tunnel.starts_with("HTTP/1.1 403"), "{tunnel}");
        assert!(
            tunnel.contains("refused by the private-network guard"),
            "{tunnel}"
        );
        let by_name = ask(
            strict.addr(),
            format!("CONNECT localhost:{} HTTP/1.1\r\n\r\n", site_addr.port()),
        )
        .await;
        assert!(by_name.starts_with("HTTP/1.1 403"), "{by_name}");
        let open = GuardedProxy::start(Arc::new(Guard::new(true)))
            .await
            .unwrap();
        let answer = ask(open.addr(), request).await;
        assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
        assert!(answer.ends_with("ok"), "{answer}");
    }
}
