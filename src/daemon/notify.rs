//! The systemd notification protocol (`sd_notify`): `READY=1`, `STATUS=...`,
//! `WATCHDOG=1` and `RELOADING=1` datagrams sent to the socket named by `NOTIFY_SOCKET`.
//!
//! It is a few lines over a std [`UnixDatagram`], so no crate is needed. Outside systemd
//! (no `NOTIFY_SOCKET`) every call is a no-op. Sending never blocks and never fails the
//! daemon: a lost notification is logged, because systemd's own timeouts then tell the
//! operator.

use std::io;
use std::os::unix::net::{SocketAddr, UnixDatagram};
use std::time::Duration;

/// Where notifications go, read once from the environment at start-up.
#[derive(Debug, Clone)]
pub struct Notifier {
    /// The socket systemd listens on; `None` when not started by systemd.
    target: Option<Target>,
}

#[derive(Debug, Clone)]
enum Target {
    /// A filesystem path.
    Path(std::path::PathBuf),
    /// A Linux abstract-namespace name (`NOTIFY_SOCKET=@name`), without the `@`.
    Abstract(Vec<u8>),
}

impl Notifier {
    /// The notifier for `NOTIFY_SOCKET`, or a silent one when it is unset or empty.
    pub fn from_env() -> Notifier {
        let target = std::env::var_os("NOTIFY_SOCKET").and_then(|v| {
            use std::os::unix::ffi::OsStrExt;
            let bytes = v.as_bytes();
            match bytes.first() {
                None => None,
                Some(b'@') => Some(Target::Abstract(bytes[1..].to_vec())),
                Some(_) => Some(Target::Path(v.into())),
            }
        });
        Notifier { target }
    }

    /// A notifier that sends nothing (the demo, unit tests).
    pub fn disabled() -> Notifier {
        Notifier { target: None }
    }

    /// Whether a notification socket is configured.
    pub fn enabled(&self) -> bool {
        self.target.is_some()
    }

    /// Sends one datagram of newline-separated `KEY=VALUE` assignments.
    ///
    /// # Errors
    /// The socket error; callers log it and go on.
    pub fn send(&self, state: &str) -> io::Result<()> {
        let Some(target) = &self.target else {
            return Ok(());
        };
        let socket = UnixDatagram::unbound()?;
        // Never wait for the receiver: a full queue must not stall the task that
        // reports (the crawl loop, the control loop). The notification is dropped and
        // the failure logged instead.
        socket.set_nonblocking(true)?;
        match target {
            Target::Path(path) => socket.send_to(state.as_bytes(), path)?,
            Target::Abstract(name) => {
                let addr = abstract_addr(name)?;
                socket.send_to_addr(state.as_bytes(), &addr)?
            }
        };
        Ok(())
    }

    /// [`Notifier::send`], logging a failure instead of returning it.
    pub fn notify(&self, state: &str) {
        if let Err(err) = self.send(state) {
            tracing::warn!(error = %err, "cannot notify systemd");
        }
    }

    /// `READY=1` with a status line.
    pub fn ready(&self, status: &str) {
        self.notify(&format!("READY=1\nSTATUS={}", one_line(status)));
    }

    /// A new status line (shown by `systemctl status`).
    pub fn status(&self, status: &str) {
        self.notify(&format!("STATUS={}", one_line(status)));
    }
}

#[cfg(any(target_os = "linux", target_os = "android"))]
fn abstract_addr(name: &[u8]) -> io::Result<SocketAddr> {
    #[cfg(target_os = "android")]
    use std::os::android::net::SocketAddrExt;
    #[cfg(target_os = "linux")]
    use std::os::linux::net::SocketAddrExt;
    SocketAddr::from_abstract_name(name)
}

#[cfg(not(any(target_os = "linux", target_os = "android")))]
fn abstract_addr(_name: &[u8]) -> io::Result<SocketAddr> {
    Err(io::Error::new(
        io::ErrorKind::Unsupported,
        "abstract socket names exist only on Linux",
    ))
}

/// A status must stay one line: a newline would start another assignment.
fn one_line(status: &str) -> String {
    status.replace(['\n', '\r'], " ")
}

/// How often to send `WATCHDOG=1`: half of `WATCHDOG_USEC` (as systemd recommends),
/// when it is set and meant for this process (`WATCHDOG_PID`, if present, is ours).
pub fn watchdog_interval() -> Option<Duration> {
    let usec: u64 = std::env::var("WATCHDOG_USEC").ok()?.trim().parse().ok()?;
    if let Ok(pid) = std::env::var("WATCHDOG_PID") {
        if pid.trim().parse::<u32>().ok()? != std::process::id() {
            return None;
        }
    }
    if usec == 0 {
        return None;
    }
    Some(Duration::from_micros(usec / 2))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sends_to_a_path_socket() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("notify.sock");
        let server = UnixDatagram::bind(&path).unwrap();
        let n = Notifier {
            target: Some(Target::Path(path)),
        };
        n.ready("3 originals\nindexed");
        let mut buf = [0u8; 256];
        let len = server.recv(&mut buf).unwrap();
        assert_eq!(&buf[..len], b"READY=1\nSTATUS=3 originals indexed");
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn sends_to_an_abstract_socket() {
        use std::os::linux::net::SocketAddrExt;
        let name = format!("copyhound-test-{}", std::process::id());
        let addr = SocketAddr::from_abstract_name(name.as_bytes()).unwrap();
        let server = UnixDatagram::bind_addr(&addr).unwrap();
        let n = Notifier {
            target: Some(Target::Abstract(name.into_bytes())),
        };
        n.send("WATCHDOG=1").unwrap();
        let mut buf = [0u8; 64];
        let len = server.recv(&mut buf).unwrap();
        assert_eq!(&buf[..len], b"WATCHDOG=1");
    }

    #[test]
    fn disabled_sends_nothing() {
        assert!(!Notifier::disabled().enabled());
        Notifier::disabled().send("READY=1").unwrap();
    }
}
