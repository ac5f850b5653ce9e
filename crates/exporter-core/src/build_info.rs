//! Identity of a binary: what it is called, its metric namespace and how it was built.

use crate::metrics::Family;

/// Static facts about one exporter binary, made with [`exporter_info!`](crate::exporter_info).
#[derive(Debug, Clone, Copy)]
pub struct ExporterInfo {
    /// The binary's name, e.g. `reaction-exporter`.
    pub name: &'static str,
    /// The metric prefix, e.g. `reaction` gives `reaction_exporter_build_info`.
    pub namespace: &'static str,
    /// One line for the landing page and `--help`.
    pub description: &'static str,
    pub version: &'static str,
    pub revision: &'static str,
    pub rustc_version: &'static str,
}

/// Builds an [`ExporterInfo`] from the calling crate's Cargo metadata.
#[macro_export]
macro_rules! exporter_info {
    ($namespace:expr) => {
        $crate::ExporterInfo {
            name: env!("CARGO_PKG_NAME"),
            namespace: $namespace,
            description: env!("CARGO_PKG_DESCRIPTION"),
            version: env!("CARGO_PKG_VERSION"),
            revision: $crate::build_info::REVISION,
            rustc_version: $crate::build_info::RUSTC_VERSION,
        }
    };
}

/// The git revision the workspace was built from (`unknown` outside a checkout).
pub const REVISION: &str = env!("EXPORTER_CORE_GIT_REVISION");
/// The rustc that built the workspace.
pub const RUSTC_VERSION: &str = env!("EXPORTER_CORE_RUSTC_VERSION");

impl ExporterInfo {
    /// `<ns>_exporter_build_info{version,revision,rustc_version} 1`.
    pub fn family(&self) -> Family {
        let mut f = Family::info(
            format!("{}_exporter_build_info", self.namespace),
            format!(
                "A metric with a constant '1' value labeled by version, revision and rustc_version from which {} was built.",
                self.name
            ),
        )
        .with_labels(["version", "revision", "rustc_version"]);
        f.push([self.version, self.revision, self.rustc_version], 1.0);
        f
    }

    /// `name version (revision, rustc)` for `--version` and the landing page.
    pub fn long_version(&self) -> String {
        format!(
            "{} {} (revision {}, rustc {})",
            self.name, self.version, self.revision, self.rustc_version
        )
    }
}
