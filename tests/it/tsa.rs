//! A real RFC 3161 time-stamp authority on loopback for the tests: `openssl ts -reply`
//! behind an HTTP handler, with a test CA and TSA certificate made by `openssl` at test
//! time, and `openssl ts -verify` as the independent verifier. Shared by the timestamp,
//! capture (re-checks) and demo tests.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::http::StatusCode;
use copyhound::evidence::timestamp::{TrustAnchors, TsaClient};

use crate::util::{stderr, stdout};

/// Whether `openssl` runs; under `COPYHOUND_REQUIRE_TOOLS=1` (CI) its absence fails the
/// test instead of skipping it.
pub fn openssl_available(test: &str) -> bool {
    let ok = Command::new("openssl")
        .arg("version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        assert!(
            std::env::var_os("COPYHOUND_REQUIRE_TOOLS").is_none(),
            "{test}: openssl is missing and COPYHOUND_REQUIRE_TOOLS is set"
        );
        eprintln!(
            "skipping {test}: openssl not installed (Debian package openssl; CI installs it)"
        );
    }
    ok
}

fn run(cmd: &mut Command) -> Output {
    let out = cmd.output().expect("openssl runs");
    assert!(
        out.status.success(),
        "{cmd:?} failed:\n{}\n{}",
        stdout(&out),
        stderr(&out)
    );
    out
}

/// How the test TSA is made.
#[derive(Clone, Copy, Default)]
pub struct TsaKind {
    /// The signing certificate's validity ended in 2021.
    pub expired: bool,
    /// An ECDSA P-256 key and ESSCertIDv2 (SHA-256) instead of RSA and ESSCertID.
    pub ecdsa: bool,
}

/// One request and what the TSA answered.
#[derive(Clone)]
pub struct Exchange {
    pub query: Vec<u8>,
    pub reply: Vec<u8>,
}

/// A real TSA on 127.0.0.1: `openssl ts -reply` with its own CA.
pub struct Tsa {
    pub dir: tempfile::TempDir,
    pub url: String,
    /// Answers 503 while false: the TSA is "down".
    pub up: Arc<AtomicBool>,
    /// Answers every request with the first reply it gave (a replay) while true.
    pub replay: Arc<AtomicBool>,
    pub exchanges: Arc<Mutex<Vec<Exchange>>>,
}

impl Tsa {
    pub async fn start(kind: TsaKind) -> Tsa {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path().to_path_buf();
        std::fs::create_dir(d.join("newcerts")).unwrap();
        std::fs::write(d.join("index.txt"), "").unwrap();
        std::fs::write(d.join("serial"), "1000\n").unwrap();
        std::fs::write(d.join("tsaserial"), "01\n").unwrap();
        let ess = if kind.ecdsa {
            "ess_cert_id_alg = sha256"
        } else {
            ""
        };
        std::fs::write(
            d.join("openssl.cnf"),
            format!(
                r#"
[ ca ]
default_ca = test_ca
[ test_ca ]
dir = {dir}
database = $dir/index.txt
new_certs_dir = $dir/newcerts
serial = $dir/serial
certificate = $dir/ca.pem
private_key = $dir/ca.key
default_md = sha256
policy = policy_any
unique_subject = no
[ policy_any ]
commonName = supplied
organizationName = optional
[ tsa_ext ]
basicConstraints = CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = critical, timeStamping
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
[ tsa ]
default_tsa = tsa_config1
[ tsa_config1 ]
dir = {dir}
serial = $dir/tsaserial
crypto_device = builtin
signer_cert = $dir/tsa.pem
certs = $dir/ca.pem
signer_key = $dir/tsa.key
signer_digest = sha256
default_policy = 1.2.3.4.1
other_policies = 1.2.3.4.5
digests = sha256, sha384, sha512
accuracy = secs:1, millisecs:500, microsecs:100
ordering = yes
tsa_name = yes
ess_cert_id_chain = no
{ess}
"#,
                dir = d.display()
            ),
        )
        .unwrap();
        let openssl = |args: &[&str]| {
            run(Command::new("openssl").args(args).current_dir(&d));
        };
        openssl(&[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            "ca.key",
            "-out",
            "ca.pem",
            "-subj",
            "/CN=Copyhound Test Root CA",
            "-days",
            "3650",
            "-addext",
            "basicConstraints=critical,CA:TRUE",
            "-addext",
            "keyUsage=critical,keyCertSign,cRLSign",
        ]);
        let key: &[&str] = if kind.ecdsa {
            &["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"]
        } else {
            &["-newkey", "rsa:2048"]
        };
        let mut req = vec!["req", "-new"];
        req.extend_from_slice(key);
        req.extend_from_slice(&[
            "-nodes",
            "-keyout",
            "tsa.key",
            "-out",
            "tsa.csr",
            "-subj",
            "/O=Copyhound Tests/CN=Copyhound Test TSA",
        ]);
        openssl(&req);
        let validity: &[&str] = if kind.expired {
            &[
                "-startdate",
                "20200101000000Z",
                "-enddate",
                "20210101000000Z",
            ]
        } else {
            &["-days", "365"]
        };
        let mut ca = vec!["ca", "-batch", "-config", "openssl.cnf", "-notext"];
        ca.extend_from_slice(validity);
        ca.extend_from_slice(&[
            "-extensions",
            "tsa_ext",
            "-in",
            "tsa.csr",
            "-out",
            "tsa.pem",
        ]);
        openssl(&ca);

        let up = Arc::new(AtomicBool::new(true));
        let replay = Arc::new(AtomicBool::new(false));
        let exchanges: Arc<Mutex<Vec<Exchange>>> = Arc::default();
        let state = (d.clone(), up.clone(), replay.clone(), exchanges.clone());
        let router = axum::Router::new().route(
            "/tsa",
            axum::routing::post(move |headers: axum::http::HeaderMap, body: Bytes| {
                let (d, up, replay, exchanges) = state.clone();
                async move {
                    if !up.load(Ordering::SeqCst) {
                        return (StatusCode::SERVICE_UNAVAILABLE, Vec::new());
                    }
                    assert_eq!(
                        headers.get("content-type").and_then(|v| v.to_str().ok()),
                        Some("application/timestamp-query")
                    );
                    let query = body.to_vec();
                    let reply = if replay.load(Ordering::SeqCst) {
                        exchanges.lock().unwrap()[0].reply.clone()
                    } else {
                        let q = query.clone();
                        tokio::task::spawn_blocking(move || openssl_reply(&d, &q))
                            .await
                            .unwrap()
                    };
                    exchanges.lock().unwrap().push(Exchange {
                        query,
                        reply: reply.clone(),
                    });
                    (StatusCode::OK, reply)
                }
            }),
        );
        let addr = crate::util::fixture::serve(router).await;
        Tsa {
            dir,
            url: format!("http://{addr}/tsa"),
            up,
            replay,
            exchanges,
        }
    }

    pub fn ca(&self) -> PathBuf {
        self.dir.path().join("ca.pem")
    }

    pub fn client(&self) -> TsaClient {
        TsaClient {
            urls: vec![self.url.parse().unwrap()],
            anchors: TrustAnchors::load(&self.ca()).unwrap(),
            timeout: Duration::from_secs(10),
        }
    }

    pub fn exchanges(&self) -> Vec<Exchange> {
        self.exchanges.lock().unwrap().clone()
    }

    /// Granted tokens over `digest`.
    pub fn tokens_for(&self, digest: &[u8]) -> usize {
        self.exchanges()
            .iter()
            .filter(|e| e.query.windows(digest.len()).any(|w| w == digest))
            .count()
    }
}

/// `openssl ts -reply` for one query, serialised: openssl increments its serial file.
fn openssl_reply(dir: &Path, query: &[u8]) -> Vec<u8> {
    static LOCK: Mutex<()> = Mutex::new(());
    let _guard = LOCK.lock().unwrap();
    let q = dir.join("query.tsq");
    let r = dir.join("reply.tsr");
    std::fs::write(&q, query).unwrap();
    let _ = std::fs::remove_file(&r);
    run(Command::new("openssl")
        .args([
            "ts",
            "-reply",
            "-config",
            "openssl.cnf",
            "-section",
            "tsa_config1",
        ])
        .arg("-queryfile")
        .arg(&q)
        .arg("-out")
        .arg(&r)
        .current_dir(dir));
    std::fs::read(&r).unwrap()
}

/// `openssl ts -verify` with `args` (`-data FILE` or `-queryfile Q`) and the reply.
pub fn openssl_verify(args: &[&Path], flags: &[&str], reply: &Path, ca: &Path) -> Output {
    let mut cmd = Command::new("openssl");
    cmd.args(["ts", "-verify"]);
    for (flag, path) in flags.iter().zip(args) {
        cmd.arg(flag).arg(path);
    }
    cmd.arg("-in").arg(reply).arg("-CAfile").arg(ca);
    cmd.output().expect("openssl runs")
}

pub fn accepted(out: &Output) -> bool {
    out.status.success() && stdout(out).contains("Verification: OK")
}
