//! Content negotiation for `/metrics`: the supported format with the highest `q` wins,
//! and Prometheus text 0.0.4 is the last resort, as the exposition-format rules require.

/// An exposition format this exporter can write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// `application/openmetrics-text; version=1.0.0` (Prometheus asks for it first).
    OpenMetrics,
    /// `text/plain; version=0.0.4`.
    Text,
}

impl Format {
    pub fn content_type(self) -> &'static str {
        match self {
            Format::OpenMetrics => super::openmetrics::CONTENT_TYPE,
            Format::Text => super::text::CONTENT_TYPE,
        }
    }
}

/// Picks the format for an `Accept` header value (absent header: text).
pub fn negotiate(accept: Option<&str>) -> Format {
    let Some(accept) = accept else {
        return Format::Text;
    };
    let mut best: Option<(f32, Format)> = None;
    for range in accept.split(',') {
        let mut parts = range.split(';').map(str::trim);
        let media = parts.next().unwrap_or_default().to_ascii_lowercase();
        let mut q = 1.0_f32;
        let mut version: Option<String> = None;
        for param in parts {
            let Some((key, value)) = param.split_once('=') else {
                continue;
            };
            let value = value.trim().trim_matches('"');
            match key.trim().to_ascii_lowercase().as_str() {
                "q" => q = value.parse().unwrap_or(0.0),
                "version" => version = Some(value.to_owned()),
                _ => {}
            }
        }
        if q <= 0.0 {
            continue;
        }
        let format = match (media.as_str(), version.as_deref()) {
            ("application/openmetrics-text", None | Some("1.0.0" | "0.0.1")) => Format::OpenMetrics,
            ("text/plain", None | Some("0.0.4")) | ("*/*" | "text/*", _) => Format::Text,
            _ => continue,
        };
        // Strictly greater: on a tie the range listed first wins.
        if best.is_none_or(|(best_q, _)| q > best_q) {
            best = Some((q, format));
        }
    }
    best.map_or(Format::Text, |(_, f)| f)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prometheus_default_accept_gets_openmetrics() {
        // Prometheus 2.42's scrape Accept header.
        let prom = "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1";
        assert_eq!(negotiate(Some(prom)), Format::OpenMetrics);
        // Prometheus 3's, from the content-negotiation doc.
        let prom3 = "application/openmetrics-text;version=1.0.0;escaping=allow-utf-8;q=0.5,application/openmetrics-text;version=0.0.1;q=0.4,text/plain;version=1.0.0;escaping=allow-utf-8;q=0.3,text/plain;version=0.0.4;q=0.2,*/*;q=0.1";
        assert_eq!(negotiate(Some(prom3)), Format::OpenMetrics);
    }

    #[test]
    fn fallbacks_are_text() {
        assert_eq!(negotiate(None), Format::Text);
        assert_eq!(negotiate(Some("")), Format::Text);
        assert_eq!(negotiate(Some("*/*")), Format::Text);
        assert_eq!(negotiate(Some("text/html")), Format::Text);
        assert_eq!(negotiate(Some("application/json")), Format::Text);
        // Unsupported versions are skipped, not misread.
        assert_eq!(
            negotiate(Some("application/openmetrics-text;version=2.0.0")),
            Format::Text
        );
        assert_eq!(
            negotiate(Some(
                "text/plain;version=1.0.0;q=0.9,application/openmetrics-text;q=0.5"
            )),
            Format::OpenMetrics
        );
    }

    #[test]
    fn q_values_decide() {
        assert_eq!(
            negotiate(Some("application/openmetrics-text;q=0.2, text/plain;q=0.9")),
            Format::Text
        );
        assert_eq!(
            negotiate(Some("application/openmetrics-text;q=0, */*")),
            Format::Text
        );
        assert_eq!(
            negotiate(Some("application/openmetrics-text; version=\"1.0.0\"; q=1")),
            Format::OpenMetrics
        );
    }
}
