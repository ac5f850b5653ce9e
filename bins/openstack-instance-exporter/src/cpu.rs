//! The original's CPU percentage: the growth of the domain's total CPU time over the
//! wall-clock time between two readings, per flavor vCPU, clamped to 0–100.

/// One reading: total CPU time and the wall clock, both in nanoseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sample {
    pub cpu_ns: u64,
    pub wall_ns: u64,
}

/// The percentage between `prev` and `cur`; `None` without a previous reading, without
/// vCPUs, or when the clock did not advance.
pub fn percent(prev: Option<Sample>, cur: Sample, vcpus: u32) -> Option<f64> {
    let prev = prev?;
    if vcpus == 0 || cur.wall_ns <= prev.wall_ns {
        return None;
    }
    // A restarted domain's CPU time starts again from 0: no usage for this interval.
    let cpu = cur.cpu_ns.saturating_sub(prev.cpu_ns) as f64;
    let wall = (cur.wall_ns - prev.wall_ns) as f64;
    Some((cpu / wall * 100.0 / f64::from(vcpus)).clamp(0.0, 100.0))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(cpu_ns: u64, wall_ns: u64) -> Sample {
        Sample { cpu_ns, wall_ns }
    }

    #[test]
    fn recorded_samples() {
        // 2 vCPUs; 10 s apart; 5 s of CPU time: 25 %.
        let a = s(48_772_617_035, 1_700_000_000_000_000_000);
        let b = s(53_772_617_035, 1_700_000_010_000_000_000);
        assert_eq!(percent(Some(a), b, 2), Some(25.0));
        // The same on 1 vCPU: 50 %; on 4: 12.5 %.
        assert_eq!(percent(Some(a), b, 1), Some(50.0));
        assert_eq!(percent(Some(a), b, 4), Some(12.5));
        // More CPU time than wall time per vCPU (accounting jitter) is clamped.
        assert_eq!(
            percent(Some(a), s(80_000_000_000, b.wall_ns), 2),
            Some(100.0)
        );
        // The test driver's constant CPU time: 0 %.
        assert_eq!(percent(Some(a), s(a.cpu_ns, b.wall_ns), 2), Some(0.0));
        // A restart (CPU time went down): 0 %, not a huge number.
        assert_eq!(percent(Some(b), s(1_000, b.wall_ns + 10), 2), Some(0.0));
    }

    #[test]
    fn no_value_without_two_readings_or_vcpus() {
        let a = s(1, 10);
        assert_eq!(percent(None, a, 2), None);
        assert_eq!(percent(Some(a), s(5, 20), 0), None);
        assert_eq!(percent(Some(a), s(5, 10), 2), None);
    }
}
