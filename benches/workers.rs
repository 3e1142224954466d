//! Workers on one queue: `FILES` CC-NEWS-shaped WARC files (built from the real pages of
//! `../shared/data`, `COPIES_PER_FILE` planted copies of ingested originals in each) are
//! enqueued on one store, then scanned by 1, 2 and 4 `copyhound worker` processes.
//!
//! The workers are the real binary, started as separate processes, because that is
//! how the product is deployed (a Kubernetes Indexed Job, a systemd template unit):
//! each worker loads the archive on its own, holds its own store connection and
//! competes with the others through the queue's claims and leases in the database.
//! Threads in one process would share the index and hide exactly those costs.
//!
//! The store is PostgreSQL, the backend made for many workers: a throwaway cluster on
//! loopback (`store::testdb`) with commits synced to disk. Without PostgreSQL's
//! binaries the benchmark runs on SQLite and says so.
//!
//! A run's time is from starting the workers to the last file being marked done (read
//! from the queue every 20 ms): workers started with `--exit-when-empty` wait for the
//! files others still hold, and that wait is not throughput. The worker counts are
//! interleaved (1, 2, 4, 1, 2, 4, ...) so that a change in the machine's load falls
//! on all of them; each figure is the median of `RUNS`. The workers' CPU time per
//! file (user + system of the children) shows whether a worker does more work when
//! it has company: if it stays flat, scaling is bounded by the cores alone.
//!
//! Last line: `workers_files_per_s_1=<n> ratio_2_1=<r> ratio_4_1=<r> cores=<n>`.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use chrono::Utc;
use copyhound::config::Settings;
use copyhound::originals::{ingest, NoProgress};
use copyhound::store::Store;

#[path = "support/warcfile.rs"]
mod warcfile;

const DATA: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/data");
const BINARY: &str = env!("CARGO_BIN_EXE_copyhound");

/// Files in the queue.
const FILES: usize = 16;
/// Pages per file (each three records: request, response, metadata).
const PAGES_PER_FILE: usize = 700;
/// Planted copies of originals per file.
const COPIES_PER_FILE: usize = 5;
/// Worker counts measured.
const WORKERS: [usize; 3] = [1, 2, 4];
/// Runs of each worker count.
const RUNS: usize = 3;
/// A run that takes longer than this has a stuck worker.
const RUN_LIMIT: Duration = Duration::from_secs(900);

/// The children's CPU time (user + system) so far, in seconds: the workers that have
/// been waited for.
fn children_cpu_s() -> f64 {
    // SAFETY: getrusage writes into the zeroed struct we own and has no other
    // preconditions.
    let usage = unsafe {
        let mut usage: libc::rusage = std::mem::zeroed();
        libc::getrusage(libc::RUSAGE_CHILDREN, &mut usage);
        usage
    };
    let secs = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    secs(usage.ru_utime) + secs(usage.ru_stime)
}

/// Where a run's store is.
enum Backend {
    Postgres(copyhound::store::testdb::Cluster),
    Sqlite,
}

/// A run's world: a config file and the store it names, with the originals ingested
/// and the files enqueued.
struct World {
    _dir: tempfile::TempDir,
    config: PathBuf,
    settings: Settings,
}

fn world(
    backend: &Backend,
    originals: &Path,
    files: &[String],
    runtime: &tokio::runtime::Runtime,
) -> World {
    let dir = tempfile::tempdir().expect("temp dir");
    let database = match backend {
        Backend::Postgres(cluster) => format!(
            "database_url = \"{}\"\n",
            cluster.target(&cluster.new_database()).url
        ),
        Backend::Sqlite => String::new(),
    };
    let source = format!(
        "[outlet]\nname = \"Bench\"\nwebsite = \"https://bench.example.com\"\naddress = \"A\"\n\
         [storage]\ndir = \"state\"\n{database}[originals]\npaths = [\"{}\"]\n",
        originals.display()
    );
    let config = dir.path().join("copyhound.toml");
    std::fs::write(&config, &source).expect("write config");
    let settings = Settings::load(&config).unwrap_or_else(|e| panic!("bench config: {e}"));
    let mut store = Store::open_storage(&settings.storage).expect("store");
    let ingested = runtime
        .block_on(ingest(&settings, &mut store, None, &NoProgress))
        .expect("ingest");
    assert_eq!(ingested.new, FILES * COPIES_PER_FILE);
    let enqueued = store.enqueue_warc(files, Utc::now()).expect("enqueue");
    assert_eq!(enqueued, FILES);
    World {
        _dir: dir,
        config,
        settings,
    }
}

/// One run: `workers` processes over the queue of `world`. Seconds until every file
/// was done, and the workers' CPU seconds.
fn run(world: &World, workers: usize) -> (f64, f64) {
    let store = Store::open_storage(&world.settings.storage).expect("store");
    let cpu_before = children_cpu_s();
    let started = Instant::now();
    let mut children: Vec<Child> = (0..workers)
        .map(|i| {
            Command::new(BINARY)
                .args([
                    "worker",
                    "--exit-when-empty",
                    "--lease",
                    "5m",
                    "--worker-id",
                ])
                .arg(format!("bench-{i}"))
                .arg("--config")
                .arg(&world.config)
                .env("RUST_LOG", "warn,html5ever=error")
                .stdout(Stdio::null())
                .stderr(Stdio::inherit())
                .spawn()
                .expect("start copyhound worker")
        })
        .collect();
    let elapsed = loop {
        let counts = store.queue_counts().expect("queue counts");
        assert_eq!(counts.failed, 0, "a file failed: see the workers' output");
        if counts.done == FILES as u64 {
            break started.elapsed().as_secs_f64();
        }
        for c in &mut children {
            if let Some(status) = c.try_wait().expect("worker status") {
                assert!(status.success(), "a worker failed: {status}");
            }
        }
        assert!(started.elapsed() < RUN_LIMIT, "no progress: {counts:?}");
        std::thread::sleep(Duration::from_millis(20));
    };
    for mut c in children {
        let status = c.wait().expect("worker exit");
        assert!(status.success(), "a worker failed: {status}");
    }
    let (copies, partial, _) = store.match_counts_by_verdict().expect("matches");
    assert_eq!(
        (copies + partial) as usize,
        FILES * COPIES_PER_FILE,
        "every planted copy recorded once"
    );
    (elapsed, children_cpu_s() - cpu_before)
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() {
    let data = Path::new(DATA);
    let Ok(corpus) = std::fs::read_to_string(data.join("peoples-daily-1998-01.txt")) else {
        println!("skipping workers benchmark: ../shared/data not found");
        return;
    };
    let pages = warcfile::real_pages(data);
    assert!(pages.len() > 100, "too few real pages: {}", pages.len());
    let paragraphs: Vec<&str> = corpus.lines().filter(|l| !l.trim().is_empty()).collect();
    let texts: Vec<String> = paragraphs
        .chunks(10)
        .take(FILES * COPIES_PER_FILE)
        .map(|c| c.join("\n"))
        .collect();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");

    let dir = tempfile::tempdir().expect("temp dir");
    let originals = dir.path().join("archive");
    std::fs::create_dir_all(&originals).expect("archive dir");
    for (i, t) in texts.iter().enumerate() {
        std::fs::write(originals.join(format!("{i:05}.txt")), t).expect("write original");
    }
    let mut files = Vec::new();
    let mut records = 0;
    let mut bytes = 0;
    for (f, copies) in texts.chunks(COPIES_PER_FILE).enumerate() {
        let number = u16::try_from(f).expect("few files");
        let (file, n) = warcfile::build_warc(&pages, copies, PAGES_PER_FILE, number);
        let path = dir.path().join(format!("CC-NEWS-bench-{f:03}.warc.gz"));
        std::fs::write(&path, &file).expect("write warc");
        records += n;
        bytes += file.len();
        files.push(path.to_string_lossy().into_owned());
    }
    let backend = match copyhound::store::testdb::own_cluster(
        "PostgreSQL in the workers benchmark",
        &[],
        &[],
    ) {
        Some(cluster) => Backend::Postgres(cluster),
        None => {
            println!("PostgreSQL not found (apt-get install postgresql): measuring on SQLite");
            Backend::Sqlite
        }
    };
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    println!(
        "{FILES} files, {records} records ({:.1} MB), {} planted copies, on {}, {cores} cores",
        bytes as f64 / 1e6,
        FILES * COPIES_PER_FILE,
        match backend {
            Backend::Postgres(_) => "PostgreSQL",
            Backend::Sqlite => "SQLite",
        }
    );

    let mut walls: Vec<Vec<f64>> = vec![Vec::new(); WORKERS.len()];
    let mut cpus: Vec<Vec<f64>> = vec![Vec::new(); WORKERS.len()];
    for r in 0..RUNS {
        for (k, &workers) in WORKERS.iter().enumerate() {
            let world = world(&backend, &originals, &files, &runtime);
            let (wall, cpu) = run(&world, workers);
            println!(
                "run {}: {workers} worker(s): {wall:.2} s, {:.2} files/s, {:.2} s CPU per file",
                r + 1,
                FILES as f64 / wall,
                cpu / FILES as f64
            );
            walls[k].push(wall);
            cpus[k].push(cpu);
        }
    }
    let rates: Vec<f64> = walls
        .iter()
        .map(|w| FILES as f64 / median(w.clone()))
        .collect();
    for (k, &workers) in WORKERS.iter().enumerate() {
        println!(
            "{workers} worker(s): {:.2} files/s ({:.0} records/s), {:.2} s CPU per file (medians of {RUNS})",
            rates[k],
            rates[k] * (records / FILES) as f64,
            median(cpus[k].clone()) / FILES as f64
        );
    }
    let (r21, r41) = (rates[1] / rates[0], rates[2] / rates[0]);
    println!(
        "scaling: 2 workers {r21:.2}x one worker, 4 workers {r41:.2}x (the ceilings on {cores} cores: {}x and {}x)",
        cores.min(2),
        cores.min(4)
    );
    println!(
        "workers_files_per_s_1={:.2} ratio_2_1={r21:.2} ratio_4_1={r41:.2} cores={cores}",
        rates[0]
    );
}
