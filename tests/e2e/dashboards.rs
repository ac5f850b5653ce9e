//! Dashboards and alert rules are checked by the real tools: alert rules with
//! `promtool check rules`, and every dashboard query (Grafana variables filled in)
//! as a recording rule through the same check, so a typo in PromQL fails here.

use std::fmt::Write as _;
use std::path::PathBuf;
use std::process::Command;

use e2e_tests::workspace;

fn files(ext: &str) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(workspace().join("dashboards"))
        .expect("dashboards/")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.to_string_lossy().ends_with(ext))
        .collect();
    v.sort();
    v
}

fn promtool_check_rules(path: &std::path::Path) -> Result<(), String> {
    let out = Command::new("promtool")
        .args(["check", "rules"])
        .arg(path)
        .output()
        .expect("promtool (cargo xtask deps)");
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ))
    }
}

#[test]
fn alert_rules_pass_promtool() {
    let rules = files(".rules.yml");
    assert!(!rules.is_empty());
    for path in rules {
        promtool_check_rules(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    }
}

#[test]
fn dashboard_queries_are_valid_promql() {
    let dashboards = files(".json");
    assert!(!dashboards.is_empty());
    let dir = tempfile::tempdir().expect("tmp");
    for path in dashboards {
        let json: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&path).expect("read"))
                .expect("dashboard is JSON");
        assert!(
            json["title"].is_string() && json["uid"].is_string(),
            "{}",
            path.display()
        );
        let panels = json["panels"].as_array().expect("panels");
        assert!(!panels.is_empty());
        let mut rules = String::from("groups:\n  - name: dashboard\n    rules:\n");
        let mut n = 0;
        for panel in panels {
            for target in panel["targets"].as_array().into_iter().flatten() {
                let expr = target["expr"].as_str().expect("expr");
                let expr = expr
                    .replace("$__rate_interval", "5m")
                    .replace("$__range", "1d")
                    .replace("$instance", ".*");
                n += 1;
                let _ = writeln!(
                    rules,
                    "      - record: dashboard_check:expr{n}\n        expr: {}",
                    serde_json::to_string(&expr).expect("quote")
                );
            }
        }
        assert!(n > 0);
        let check = dir.path().join("dashboard.rules.yml");
        std::fs::write(&check, rules).expect("write");
        promtool_check_rules(&check).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    }
}
