//! Trusted timestamps against a real time-stamp authority on loopback: `openssl ts
//! -reply` behind an HTTP handler, with a test CA and TSA certificate made by `openssl`
//! at test time. Every verdict of copyhound is cross-checked with an independent
//! verifier, `openssl ts -verify`: it must accept what copyhound accepts and reject the
//! tampered file, the replayed reply (wrong nonce) and the expired signer copyhound
//! rejects. The outage test shows evidence written while the TSA is down is kept,
//! queued, and timestamped exactly once when it returns.

use std::path::{Path, PathBuf};
use std::process::Output;
use std::sync::atomic::Ordering;
use std::time::Duration;

use copyhound::evidence::timestamp::{self, TimestampError};
use sha2::{Digest, Sha256};

use crate::tsa::{accepted, openssl_available, openssl_verify, Tsa, TsaKind};
use crate::util::{copyhound, copyhound_cmd, free_port, json, stderr, stdout, OUTLET_CONFIG};

fn digest_of(path: &Path) -> [u8; 32] {
    Sha256::digest(std::fs::read(path).unwrap()).into()
}

#[tokio::test(flavor = "multi_thread")]
async fn tokens_of_a_real_tsa_verify_here_and_in_openssl_and_tampering_is_named() {
    let test = "tokens_of_a_real_tsa_verify_here_and_in_openssl_and_tampering_is_named";
    if !openssl_available(test) {
        return;
    }
    for kind in [
        TsaKind::default(),
        TsaKind {
            ecdsa: true,
            ..TsaKind::default()
        },
    ] {
        let tsa = Tsa::start(kind).await;
        let dir = tempfile::tempdir().unwrap();
        let (file, _) = crate::evidence::bundle(dir.path()).await;
        let digest = digest_of(file.path.as_ref().unwrap());
        let before = chrono::Utc::now() - chrono::Duration::seconds(2);
        let token = timestamp::request(&tsa.client(), &digest).await.unwrap();
        assert_eq!(
            token.info.tsa_name,
            "O=Copyhound Tests,CN=Copyhound Test TSA"
        );
        assert!(token.info.gen_time >= before, "{:?}", token.info);
        assert_eq!(token.info.policy, "1.2.3.4.1");
        assert_eq!(token.info.accuracy.as_deref(), Some("1s 500ms 100µs"));
        assert_eq!(token.tsa_url, tsa.url);
        let tsr = copyhound::evidence::stamping::tsr_path(file.path.as_ref().unwrap());
        std::fs::write(&tsr, &token.response_der).unwrap();

        // Both verifiers accept the token; copyhound names the TSA and its time.
        let out = copyhound(&[
            "verify-evidence",
            file.path.as_ref().unwrap().to_str().unwrap(),
            "--tsa-ca",
            tsa.ca().to_str().unwrap(),
        ]);
        let text = stdout(&out);
        assert!(out.status.success(), "{text}{}", stderr(&out));
        assert!(
            text.contains(&format!(
                "timestamp ok: O=Copyhound Tests,CN=Copyhound Test TSA at {}",
                copyhound::evidence::utc(token.info.gen_time)
            )),
            "{text}"
        );
        assert!(text.contains("timestamp delay: "), "{text}");
        let ossl = openssl_verify(&[file.path.as_ref().unwrap()], &["-data"], &tsr, &tsa.ca());
        assert!(accepted(&ossl), "openssl rejects: {}", stderr(&ossl));
        // The bare token, verified by openssl with -token_in, is what the API also takes.
        let info = timestamp::verify(&token.token_der, &digest, &tsa.client().anchors).unwrap();
        assert_eq!(info, token.info);

        // A tampered file: one byte changed, the token kept.
        let tampered = dir.path().join("tampered.warc.gz");
        let mut bytes = std::fs::read(file.path.as_ref().unwrap()).unwrap();
        let mid = bytes.len() / 2;
        bytes[mid] ^= 0x01;
        std::fs::write(&tampered, &bytes).unwrap();
        std::fs::copy(&tsr, copyhound::evidence::stamping::tsr_path(&tampered)).unwrap();
        let out = copyhound(&[
            "verify-evidence",
            tampered.to_str().unwrap(),
            "--tsa-ca",
            tsa.ca().to_str().unwrap(),
        ]);
        assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
        assert!(
            stdout(&out).contains("message imprint mismatch"),
            "{}",
            stdout(&out)
        );
        let ossl = openssl_verify(&[&tampered], &["-data"], &tsr, &tsa.ca());
        assert!(!accepted(&ossl), "openssl accepts a tampered file");

        // A tampered token: the last byte is in the signature.
        let forged = dir.path().join("forged.tsr");
        let mut reply = token.response_der.clone();
        let last = reply.len() - 1;
        reply[last] ^= 0x01;
        std::fs::write(&forged, &reply).unwrap();
        let e = timestamp::verify(&reply, &digest, &tsa.client().anchors).unwrap_err();
        assert!(matches!(e, TimestampError::BadSignature(_)), "{e:?}");
        let ossl = openssl_verify(
            &[file.path.as_ref().unwrap()],
            &["-data"],
            &forged,
            &tsa.ca(),
        );
        assert!(!accepted(&ossl), "openssl accepts a forged signature");

        // Another CA: the chain is untrusted for both.
        let other = Tsa::start(kind).await;
        let e =
            timestamp::verify(&token.response_der, &digest, &other.client().anchors).unwrap_err();
        assert!(matches!(e, TimestampError::UntrustedChain(_)), "{e:?}");
        let out = copyhound(&[
            "verify-evidence",
            file.path.as_ref().unwrap().to_str().unwrap(),
            "--tsa-ca",
            other.ca().to_str().unwrap(),
        ]);
        assert_eq!(out.status.code(), Some(1));
        assert!(stdout(&out).contains("untrusted chain"), "{}", stdout(&out));
        let ossl = openssl_verify(
            &[file.path.as_ref().unwrap()],
            &["-data"],
            &tsr,
            &other.ca(),
        );
        assert!(!accepted(&ossl), "openssl accepts another CA");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_replayed_reply_fails_its_nonce_here_and_in_openssl() {
    let test = "a_replayed_reply_fails_its_nonce_here_and_in_openssl";
    if !openssl_available(test) {
        return;
    }
    let tsa = Tsa::start(TsaKind::default()).await;
    let digest = [0x42u8; 32];
    timestamp::request(&tsa.client(), &digest).await.unwrap();
    tsa.replay.store(true, Ordering::SeqCst);
    let e = timestamp::request(&tsa.client(), &digest)
        .await
        .unwrap_err();
    assert_eq!(e, TimestampError::NonceMismatch);

    let exchanges = tsa.exchanges();
    assert_eq!(exchanges.len(), 2);
    let d = tsa.dir.path();
    for (i, x) in exchanges.iter().enumerate() {
        std::fs::write(d.join(format!("q{i}.tsq")), &x.query).unwrap();
        std::fs::write(d.join(format!("r{i}.tsr")), &x.reply).unwrap();
    }
    // openssl checks the reply against the query it answers, nonce included.
    let first = openssl_verify(
        &[&d.join("q0.tsq")],
        &["-queryfile"],
        &d.join("r0.tsr"),
        &tsa.ca(),
    );
    assert!(accepted(&first), "{}", stderr(&first));
    let replayed = openssl_verify(
        &[&d.join("q1.tsq")],
        &["-queryfile"],
        &d.join("r1.tsr"),
        &tsa.ca(),
    );
    assert!(!accepted(&replayed), "openssl accepts a replayed reply");
    assert!(
        stderr(&replayed).contains("nonce mismatch"),
        "{}",
        stderr(&replayed)
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_tsa_certificate_expired_before_the_token_is_rejected_here_and_in_openssl() {
    let test = "a_tsa_certificate_expired_before_the_token_is_rejected_here_and_in_openssl";
    if !openssl_available(test) {
        return;
    }
    let tsa = Tsa::start(TsaKind {
        expired: true,
        ..TsaKind::default()
    })
    .await;
    let file = tsa.dir.path().join("data.bin");
    std::fs::write(&file, "evidence").unwrap();
    let digest = digest_of(&file);
    let e = timestamp::request(&tsa.client(), &digest)
        .await
        .unwrap_err();
    match &e {
        TimestampError::ExpiredSigner { not_after, .. } => {
            assert_eq!(not_after, "2021-01-01T00:00:00Z")
        }
        other => panic!("expected an expired signer, got {other:?}"),
    }
    assert!(e.to_string().starts_with("expired signer"), "{e}");
    let reply = tsa.dir.path().join("expired.tsr");
    std::fs::write(&reply, &tsa.exchanges()[0].reply).unwrap();
    let ossl = openssl_verify(&[&file], &["-data"], &reply, &tsa.ca());
    assert!(!accepted(&ossl), "openssl accepts an expired signer");
}

/// A daemon killed when the test ends, however it ends.
struct Daemon(std::process::Child);

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Two copying pages on loopback.
async fn copy_site() -> std::net::SocketAddr {
    crate::util::fixture::zh_copy_site("/news/{page}").await
}

async fn cli(config: &Path, args: &[&str]) -> Output {
    crate::util::copyhound_blocking(config, args).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn evidence_written_while_the_tsa_is_down_is_timestamped_once_it_is_back() {
    let test = "evidence_written_while_the_tsa_is_down_is_timestamped_once_it_is_back";
    if !openssl_available(test) {
        return;
    }
    let tsa = Tsa::start(TsaKind::default()).await;
    tsa.up.store(false, Ordering::SeqCst);
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let web = free_port();
    let config = root.join("copyhound.toml");
    std::fs::write(
        &config,
        format!(
            "{OUTLET_CONFIG}
[originals]
paths = [\"archive\"]

[crawl]
allow_private_networks = true
per_host_delay = \"0s\"
timeout = \"10s\"
cycle_interval = \"1h\"

[web]
listen = \"127.0.0.1:{web}\"

[evidence]
tsa_urls = [\"{url}\"]
tsa_ca_file = \"{ca}\"
tsa_timeout = \"5s\"
tsa_retry = \"1s\"
tsa_retry_max = \"2s\"
",
            url = tsa.url,
            ca = tsa.ca().display()
        ),
    )
    .unwrap();
    crate::util::archive_zh_original(root);
    let out = cli(&config, &["check-config"]).await;
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stdout(&out).contains(&format!("timestamps: RFC 3161 via {}", tsa.url))
            && stdout(&out).contains("CN=Copyhound Test Root CA"),
        "{}",
        stdout(&out)
    );
    let out = cli(&config, &["ingest"]).await;
    assert!(out.status.success(), "{}", stderr(&out));

    // Two matches while the TSA is down: their evidence is written and queued.
    let site = copy_site().await;
    for page in ["a.html", "b.html"] {
        let out = cli(&config, &["scan", &format!("http://{site}/news/{page}")]).await;
        assert!(out.status.success(), "{}{}", stdout(&out), stderr(&out));
        assert!(
            stderr(&out).contains("not timestamped yet (queued)"),
            "{}",
            stderr(&out)
        );
    }
    let matches = json(&cli(&config, &["matches", "list", "--json"]).await);
    let mut files: Vec<PathBuf> = Vec::new();
    let mut ids: Vec<String> = Vec::new();
    for m in matches.as_array().unwrap() {
        let id = m["id"].as_i64().unwrap().to_string();
        ids.push(id.clone());
        let detail = json(&cli(&config, &["matches", "show", &id, "--json"]).await);
        let name = detail["evidence_file"].as_str().expect("an evidence file");
        files.push(root.join("state/evidence").join(name));
    }
    assert_eq!(files.len(), 2, "{matches}");
    for f in &files {
        assert!(f.is_file());
        assert!(!copyhound::evidence::stamping::tsr_path(f).exists());
        let out = cli(&config, &["verify-evidence", f.to_str().unwrap()]).await;
        assert!(out.status.success(), "{}", stdout(&out));
        assert!(
            stdout(&out).contains("timestamp: not timestamped yet: queued since"),
            "{}",
            stdout(&out)
        );
    }
    let out = cli(&config, &["timestamp-pending", "--now"]).await;
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    assert!(stdout(&out).contains("2 pending"), "{}", stdout(&out));
    assert!(tsa.exchanges().is_empty());

    // The TSA returns (a little later, so the delay shows); the daemon timestamps both
    // files, once each. The first file's token is already beside it, as after a crash
    // between linking the `.tsr` and recording it: it is recorded, not asked for again.
    tokio::time::sleep(Duration::from_secs(2)).await;
    tsa.up.store(true, Ordering::SeqCst);
    let early = timestamp::request(&tsa.client(), &digest_of(&files[0]))
        .await
        .unwrap();
    std::fs::write(
        copyhound::evidence::stamping::tsr_path(&files[0]),
        &early.response_der,
    )
    .unwrap();
    let log = std::fs::File::create(root.join("daemon.log")).unwrap();
    let daemon = Daemon(
        copyhound_cmd(&["run", "--config", config.to_str().unwrap()])
            .env("RUST_LOG", "info")
            .stdout(std::process::Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap(),
    );
    let start = std::time::Instant::now();
    while !files
        .iter()
        .all(|f| copyhound::evidence::stamping::tsr_path(f).exists())
    {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "not timestamped by the daemon; log:\n{}",
            std::fs::read_to_string(root.join("daemon.log")).unwrap_or_default()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // Let the daemon record and poll again: it must not ask for a second token.
    tokio::time::sleep(Duration::from_secs(6)).await;
    drop(daemon);
    let out = cli(&config, &["timestamp-pending"]).await;
    assert!(out.status.success(), "{}{}", stdout(&out), stderr(&out));
    assert!(
        stdout(&out).contains("0 timestamped, 0 failed, 0 pending, 2 done"),
        "{}",
        stdout(&out)
    );
    for f in &files {
        let digest = digest_of(f);
        assert_eq!(
            tsa.tokens_for(&digest),
            1,
            "{}: one token per file",
            f.display()
        );
        let out = cli(&config, &["verify-evidence", f.to_str().unwrap()]).await;
        let text = stdout(&out);
        assert!(out.status.success(), "{text}");
        assert!(
            text.contains("timestamp ok: O=Copyhound Tests,CN=Copyhound Test TSA"),
            "{text}"
        );
        assert!(text.contains("timestamp delay: "), "{text}");
        let out = cli(&config, &["verify-evidence", "--json", f.to_str().unwrap()]).await;
        let v = json(&out);
        assert!(
            v["timestamp"]["delay_seconds"].as_i64().unwrap() >= 2,
            "{v}"
        );
        let ossl = openssl_verify(
            &[f],
            &["-data"],
            &copyhound::evidence::stamping::tsr_path(f),
            &tsa.ca(),
        );
        assert!(accepted(&ossl), "{}", stderr(&ossl));
    }
    assert_eq!(
        tsa.exchanges().len(),
        2,
        "exactly one request per file once up"
    );

    // Counsel's report shows the verified timestamp.
    let out = cli(&config, &["evidence-report", &ids[0], "--lang", "en"]).await;
    let html = stdout(&out);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        html.contains("O=Copyhound Tests,CN=Copyhound Test TSA"),
        "no TSA in the report"
    );
    assert!(
        html.contains("verified: signature, certificate chain"),
        "not verified in the report"
    );

    // The package's digest is timestamped too, and openssl verifies that token against
    // the package's datapackage.json.
    let wacz = root.join("case.wacz");
    let out = cli(
        &config,
        &[
            "export-evidence",
            &ids[0],
            &ids[1],
            "--wacz",
            wacz.to_str().unwrap(),
        ],
    )
    .await;
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains(", timestamped"), "{}", stdout(&out));
    let mut zip = zip::ZipArchive::new(std::fs::File::open(&wacz).unwrap()).unwrap();
    let read = |zip: &mut zip::ZipArchive<std::fs::File>, name: &str| {
        let mut bytes = Vec::new();
        std::io::Read::read_to_end(&mut zip.by_name(name).unwrap(), &mut bytes).unwrap();
        bytes
    };
    let datapackage = read(&mut zip, "datapackage.json");
    let digest: serde_json::Value =
        serde_json::from_slice(&read(&mut zip, "datapackage-digest.json")).unwrap();
    use base64::Engine as _;
    let token = base64::engine::general_purpose::STANDARD
        .decode(digest["timestampToken"].as_str().expect("a package token"))
        .unwrap();
    std::fs::write(root.join("datapackage.json"), &datapackage).unwrap();
    std::fs::write(root.join("datapackage.tsr"), &token).unwrap();
    let ossl = openssl_verify(
        &[&root.join("datapackage.json")],
        &["-data"],
        &root.join("datapackage.tsr"),
        &tsa.ca(),
    );
    assert!(accepted(&ossl), "{}", stderr(&ossl));
    assert_eq!(tsa.exchanges().len(), 3, "one more token, for the package");
}
