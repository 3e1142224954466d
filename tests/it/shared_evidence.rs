//! Evidence shared by several processes and machines (`[storage] evidence_dir`,
//! `evidence_url`). The bucket tests run against a real S3-compatible server on
//! loopback: PyPI's moto in server mode (`moto_server`, an HTTP server speaking the S3
//! API, which honours `If-None-Match: *` on PUT). Without moto they skip with a message;
//! with `COPYHOUND_REQUIRE_TOOLS=1` (CI) they fail instead. The objects are read back
//! and tampered with by boto3 (installed with moto), an independent S3 client.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use copyhound::config::Settings;
use copyhound::evidence::place::{Place, PlaceError};
use sha2::{Digest, Sha256};

use crate::util::{copyhound_cmd, free_port, json, stderr, stdout, OUTLET_CONFIG};

const BUCKET: &str = "copyhound-evidence";
const KEY_ID: &str = "copyhound-test-key";
const SECRET: &str = "copyhound-test-secret";

/// moto's S3 server on a free loopback port, killed on drop.
struct S3Server {
    child: Child,
    endpoint: String,
}

impl S3Server {
    /// Starts the server, or `None` (with a skip message) when moto is not installed;
    /// under `COPYHOUND_REQUIRE_TOOLS=1` a missing moto fails the test.
    fn start(test: &str) -> Option<S3Server> {
        let present = Command::new("python3")
            .args(["-c", "import moto.server, flask, boto3"])
            .output()
            .is_ok_and(|o| o.status.success());
        if !present {
            assert!(
                std::env::var_os("COPYHOUND_REQUIRE_TOOLS").is_none(),
                "{test}: moto[server] is missing and COPYHOUND_REQUIRE_TOOLS is set (pip install 'moto[server]')"
            );
            eprintln!("skipping {test}: python3 moto[server] not installed (pip install 'moto[server]'; CI installs it)");
            return None;
        }
        let port = free_port();
        let child = Command::new("python3")
            .args([
                "-m",
                "moto.server",
                "-H",
                "127.0.0.1",
                "-p",
                &port.to_string(),
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("python3 runs moto");
        let server = S3Server {
            child,
            endpoint: format!("http://127.0.0.1:{port}"),
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "moto did not start on {port}");
            std::thread::sleep(Duration::from_millis(100));
        }
        server.boto(&format!("s3.create_bucket(Bucket={BUCKET:?})"));
        Some(server)
    }

    /// Runs Python statements with `s3`, a boto3 client of this server; returns stdout.
    fn boto(&self, statements: &str) -> String {
        let script = format!(
            "import boto3, hashlib, sys\n\
             s3 = boto3.client('s3', endpoint_url={:?}, region_name='us-east-1', \
             aws_access_key_id={KEY_ID:?}, aws_secret_access_key={SECRET:?})\n{statements}\n",
            self.endpoint
        );
        let out = Command::new("python3")
            .args(["-c", &script])
            .output()
            .expect("python3 runs boto3");
        assert!(out.status.success(), "boto3: {}", stderr(&out));
        stdout(&out)
    }

    /// The SHA-256 of an object, as boto3 downloads it.
    fn object_sha256(&self, key: &str) -> String {
        self.boto(&format!(
            "print(hashlib.sha256(s3.get_object(Bucket={BUCKET:?}, Key={key:?})['Body'].read()).hexdigest())"
        ))
        .trim()
        .to_string()
    }
}

impl Drop for S3Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A folder with a config whose `[storage]` ends with `storage_keys` (and `extra`
/// sections at the end), the bundled Chinese original ingested.
fn outlet(root: &Path, storage_keys: &str, extra: &str) -> PathBuf {
    let config = root.join("copyhound.toml");
    std::fs::write(
        &config,
        format!(
            "{OUTLET_CONFIG}{storage_keys}
[originals]
paths = [\"archive\"]

[crawl]
allow_private_networks = true
per_host_delay = \"0s\"
timeout = \"10s\"
{extra}"
        ),
    )
    .unwrap();
    crate::util::archive_zh_original(root);
    let out = run(&config, &["ingest"]);
    assert!(out.status.success(), "{}", stderr(&out));
    config
}

fn run(config: &Path, args: &[&str]) -> Output {
    let mut all = args.to_vec();
    all.extend(["--config", config.to_str().unwrap()]);
    copyhound_cmd(&all)
        // The bucket's keys come from the config's credentials file only.
        .env_remove("AWS_ACCESS_KEY_ID")
        .env_remove("AWS_SECRET_ACCESS_KEY")
        .output()
        .expect("the copyhound binary runs")
}

async fn run_async(config: &Path, args: &[&str]) -> Output {
    let config = config.to_path_buf();
    let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
    tokio::task::spawn_blocking(move || {
        let refs: Vec<&str> = args.iter().map(String::as_str).collect();
        run(&config, &refs)
    })
    .await
    .unwrap()
}

/// A site serving the sample copy at `/news/copy.html`.
async fn copy_site() -> std::net::SocketAddr {
    crate::util::fixture::zh_copy_site("/news/copy.html").await
}

/// [`outlet`] keeping evidence in `s3`'s bucket under `outlet-a/`, its keys in a
/// credentials file.
fn bucket_outlet(root: &Path, s3: &S3Server, extra: &str) -> PathBuf {
    std::fs::write(
        root.join("s3.keys"),
        format!("[default]\naws_access_key_id = {KEY_ID}\naws_secret_access_key = {SECRET}\n"),
    )
    .unwrap();
    outlet(
        root,
        &format!(
            "evidence_url = \"s3://{BUCKET}/outlet-a/\"\n\
             evidence_endpoint = \"{}\"\n\
             evidence_credentials_file = \"s3.keys\"\n",
            s3.endpoint
        ),
        extra,
    )
}

/// `verify-evidence NAME`'s output, which must succeed.
fn verified(config: &Path, name: &str) -> String {
    let out = run(config, &["verify-evidence", name]);
    assert!(out.status.success(), "{}{}", stdout(&out), stderr(&out));
    stdout(&out)
}

/// `evidence-report ID --lang en` (to standard output), which must succeed.
fn english_report(config: &Path, id: i64) -> String {
    let out = run(
        config,
        &["evidence-report", &id.to_string(), "--lang", "en"],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    stdout(&out)
}

/// The first match's id, evidence file name and recorded SHA-256.
fn first_match(config: &Path) -> (i64, String, String) {
    let list = json(&run(config, &["matches", "list", "--json"]));
    let id = list[0]["id"].as_i64().expect("a match");
    let show = json(&run(
        config,
        &["matches", "show", &id.to_string(), "--json"],
    ));
    (
        id,
        show["evidence_file"].as_str().unwrap().to_string(),
        show["evidence_sha256"].as_str().unwrap().to_string(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn evidence_in_a_bucket_is_written_once_verified_and_read_back() {
    const TEST: &str = "evidence_in_a_bucket_is_written_once_verified_and_read_back";
    let Some(s3) = S3Server::start(TEST) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let config = bucket_outlet(root, &s3, "");

    // A scan writes the evidence to the bucket, not to the state folder.
    let site = copy_site().await;
    let out = run_async(&config, &["scan", &format!("http://{site}/news/copy.html")]).await;
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains("\tcopy\t"), "{}", stdout(&out));
    let (id, name, sha) = first_match(&config);
    assert!(!root.join("state/evidence").exists());
    let key = format!("outlet-a/{name}");
    assert_eq!(
        s3.object_sha256(&key),
        sha,
        "the object is what the store recorded"
    );
    let show = stdout(&run(&config, &["matches", "show", &id.to_string()]));
    assert!(
        show.contains(&format!(
            "evidence: s3://{BUCKET}/outlet-a/{name} (sha256 {sha})"
        )),
        "{show}"
    );

    // verify-evidence reads the object and checks it against the store's digest.
    let text = verified(&config, &name);
    assert!(
        text.contains("file sha256 matches the digest recorded for match"),
        "{text}"
    );

    // Counsel's report and the WACZ package read it from the bucket too.
    let html = english_report(&config, id);
    assert!(html.contains(&sha), "the report shows the file's digest");
    assert!(!html.contains("no such file"), "the report read the file");
    let wacz = root.join("evidence.wacz");
    let out = run(
        &config,
        &[
            "export-evidence",
            &id.to_string(),
            "--wacz",
            wacz.to_str().unwrap(),
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let package = std::fs::read(&wacz).unwrap();
    let mut zip = zip::ZipArchive::new(std::io::Cursor::new(package)).unwrap();
    let mut packed = Vec::new();
    std::io::Read::read_to_end(
        &mut zip.by_name(&format!("archive/{name}")).unwrap(),
        &mut packed,
    )
    .unwrap();
    assert_eq!(hex::encode(Sha256::digest(&packed)), sha);

    // The desk serves the download from the bucket.
    let desk = crate::web::DeskFixture::on_config(&config).await;
    let (session, _) = desk.login().await;
    let r = desk
        .get(&format!("/matches/{id}/evidence"), Some(&session))
        .await;
    assert_eq!(r.status(), reqwest::StatusCode::OK);
    assert_eq!(r.headers()["x-evidence-sha256"], sha.as_str());
    assert_eq!(hex::encode(Sha256::digest(r.bytes().await.unwrap())), sha);
    desk.stop().await;

    // A second write of the same name is refused by the server, and nothing changes.
    let settings = Settings::load(&config).unwrap();
    let place = Place::open(&settings.storage).unwrap();
    let again = tokio::task::spawn_blocking({
        let (place, name) = (place.clone(), name.clone());
        move || place.create(&name, b"not the evidence")
    })
    .await
    .unwrap();
    assert!(matches!(again, Err(PlaceError::Exists(_))), "{again:?}");
    assert_eq!(s3.object_sha256(&key), sha);

    // An object altered behind copyhound's back (an unconditional PUT by another
    // client) fails verification, naming the difference from the recorded digest.
    s3.boto(&format!(
        "b = bytearray(s3.get_object(Bucket={BUCKET:?}, Key={key:?})['Body'].read())\n\
         b[-40] ^= 1\n\
         s3.put_object(Bucket={BUCKET:?}, Key={key:?}, Body=bytes(b))"
    ));
    let out = run(&config, &["verify-evidence", &name]);
    assert!(!out.status.success(), "a tampered object must fail");
    let text = format!("{}{}", stdout(&out), stderr(&out));
    assert!(
        text.contains(&format!("differs from {sha} recorded for match {id}")),
        "{text}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn timestamp_tokens_of_evidence_in_a_bucket_are_objects_beside_it() {
    const TEST: &str = "timestamp_tokens_of_evidence_in_a_bucket_are_objects_beside_it";
    if !crate::tsa::openssl_available(TEST) {
        return;
    }
    let Some(s3) = S3Server::start(TEST) else {
        return;
    };
    let tsa = crate::tsa::Tsa::start(crate::tsa::TsaKind::default()).await;
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let config = bucket_outlet(
        root,
        &s3,
        &format!(
            "\n[evidence]\ntsa_urls = [\"{}\"]\ntsa_ca_file = {:?}\ntsa_timeout = \"5s\"\n",
            tsa.url,
            tsa.ca().display().to_string()
        ),
    );
    // The scan timestamps its new evidence before it exits: the token goes beside the
    // object, as `NAME.tsr`, created like the evidence (never overwritten).
    let site = copy_site().await;
    let out = run_async(&config, &["scan", &format!("http://{site}/news/copy.html")]).await;
    assert!(out.status.success(), "{}", stderr(&out));
    let (id, name, sha) = first_match(&config);
    let listed = s3.boto(&format!(
        "print('\\n'.join(o['Key'] for o in s3.list_objects_v2(Bucket={BUCKET:?})['Contents']))"
    ));
    let mut keys: Vec<&str> = listed.lines().collect();
    keys.sort();
    assert_eq!(
        keys,
        [format!("outlet-a/{name}"), format!("outlet-a/{name}.tsr")]
    );
    let digest: [u8; 32] = hex::decode(&sha).unwrap().try_into().unwrap();
    assert_eq!(tsa.tokens_for(&digest), 1);

    // verify-evidence and counsel's report verify the token read from the bucket.
    let text = verified(&config, &name);
    assert!(
        text.contains("timestamp ok: O=Copyhound Tests,CN=Copyhound Test TSA"),
        "{text}"
    );
    let html = english_report(&config, id);
    assert!(
        html.contains(&format!("{name}.tsr")),
        "the report names the token"
    );
    assert!(
        html.contains("verified: signature"),
        "the report verified the token"
    );
}

#[test]
fn bucket_credentials_are_required_and_never_printed() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("copyhound.toml");
    std::fs::write(
        &config,
        format!(
            "{OUTLET_CONFIG}evidence_url = \"s3://{BUCKET}\"\nevidence_endpoint = \"http://127.0.0.1:9\"\n"
        ),
    )
    .unwrap();
    // No credentials file and no AWS variables: check-config warns, naming the key, and
    // a command that needs the bucket fails the same way.
    let out = run(&config, &["check-config"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stdout(&out).contains(&format!(
            "evidence: bucket s3://{BUCKET} at http://127.0.0.1:9 (region us-east-1)"
        )),
        "{}",
        stdout(&out)
    );
    assert!(
        stderr(&out).contains("[storage] evidence_credentials_file: not set"),
        "{}",
        stderr(&out)
    );
    let out = run(
        &config,
        &["verify-evidence", "20261205T063000.000Z-m1-x.warc.gz"],
    );
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("[storage] evidence_credentials_file: not set"),
        "{}",
        stderr(&out)
    );
    // A credentials file with a stray key is refused by name, its values never shown.
    std::fs::write(
        dir.path().join("keys"),
        format!("aws_access_key_id = {KEY_ID}\naws_secret_access_key = {SECRET}\nregion = x\n"),
    )
    .unwrap();
    let mut text = std::fs::read_to_string(&config).unwrap();
    text.push_str("evidence_credentials_file = \"keys\"\n");
    std::fs::write(&config, text).unwrap();
    let out = run(
        &config,
        &["verify-evidence", "20261205T063000.000Z-m1-x.warc.gz"],
    );
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(err.contains("unknown key \"region\""), "{err}");
    assert!(!err.contains(SECRET) && !err.contains(KEY_ID), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn machines_sharing_one_evidence_dir_never_overwrite_each_other() {
    // Three "machines": each its own state (database) and process, one evidence folder
    // (as an NFS or CephFS mount would be), scanning the same copy at the same time.
    // Their files have the same name pattern (same match id, same host, the same
    // millisecond if they race), so only atomic creation keeps them apart.
    let dir = tempfile::tempdir().unwrap();
    let shared = dir.path().join("shared-evidence");
    let site = copy_site().await;
    let url = format!("http://{site}/news/copy.html");
    let configs: Vec<PathBuf> = (0..3)
        .map(|i| {
            let root = dir.path().join(format!("machine-{i}"));
            std::fs::create_dir_all(&root).unwrap();
            outlet(
                &root,
                &format!("evidence_dir = {:?}\n", shared.display().to_string()),
                "",
            )
        })
        .collect();
    let scans: Vec<_> = configs
        .iter()
        .map(|c| {
            let (c, url) = (c.clone(), url.clone());
            tokio::spawn(async move { run_async(&c, &["scan", &url]).await })
        })
        .collect();
    for scan in scans {
        let out = scan.await.unwrap();
        assert!(out.status.success(), "{}", stderr(&out));
    }
    let mut names = Vec::new();
    for config in &configs {
        let (_, name, sha) = first_match(config);
        let bytes = std::fs::read(shared.join(&name)).unwrap();
        assert_eq!(hex::encode(Sha256::digest(&bytes)), sha, "{name} is intact");
        let out = run(config, &["verify-evidence", &name]);
        assert!(out.status.success(), "{}{}", stdout(&out), stderr(&out));
        names.push(name);
    }
    names.sort();
    names.dedup();
    assert_eq!(names.len(), 3, "each machine has its own file: {names:?}");
    let mut listed: Vec<String> = std::fs::read_dir(&shared)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    listed.sort();
    assert_eq!(
        listed, names,
        "no temporary file is left and nothing else is there"
    );
    // A state folder never gets an evidence folder of its own.
    for config in &configs {
        assert!(!config.parent().unwrap().join("state/evidence").exists());
    }
}
