//! MaxMind-format databases written at test time with the `mmdb-writer` crate, in the
//! layouts real databases use; no binary fixture needs to be committed.

use std::collections::BTreeMap;

use ipnet::IpNet;
use serde::Serialize;

#[derive(Serialize)]
struct Flat<'a> {
    country_code: &'a str,
}

#[derive(Serialize)]
struct Iso<'a> {
    iso_code: &'a str,
}

#[derive(Serialize)]
struct ContinentRec<'a> {
    code: &'a str,
}

#[derive(Serialize)]
struct CityRec<'a> {
    names: BTreeMap<&'a str, &'a str>,
}

#[derive(Serialize)]
struct GeoIp2<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    country: Option<Iso<'a>>,
    continent: ContinentRec<'a>,
    #[serde(skip_serializing_if = "Option::is_none")]
    city: Option<CityRec<'a>>,
}

/// ip-location-db layout (`{country_code}`), without `::ffff:` aliases like those files.
pub fn flat(entries: &[(&str, &str)]) -> Result<Vec<u8>, String> {
    let mut w = mmdb_writer::Writer::builder("country ipvAll")
        .ipv4_aliasing(mmdb_writer::Ipv4Aliasing::Disabled)
        .build();
    for (net, cc) in entries {
        w.insert(
            net.parse::<IpNet>().map_err(|e| format!("{net}: {e}"))?,
            &Flat { country_code: cc },
        )
        .map_err(|e| e.to_string())?;
    }
    w.to_bytes().map_err(|e| e.to_string())
}

/// GeoIP2 City layout; an entry without a country has only its continent.
pub fn geoip2(entries: &[(&str, Option<&str>, &str, Option<&str>)]) -> Result<Vec<u8>, String> {
    let mut w = mmdb_writer::Writer::new("GeoIP2-City");
    for (net, cc, continent, city) in entries {
        let rec = GeoIp2 {
            country: cc.map(|c| Iso { iso_code: c }),
            continent: ContinentRec { code: continent },
            city: city.map(|c| CityRec {
                names: [("en", c)].into_iter().collect(),
            }),
        };
        w.insert(
            net.parse::<IpNet>().map_err(|e| format!("{net}: {e}"))?,
            &rec,
        )
        .map_err(|e| e.to_string())?;
    }
    w.to_bytes().map_err(|e| e.to_string())
}

#[derive(Serialize)]
struct Asn<'a> {
    autonomous_system_number: u32,
    autonomous_system_organization: &'a str,
}

/// GeoLite2-ASN layout.
pub fn asn(entries: &[(&str, u32)]) -> Result<Vec<u8>, String> {
    let mut w = mmdb_writer::Writer::new("GeoLite2-ASN");
    for (net, n) in entries {
        w.insert(
            net.parse::<IpNet>().map_err(|e| format!("{net}: {e}"))?,
            &Asn {
                autonomous_system_number: *n,
                autonomous_system_organization: "Example",
            },
        )
        .map_err(|e| e.to_string())?;
    }
    w.to_bytes().map_err(|e| e.to_string())
}
