//! The landing page at `/`: what this is, its version, links, and collector status.

use std::fmt::Write as _;

use super::routes::Inner;

pub(crate) fn render(s: &Inner) -> String {
    let info = &s.info;
    let mut html = String::with_capacity(4096);
    let _ = write!(
        html,
        r#"<!DOCTYPE html>
<html lang="en">
<head><meta charset="utf-8"><title>{name}</title>
<style>
body {{ font-family: -apple-system, "Segoe UI", Roboto, sans-serif; margin: 0; }}
header {{ background: #e6522c; color: #fff; padding: 0.6em 1em; }}
main {{ padding: 0 1em; }}
table {{ border-collapse: collapse; }} td, th {{ border: 1px solid #ccc; padding: 0.2em 0.6em; text-align: left; }}
.ok {{ color: #2a7d2a; }} .fail {{ color: #b00020; }}
</style></head>
<body>
<header><h1>{name}</h1></header>
<main>
<p>{description}</p>
<p>Version: {version}</p>
<ul>
<li><a href="{metrics}">Metrics</a></li>
<li><a href="-/healthy">Health</a> and <a href="-/ready">readiness</a></li>
<li><a href="debug/log-level">Log level</a></li>
</ul>
"#,
        name = escape(info.name),
        description = escape(info.description),
        version = escape(&info.long_version()),
        metrics = escape(s.telemetry_path.trim_start_matches('/')),
    );
    if let Some(probe) = &s.probe {
        let _ = write!(
            html,
            r#"<h2>Probe</h2>
<form action="probe" method="get">
<label>Target: <input type="text" name="target" placeholder="{placeholder}"></label>
<label>Module: <input type="text" name="module" value="{module}"></label>
<input type="submit" value="Probe">
</form>
"#,
            placeholder = escape(&probe.settings.example_target),
            module = escape(&probe.settings.default_module),
        );
    }
    let stats = s.stats.snapshot();
    if !stats.is_empty() {
        html.push_str(
            "<h2>Collectors</h2>\n<table><tr><th>collector</th><th>runs</th><th>last run</th><th>duration</th><th>last error</th></tr>\n",
        );
        for (name, stat) in &stats {
            let (class, outcome) = match (stat.runs, stat.success) {
                (0, _) => ("", "pending"),
                (_, true) => ("ok", "ok"),
                (_, false) => ("fail", "failed"),
            };
            let _ = writeln!(
                html,
                r#"<tr><td>{}</td><td>{}</td><td class="{class}">{outcome}</td><td>{:.3} s</td><td>{}</td></tr>"#,
                escape(name),
                stat.runs,
                stat.duration.as_secs_f64(),
                escape(stat.last_error.as_deref().unwrap_or("")),
            );
        }
        html.push_str("</table>\n");
    }
    html.push_str("</main>\n</body>\n</html>\n");
    html
}

pub(crate) fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn escapes_markup() {
        assert_eq!(
            super::escape(r#"<a href="x">&'"#),
            "&lt;a href=&quot;x&quot;&gt;&amp;&#39;"
        );
    }
}
