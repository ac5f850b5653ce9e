//! Integration tests of exporter-core: a real exporter served on loopback, scraped over
//! real HTTP and TLS, its output checked by promtool and by the Python OpenMetrics parser.

mod auth;
mod golden;
mod http;
mod tls;
mod util;
