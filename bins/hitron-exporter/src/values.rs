//! The modem's value formats, as pure functions: every value arrives as a string, with
//! units, padding, placeholders and a few odd encodings. `None` means absent (never 0).

/// A trimmed value, or `None` for the modem's placeholders (`NA`, `TODO`, `--`, `-`, ``).
pub fn present(raw: &str) -> Option<&str> {
    let v = raw.trim();
    match v {
        "" | "NA" | "N/A" | "TODO" | "--" | "-" => None,
        _ => Some(v),
    }
}

/// A finite number (`"17.400"`, `" 743600000"`, `"-0.700"`).
pub fn number(raw: &str) -> Option<f64> {
    present(raw)?.parse::<f64>().ok().filter(|v| v.is_finite())
}

/// Which multiple a `K`/`M`/`G`/`T` byte prefix means. The firmware does not say; the
/// original (yrro) uses decimal, cfstras and hairyhenderson binary.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Default,
    serde::Serialize,
    serde::Deserialize,
    schemars::JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum BytePrefixes {
    /// K = 1000 (the original's choice, the default).
    #[default]
    Decimal,
    /// K = 1024.
    Binary,
}

/// A byte counter: `"1.15G Bytes"`, `"812.30M Bytes"`, `"512 Bytes"`, `"96.00K Bytes"`.
pub fn bytes(raw: &str, prefixes: BytePrefixes) -> Option<f64> {
    let v = present(raw)?;
    let v = v
        .strip_suffix("Bytes")
        .or_else(|| v.strip_suffix("bytes"))
        .or_else(|| v.strip_suffix('B'))
        .unwrap_or(v)
        .trim_end();
    let (num, unit) = match v.char_indices().last() {
        Some((i, c)) if c.is_ascii_alphabetic() => (&v[..i], Some(c.to_ascii_uppercase())),
        _ => (v, None),
    };
    let base: f64 = match prefixes {
        BytePrefixes::Decimal => 1000.0,
        BytePrefixes::Binary => 1024.0,
    };
    let exp = match unit {
        None => 0,
        Some('K') => 1,
        Some('M') => 2,
        Some('G') => 3,
        Some('T') => 4,
        Some('P') => 5,
        Some(_) => return None,
    };
    let n: f64 = num
        .trim()
        .parse()
        .ok()
        .filter(|n: &f64| n.is_finite() && *n >= 0.0)?;
    // Whole bytes: `527.44M` is 527440000, not 527440000.00000006.
    Some((n * base.powi(exp)).round())
}

/// A counter the CODA firmware writes as `"3 * 2e32 + 1024991746"` once it passes 2^32
/// (`2e32` means 2^32: the low part is always below it), or as a plain number.
pub fn wrapped_counter(raw: &str) -> Option<f64> {
    let v = present(raw)?;
    if let Some((high, low)) = v.split_once('+') {
        let (mult, base) = high.split_once('*')?;
        if base.trim() != "2e32" {
            return None;
        }
        let mult: u64 = mult.trim().parse().ok()?;
        let low: u64 = low.trim().parse().ok()?;
        return Some((mult as f64) * 4_294_967_296.0 + low as f64);
    }
    v.parse::<u64>().ok().map(|n| n as f64)
}

/// A duration in seconds, in any of the three firmware formats:
/// `"03 Days,07 Hours,12 Minutes,09 Seconds"` (CGNV4), `"84h:37m:16s"` (CODA-45/56),
/// `"D: 6 H: 09 M: 25 S: 55"` (CODA-4680; `--` fields mean unknown).
pub fn duration(raw: &str) -> Option<f64> {
    let v = present(raw)?;
    if v.contains("Days") || v.contains("Hours") {
        let mut total = 0u64;
        for part in v.split(',') {
            let mut it = part.split_whitespace();
            let n: u64 = it.next()?.parse().ok()?;
            let unit = it.next()?;
            total += n * match unit {
                "Days" | "Day" => 86_400,
                "Hours" | "Hour" => 3_600,
                "Minutes" | "Minute" => 60,
                "Seconds" | "Second" => 1,
                _ => return None,
            };
        }
        return Some(total as f64);
    }
    if v.starts_with("D:") {
        let mut total = 0u64;
        let tokens: Vec<&str> = v.split_whitespace().collect();
        for pair in tokens.chunks(2) {
            let [unit, n] = pair else { return None };
            let n: u64 = n.parse().ok()?;
            total += n * match *unit {
                "D:" => 86_400,
                "H:" => 3_600,
                "M:" => 60,
                "S:" => 1,
                _ => return None,
            };
        }
        return Some(total as f64);
    }
    if v.contains('h') && v.contains('m') {
        let mut total = 0u64;
        for part in v.split(':') {
            let part = part.trim();
            let (n, mult) = if let Some(n) = part.strip_suffix('h') {
                (n, 3_600)
            } else if let Some(n) = part.strip_suffix('m') {
                (n, 60)
            } else if let Some(n) = part.strip_suffix('s') {
                (n, 1)
            } else {
                return None;
            };
            total += n.parse::<u64>().ok()? * mult;
        }
        return Some(total as f64);
    }
    None
}

/// `systemTime`: `"Tue Mar 14, 2023, 09:41:27"`, read as UTC (the modem gives no zone),
/// in Unix seconds.
pub fn system_time(raw: &str) -> Option<f64> {
    let v = present(raw)?;
    let parts: Vec<&str> = v.split(',').map(str::trim).collect();
    let [day_month, year, time] = parts.as_slice() else {
        return None;
    };
    let mut dm = day_month.split_whitespace();
    let _weekday = dm.next()?;
    let month = match dm.next()? {
        "Jan" => 1,
        "Feb" => 2,
        "Mar" => 3,
        "Apr" => 4,
        "May" => 5,
        "Jun" => 6,
        "Jul" => 7,
        "Aug" => 8,
        "Sep" => 9,
        "Oct" => 10,
        "Nov" => 11,
        "Dec" => 12,
        _ => return None,
    };
    let day: u32 = dm.next()?.parse().ok().filter(|d| (1..=31).contains(d))?;
    let year: i64 = year.parse().ok()?;
    let hms: Vec<u32> = time
        .split(':')
        .map(|p| p.parse().ok())
        .collect::<Option<_>>()?;
    let [h, m, s] = hms.as_slice() else {
        return None;
    };
    if *h > 23 || *m > 59 || *s > 60 {
        return None;
    }
    let days = days_from_civil(year, month, day);
    Some((days * 86_400 + i64::from(*h) * 3_600 + i64::from(*m) * 60 + i64::from(*s)) as f64)
}

/// Days since 1970-01-01 (Howard Hinnant's algorithm).
fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = i64::from(m);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// `bpiStatus`: `"AUTH:authorized, TEK:operational"` → `[("auth", "authorized"),
/// ("tek", "operational")]`, keys and values lower-cased as the original does.
pub fn bpi(raw: &str) -> Vec<(String, String)> {
    present(raw)
        .into_iter()
        .flat_map(|v| v.split(','))
        .filter_map(|part| {
            let (k, v) = part.split_once(':')?;
            Some((k.trim().to_lowercase(), v.trim().to_lowercase()))
        })
        .collect()
}

/// The DS `modulation` code (cfstras' table), or a name as CODA-4680 gives it.
pub fn modulation(raw: &str) -> Option<String> {
    let v = present(raw)?;
    Some(
        match v {
            "0" => "16QAM",
            "1" => "64QAM",
            "2" => "256QAM",
            "3" => "1024QAM",
            "4" => "32QAM",
            "5" => "128QAM",
            "6" => "QPSK",
            other => other,
        }
        .to_owned(),
    )
}

/// A CM-init step or lock flag: `Success`/`YES`/`Permitted` → 1; other known words → 0;
/// placeholders → absent.
pub fn step(raw: &str) -> Option<f64> {
    let v = present(raw)?;
    match v.to_ascii_lowercase().as_str() {
        "success" | "yes" | "permitted" | "enable" | "enabled" | "operate" | "up" => Some(1.0),
        "secret" => None,
        _ => Some(0.0),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_are_absent_not_zero() {
        for p in ["NA", "TODO", "--", "-", "", "   ", " NA "] {
            assert_eq!(number(p), None, "{p:?}");
            assert_eq!(bytes(p, BytePrefixes::Decimal), None, "{p:?}");
            assert_eq!(duration(p), None, "{p:?}");
        }
        assert_eq!(number(" 743600000"), Some(743_600_000.0));
        assert_eq!(number("    0.0000"), Some(0.0));
        assert_eq!(number("-0.700"), Some(-0.7));
        assert_eq!(number("nan"), None);
    }

    #[test]
    fn byte_counters_decimal_and_binary() {
        let d = BytePrefixes::Decimal;
        let b = BytePrefixes::Binary;
        assert_eq!(bytes("1.15G Bytes", d), Some(1.15e9));
        assert_eq!(bytes("812.30M Bytes", d), Some(812.3e6));
        assert_eq!(bytes("512 Bytes", d), Some(512.0));
        assert_eq!(bytes("96.00K Bytes", d), Some(96_000.0));
        assert_eq!(bytes("2.5T Bytes", d), Some(2.5e12));
        assert_eq!(bytes("1.61G Bytes", b), Some(1_728_724_337.0));
        assert_eq!(bytes("527.44M Bytes", d), Some(527_440_000.0));
        assert_eq!(bytes("96K Bytes", b), Some(98_304.0));
        assert_eq!(bytes("1.5X Bytes", d), None);
        assert_eq!(bytes("-1 Bytes", d), None);
    }

    #[test]
    fn wrapped_counters() {
        assert_eq!(
            wrapped_counter("3 * 2e32 + 1024991746"),
            Some(3.0 * 4_294_967_296.0 + 1_024_991_746.0)
        );
        assert_eq!(
            wrapped_counter("10 * 2e32 + 3651454275"),
            Some(10.0 * 4_294_967_296.0 + 3_651_454_275.0)
        );
        assert_eq!(wrapped_counter("18013053386"), Some(18_013_053_386.0));
        assert_eq!(wrapped_counter("NA"), None);
        assert_eq!(wrapped_counter("3 * 2e31 + 5"), None);
    }

    #[test]
    fn three_uptime_formats() {
        assert_eq!(
            duration("00 Days,05 Hours,38 Minutes,47 Seconds"),
            Some(5.0 * 3600.0 + 38.0 * 60.0 + 47.0)
        );
        assert_eq!(
            duration("03 Days,07 Hours,12 Minutes,09 Seconds"),
            Some(3.0 * 86400.0 + 7.0 * 3600.0 + 12.0 * 60.0 + 9.0)
        );
        assert_eq!(
            duration("84h:37m:16s"),
            Some(84.0 * 3600.0 + 37.0 * 60.0 + 16.0)
        );
        assert_eq!(duration("00h:02m:57s"), Some(177.0));
        assert_eq!(
            duration("D: 6 H: 09 M: 25 S: 55"),
            Some(6.0 * 86400.0 + 9.0 * 3600.0 + 25.0 * 60.0 + 55.0)
        );
        assert_eq!(duration("D: -- H: -- M: -- S: --"), None);
        assert_eq!(duration("soon"), None);
    }

    #[test]
    fn system_time_as_utc() {
        // 2023-03-14T09:41:27Z
        assert_eq!(
            system_time("Tue Mar 14, 2023, 09:41:27"),
            Some(1_678_786_887.0)
        );
        // 2022-06-17T17:09:10Z (yrro's sample)
        assert_eq!(
            system_time("Fri Jun 17, 2022, 17:09:10"),
            Some(1_655_485_750.0)
        );
        assert_eq!(system_time("Fri Jun 17 2022"), None);
        assert_eq!(system_time("Fri Jux 17, 2022, 17:09:10"), None);
    }

    #[test]
    fn bpi_and_modulation_and_steps() {
        assert_eq!(
            bpi("AUTH:authorized, TEK:operational"),
            vec![
                ("auth".to_owned(), "authorized".to_owned()),
                ("tek".to_owned(), "operational".to_owned())
            ]
        );
        assert!(bpi("").is_empty());
        assert_eq!(modulation("2").as_deref(), Some("256QAM"));
        assert_eq!(modulation("QAM256").as_deref(), Some("QAM256"));
        assert_eq!(step("Success"), Some(1.0));
        assert_eq!(step("Processing..."), Some(0.0));
        assert_eq!(step("Secret"), None);
        assert_eq!(step(""), None);
        assert_eq!(step("  DISABLED"), Some(0.0));
    }
}
