//! Basic auth, rate limit, response headers and web config errors.

use exporter_core::Exporter;
use exporter_core::cli::LogLevel;
use exporter_core::logging::LogHandle;

use crate::util::{self, INFO, plain_client};

fn web_config(dir: &tempfile::TempDir, body: &str) -> String {
    let path = dir.path().join("web.yml");
    std::fs::write(&path, body).expect("write web config");
    path.display().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn basic_auth_accepts_only_the_right_password() {
    let dir = tempfile::tempdir().expect("tmp");
    let hash = bcrypt::hash("s3cret", 4).expect("hash");
    let path = web_config(
        &dir,
        &format!(
            "basic_auth_users:\n  alice: {hash}\nhttp_server_config:\n  headers:\n    X-Frame-Options: deny\n    X-Content-Type-Options: nosniff\n"
        ),
    );
    let r = util::start(&[&format!("--web.config.file={path}")], |_| {}).await;
    let c = plain_client();

    let anon = c.get(r.url("/metrics")).send().await.expect("anon");
    assert_eq!(anon.status(), 401);
    assert_eq!(anon.headers()["www-authenticate"], "Basic");
    assert_eq!(anon.headers()["x-frame-options"], "deny");

    for (user, pass) in [("alice", "wrong"), ("mallory", "s3cret"), ("", "")] {
        let resp = c
            .get(r.url("/metrics"))
            .basic_auth(user, Some(pass))
            .send()
            .await
            .expect("req");
        assert_eq!(resp.status(), 401, "{user}:{pass}");
    }
    let ok = c
        .get(r.url("/metrics"))
        .basic_auth("alice", Some("s3cret"))
        .send()
        .await
        .expect("ok");
    assert_eq!(ok.status(), 200);
    assert_eq!(ok.headers()["x-content-type-options"], "nosniff");
    // Every endpoint is behind the same auth, the log-level switch included.
    let level = c
        .post(r.url("/debug/log-level?level=debug"))
        .send()
        .await
        .expect("post");
    assert_eq!(level.status(), 401);
    r.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rate_limit_answers_429() {
    let dir = tempfile::tempdir().expect("tmp");
    let path = web_config(&dir, "rate_limit:\n  interval: 1h\n  burst: 2\n");
    let r = util::start(&[&format!("--web.config.file={path}")], |_| {}).await;
    let c = plain_client();
    let mut codes = Vec::new();
    for _ in 0..3 {
        codes.push(
            c.get(r.url("/-/healthy"))
                .send()
                .await
                .expect("req")
                .status()
                .as_u16(),
        );
    }
    assert_eq!(codes, [200, 200, 429]);
    r.stop().await;
}

#[test]
fn bad_web_config_is_fatal_and_names_the_problem() {
    let dir = tempfile::tempdir().expect("tmp");
    let cases = [
        ("tls_server_config:\n  cert_fil: x\n", "cert_fil"),
        ("basic_auth_users:\n  bob: notahash\n", "not a bcrypt hash"),
        (
            "tls_server_config:\n  key_file: k.pem\n",
            "missing one of cert or cert_file",
        ),
        (
            "tls_server_config:\n  cert_file: missing.crt\n  key_file: missing.key\n",
            "missing.crt",
        ),
    ];
    for (body, needle) in cases {
        let path = web_config(&dir, body);
        let err = Exporter::new(
            INFO,
            util::core_args(&[&format!("--web.config.file={path}")]),
            LogHandle::detached(LogLevel::Info),
        )
        .expect_err(body)
        .to_string();
        assert!(err.contains(needle), "{body}: {err}");
        assert!(err.contains("web.yml"), "names the file: {err}");
        assert!(!err.contains("notahash"), "never echoes a secret: {err}");
    }
}
