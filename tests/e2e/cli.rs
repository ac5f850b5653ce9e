//! The binaries' command lines: help text (golden), version, `--config.check`, Go-style
//! flags, and shutdown on SIGTERM.

use std::process::Command;

use e2e_tests::{EXPORTERS, ExporterProcess, assert_golden, binary};

#[test]
fn help_texts_are_stable() {
    for (bin, _) in EXPORTERS {
        let out = Command::new(binary(bin))
            .arg("--help")
            // A clean environment: clap shows the values of env-backed flags.
            .env_clear()
            .env("COLUMNS", "100")
            .output()
            .expect("run");
        assert!(out.status.success(), "{bin} --help");
        assert_golden(
            &format!("help/{bin}.txt"),
            &String::from_utf8_lossy(&out.stdout),
        );
    }
}

#[test]
fn version_flag() {
    for (bin, _) in EXPORTERS {
        let out = Command::new(binary(bin))
            .arg("--version")
            .output()
            .expect("run");
        assert!(out.status.success());
        assert_eq!(
            String::from_utf8_lossy(&out.stdout),
            format!("{bin} {}\n", env!("CARGO_PKG_VERSION"))
        );
    }
}

#[test]
fn config_check_names_file_and_key() {
    let dir = tempfile::tempdir().expect("tmp");
    let bad = dir.path().join("bad.yaml");
    std::fs::write(&bad, "listen_adress: 1\n").expect("write");
    let out = Command::new(binary("reaction-exporter"))
        .args([
            "--config.check",
            &format!("--config.file={}", bad.display()),
        ])
        .output()
        .expect("run");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("listen_adress"), "{err}");
    assert!(err.contains("unknown field"), "{err}");
    assert!(err.contains(&bad.display().to_string()), "{err}");

    let ok = Command::new(binary("reaction-exporter"))
        .arg("--config.check")
        .output()
        .expect("run");
    assert!(ok.status.success());

    let web = dir.path().join("web.yml");
    std::fs::write(&web, "basic_auth_users:\n  alice: hunter2\n").expect("write");
    let out = Command::new(binary("hitron-exporter"))
        .args([
            "--config.check",
            &format!("--web.config.file={}", web.display()),
        ])
        .output()
        .expect("run");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("not a bcrypt hash"), "{err}");
    assert!(!err.contains("hunter2"), "secret leaked: {err}");
}

#[test]
fn go_style_single_dash_flags_and_env_aliases() {
    // The openstack original's systemd units pass `-web.listen-address=...`.
    let p = ExporterProcess::start("openstack-instance-exporter", &["-log.level=info"]);
    assert!(p.log().iter().any(|l| l.contains("message=listening")));
    // ssp's environment variables choose the port when no listen flag is given.
    let out = Command::new(binary("ssp-exporter"))
        .args(["--config.check"])
        .env("SSP_EXPORTER_BIND_PORT", "notaport")
        .output()
        .expect("run");
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("SSP_EXPORTER_BIND_PORT")
            || String::from_utf8_lossy(&out.stderr).contains("notaport")
    );
}

#[test]
fn sigterm_stops_cleanly() {
    let mut p = ExporterProcess::start("geoip-conn-exporter", &[]);
    let status = p.signal("TERM").expect("exits within 10 s");
    assert!(status.success(), "{status}");
    assert!(p.log().iter().any(|l| l.contains("message=stopped")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sighup_reload_failure_is_visible_and_recovers() {
    let dir = tempfile::tempdir().expect("tmp");
    let web = dir.path().join("web.yml");
    std::fs::write(
        &web,
        "http_server_config:\n  headers:\n    X-Frame-Options: deny\n",
    )
    .expect("write");
    let p = ExporterProcess::start(
        "reaction-exporter",
        &[&format!("--web.config.file={}", web.display())],
    );
    let metric = "reaction_config_last_reload_successful";
    let value = || async {
        e2e_tests::get_text(&p.url("/metrics"))
            .await
            .lines()
            .find_map(|l| l.strip_prefix(&format!("{metric} ")).map(str::to_owned))
    };
    let wait_for = |want: &'static str| async move {
        for _ in 0..100 {
            if value().await.as_deref() == Some(want) {
                return true;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        false
    };
    assert!(wait_for("1").await);
    std::fs::write(&web, "http_server_config:\n  headerz: {}\n").expect("break");
    p.send_signal("HUP");
    assert!(wait_for("0").await, "a failed reload sets {metric} to 0");
    assert!(
        p.log().iter().any(|l| l.contains("headerz")),
        "and logs why"
    );
    std::fs::write(&web, "").expect("fix");
    p.send_signal("HUP");
    assert!(wait_for("1").await, "a good reload sets it back to 1");
}
