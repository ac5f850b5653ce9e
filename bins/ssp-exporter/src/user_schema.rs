//! The original's `--schema`: a JSON Schema (YAML or JSON) the config must satisfy, on
//! top of the built-in checks. Kept so that a deployment's own schema (e.g. one that
//! requires its labels) keeps being enforced.

use std::path::Path;

use serde_json::Value;

/// Reads a YAML or JSON file (by extension, as the original) into a JSON value.
fn read(path: &Path) -> Result<Value, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase);
    match ext.as_deref() {
        Some("yaml" | "yml") => serde_yaml::from_str(&text).map_err(|e| e.to_string()),
        Some("json") => serde_json::from_str(&text).map_err(|e| e.to_string()),
        _ => Err("unsupported extension (use .yaml, .yml or .json)".into()),
    }
    .map_err(|e| format!("{}: {e}", path.display()))
}

/// Checks the config file against the schema file; every violation is reported with
/// its place in the config, like the original's `Configuration section [...]` lines.
pub fn check(schema: &Path, config: &Path) -> Result<(), String> {
    let schema_value = read(schema)?;
    let instance = read(config)?;
    let validator = jsonschema::validator_for(&schema_value)
        .map_err(|e| format!("schema {}: not a usable JSON Schema: {e}", schema.display()))?;
    let errors: Vec<String> = validator
        .iter_errors(&instance)
        .map(|e| {
            let at = e.instance_path().to_string();
            let at = if at.is_empty() { "/".to_owned() } else { at };
            format!("{at}: {e}")
        })
        .collect();
    if errors.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "{} does not satisfy the schema {}:\n  {}",
            config.display(),
            schema.display(),
            errors.join("\n  ")
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_originals_schema_accepts_its_sample_and_rejects_gaps() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
        let schema = dir.join("schema.yaml");
        check(&schema, &dir.join("sample_exporter.yaml")).expect("sample passes");
        let tmp = tempfile::tempdir().expect("tmp");
        let bad = tmp.path().join("c.yaml");
        std::fs::write(
            &bad,
            "service:\n  messages: {init: -1, disabled: -2}\n  user_agents: [a]\nidentifiers:\n  Vultr:\n    - identifier: a\n      password: b\n      poll_interval: 0\n",
        )
        .expect("write");
        let e = check(&schema, &bad).expect_err("violations");
        assert!(e.contains("/identifiers/Vultr/0/poll_interval"), "{e}");
        assert!(e.contains("AlmatelRussia"), "{e}");
    }
}
