//! Test support, shared by the unit suite, the integration tests (`tests/it`) and the
//! benchmarks; no part of the product uses it.
//!
//! The store suite's two backends: every store test body runs once on SQLite and once
//! on PostgreSQL ([`on_both`]), so the backends cannot drift apart.
//!
//! PostgreSQL is a throwaway cluster under a temporary directory (`initdb` + `pg_ctl`
//! on a free loopback port), one per test process and shared by its tests; each store
//! a test opens gets a database of its own, named after the test's state directory so
//! that reopening the same directory reopens the same database. `initdb` refuses to
//! run as root, so as root the server runs as `nobody`. Without PostgreSQL installed
//! the PostgreSQL half is skipped with a message, or fails under
//! `COPYHOUND_REQUIRE_TOOLS=1`. A test or benchmark that needs a server set up
//! differently (TLS, commits synced to disk) starts one of its own ([`own_cluster`]).

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Mutex, OnceLock};

use super::{PgTarget, Store, StoreError};

thread_local! {
    static ON_POSTGRES: Cell<bool> = const { Cell::new(false) };
    static DATABASES: RefCell<HashMap<PathBuf, String>> = RefCell::new(HashMap::new());
}

/// Runs `body` on SQLite, then on PostgreSQL (when a server can run).
pub fn on_both(body: impl Fn()) {
    ON_POSTGRES.with(|p| p.set(false));
    body();
    if cluster().is_some() {
        ON_POSTGRES.with(|p| p.set(true));
        body();
        ON_POSTGRES.with(|p| p.set(false));
    }
}

/// Opens the store of state directory `dir` on the backend under test.
///
/// # Errors
/// The store's.
pub fn open(dir: &Path) -> Result<Store, StoreError> {
    if !ON_POSTGRES.with(Cell::get) {
        return Store::open_dir(dir);
    }
    Store::open_postgres(&target_for(dir))
}

/// The PostgreSQL database for `dir` (created on first use).
fn target_for(dir: &Path) -> PgTarget {
    let name = DATABASES.with(|d| {
        d.borrow_mut()
            .entry(dir.to_path_buf())
            .or_insert_with(new_database)
            .clone()
    });
    let cluster = cluster().expect("on_both runs PostgreSQL bodies only with a cluster");
    cluster.target(&name)
}

/// A new, empty database in the shared cluster: its name.
pub fn new_database() -> String {
    cluster().expect("a PostgreSQL cluster").new_database()
}

/// A throwaway cluster: the shared one ([`cluster`]) or one of a caller's own
/// ([`own_cluster`]).
pub struct Cluster {
    pub port: u16,
    pub data: PathBuf,
}

impl Cluster {
    pub fn target(&self, database: &str) -> PgTarget {
        PgTarget {
            url: format!("postgres://copyhound@127.0.0.1:{}/{database}", self.port),
            password: None,
            ca: None,
        }
    }

    /// A new, empty database in this cluster: its name (unique in the process).
    pub fn new_database(&self) -> String {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let name = format!(
            "t{}_{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        );
        let mut admin = super::pg::connect(&self.target("postgres")).expect("admin connection");
        let create = format!("CREATE DATABASE {name}");
        super::sql::blocking(move || admin.batch_execute(&create).map(|()| drop(admin)))
            .expect("CREATE DATABASE");
        name
    }
}

/// Where PostgreSQL's server binaries are: on PATH, or Debian's versioned directory.
pub fn pg_bin_dir() -> Option<PathBuf> {
    let on_path = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .find(|p| p.join("pg_ctl").is_file() && p.join("initdb").is_file())
    });
    if on_path.is_some() {
        return on_path;
    }
    let mut versions: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(|e| e.ok().map(|e| e.path().join("bin")))
        .filter(|p| p.join("pg_ctl").is_file())
        .collect();
    versions.sort();
    versions.pop()
}

/// The process's cluster, started on first use; `None` when PostgreSQL is missing.
/// Commits are not synced to disk (`fsync=off`): the tests need a server, not
/// durability.
pub fn cluster() -> Option<&'static Cluster> {
    static CLUSTER: OnceLock<Option<Cluster>> = OnceLock::new();
    CLUSTER
        .get_or_init(|| {
            let bin = binaries("the PostgreSQL half of the store suite")?;
            Some(start(&bin, &[("fsync", "off")], &[]))
        })
        .as_ref()
}

/// A cluster of the caller's own, for tests and benchmarks that need the server set
/// up differently from the shared one: `settings` are `postgresql.conf` settings
/// (`("ssl", "on")`), and `files` are written into the data directory before the
/// server starts, readable by the server's user only (a relative `ssl_key_file` is
/// found there). Stopped at exit. `None` when PostgreSQL is missing, after a line
/// saying that `what` is skipped (a panic under `COPYHOUND_REQUIRE_TOOLS=1` or `CI`).
pub fn own_cluster(
    what: &str,
    settings: &[(&str, &str)],
    files: &[(&str, &[u8])],
) -> Option<Cluster> {
    let bin = binaries(what)?;
    Some(start(&bin, settings, files))
}

/// The server's binaries, or `None` after a line saying that `what` is skipped.
///
/// # Panics
/// When they are missing and `COPYHOUND_REQUIRE_TOOLS=1` or `CI` says they must run.
fn binaries(what: &str) -> Option<PathBuf> {
    let bin = pg_bin_dir();
    if bin.is_none() {
        let required = std::env::var("COPYHOUND_REQUIRE_TOOLS").as_deref() == Ok("1")
            || std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "false");
        if required {
            panic!("PostgreSQL (initdb, pg_ctl) is required (COPYHOUND_REQUIRE_TOOLS=1 or CI) but not installed");
        }
        eprintln!("skipping {what}: initdb/pg_ctl not found (apt-get install postgresql)");
    }
    bin
}

/// Runs `program` as the server's user: `nobody` when we are root (initdb and postgres
/// refuse root), else ourselves.
fn as_server_user(program: &Path) -> Command {
    if running_as_root() {
        let mut c = Command::new("setpriv");
        c.args(["--reuid=nobody", "--regid=nogroup", "--clear-groups", "--"]);
        c.arg(program);
        c
    } else {
        Command::new(program)
    }
}

fn running_as_root() -> bool {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() == 0 }
}

/// Hands `path` (recursively) to the server's user when we are root.
fn give_to_server_user(path: &Path) {
    if running_as_root() {
        let status = Command::new("chown")
            .args(["-R", "nobody:nogroup"])
            .arg(path)
            .status()
            .expect("chown");
        assert!(status.success(), "chown of the test cluster failed");
    }
}

fn start(bin: &Path, settings: &[(&str, &str)], files: &[(&str, &[u8])]) -> Cluster {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    // The directory outlives every test of the process; the server is stopped at exit.
    let root = std::env::temp_dir().join(format!(
        "copyhound-pg-{}-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0)
    ));
    std::fs::create_dir_all(&root).expect("cluster root");
    let data = root.join("data");
    std::fs::create_dir(&data).expect("data dir");
    if running_as_root() {
        give_to_server_user(&root);
        let status = Command::new("chmod")
            .arg("755")
            .arg(&root)
            .status()
            .expect("chmod");
        assert!(status.success());
    }
    let out = as_server_user(&bin.join("initdb"))
        .args([
            "-A",
            "trust",
            "-U",
            "copyhound",
            "-E",
            "UTF8",
            "--locale=C",
            "-D",
        ])
        .arg(&data)
        .output()
        .expect("initdb runs");
    assert!(
        out.status.success(),
        "initdb failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    for (name, bytes) in files {
        use std::os::unix::fs::PermissionsExt;
        let path = data.join(name);
        std::fs::write(&path, bytes).expect("cluster file");
        // PostgreSQL refuses a key file that others can read.
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))
            .expect("cluster file mode");
        give_to_server_user(&path);
    }
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port();
    let pg_ctl = bin.join("pg_ctl");
    let mut options = format!(
        "-c listen_addresses=127.0.0.1 -p {port} -c unix_socket_directories={} -c max_connections=200",
        root.display()
    );
    for (key, value) in settings {
        options.push_str(&format!(" -c {key}={value}"));
    }
    let out = as_server_user(&pg_ctl)
        .args(["-w", "-t", "60", "-D"])
        .arg(&data)
        .arg("-l")
        .arg(root.join("log"))
        .args(["-o", &options, "start"])
        .output()
        .expect("pg_ctl runs");
    assert!(
        out.status.success(),
        "pg_ctl start failed: {} {}",
        String::from_utf8_lossy(&out.stdout),
        std::fs::read_to_string(root.join("log")).unwrap_or_default()
    );
    let mut stop = STOP.lock().unwrap_or_else(|e| e.into_inner());
    if stop.is_empty() {
        // SAFETY: registering a plain extern "C" function with atexit has no
        // preconditions.
        unsafe {
            libc::atexit(stop_at_exit);
        }
    }
    stop.push((pg_ctl, data.clone(), root));
    Cluster { port, data }
}

/// The clusters to stop at exit: `pg_ctl`, data directory, root to remove.
static STOP: Mutex<Vec<(PathBuf, PathBuf, PathBuf)>> = Mutex::new(Vec::new());

extern "C" fn stop_at_exit() {
    let stop = STOP.lock().unwrap_or_else(|e| e.into_inner());
    for (pg_ctl, data, root) in stop.iter() {
        let _ = as_server_user(pg_ctl)
            .args(["-D"])
            .arg(data)
            .args(["-m", "immediate", "stop"])
            .output();
        let _ = std::fs::remove_dir_all(root);
    }
}
