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
pub fn flat(entries: &[(&str, &str)]) -> Vec<u8> {
    let mut w = mmdb_writer::Writer::builder("country ipvAll")
        .ipv4_aliasing(mmdb_writer::Ipv4Aliasing::Disabled)
        .build();
    for (net, cc) in entries {
        w.insert(
            net.parse::<IpNet>().expect("network"),
            &Flat { country_code: cc },
        )
        .expect("insert");
    }
    w.to_bytes().expect("bytes")
}

/// GeoIP2 City layout; an entry without a country has only its continent.
pub fn geoip2(entries: &[(&str, Option<&str>, &str, Option<&str>)]) -> Vec<u8> {
    let mut w = mmdb_writer::Writer::new("GeoIP2-City");
    for (net, cc, continent, city) in entries {
        let rec = GeoIp2 {
            country: cc.map(|c| Iso { iso_code: c }),
            continent: ContinentRec { code: continent },
            city: city.map(|c| CityRec {
                names: [("en", c)].into_iter().collect(),
            }),
        };
        w.insert(net.parse::<IpNet>().expect("network"), &rec)
            .expect("insert");
    }
    w.to_bytes().expect("bytes")
}

#[derive(Serialize)]
struct Asn<'a> {
    autonomous_system_number: u32,
    autonomous_system_organization: &'a str,
}

/// GeoLite2-ASN layout.
pub fn asn(entries: &[(&str, u32)]) -> Vec<u8> {
    let mut w = mmdb_writer::Writer::new("GeoLite2-ASN");
    for (net, n) in entries {
        w.insert(
            net.parse::<IpNet>().expect("network"),
            &Asn {
                autonomous_system_number: *n,
                autonomous_system_organization: "Example",
            },
        )
        .expect("insert");
    }
    w.to_bytes().expect("bytes")
}
