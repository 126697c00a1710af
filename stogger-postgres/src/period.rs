//! Time periods of a partitioned table: which period a time falls in, the
//! next one, the partition's name suffix and its bounds as SQL literals.
//!
//! Periods are aligned in UTC, whatever the server's or the client's time
//! zone: hours, days, ISO weeks (Monday 00:00 to Monday 00:00) and
//! calendar months. A partition is named after the start of its period:
//! `p2026112611` (hourly), `p20261126` (daily), `p20261123` (Weekly, the
//! Monday), `p202611` (monthly).

use stogger_pg_proto::Partitioning;
use time::{Date, Duration, Month, OffsetDateTime, PrimitiveDateTime, Time, UtcOffset};

/// One partition's range, `[start, end)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Period {
    /// Inclusive lower bound.
    pub start: OffsetDateTime,
    /// Exclusive upper bound.
    pub end: OffsetDateTime,
}

fn at_midnight(d: Date) -> OffsetDateTime {
    PrimitiveDateTime::new(d, Time::MIDNIGHT).assume_utc()
}

fn first_of_month(year: i32, month: Month) -> Option<OffsetDateTime> {
    Date::from_calendar_date(year, month, 1)
        .ok()
        .map(at_midnight)
}

fn start_of(p: Partitioning, t: OffsetDateTime) -> Option<OffsetDateTime> {
    let t = t.to_offset(UtcOffset::UTC);
    match p {
        Partitioning::None => None,
        Partitioning::Hourly => Some(t.replace_time(Time::from_hms(t.hour(), 0, 0).ok()?)),
        Partitioning::Daily => Some(at_midnight(t.date())),
        Partitioning::Weekly => {
            let back = i64::from(t.weekday().number_days_from_monday());
            Some(at_midnight(t.date()) - Duration::days(back))
        }
        Partitioning::Monthly => first_of_month(t.year(), t.month()),
    }
}

fn end_from(p: Partitioning, start: OffsetDateTime) -> Option<OffsetDateTime> {
    match p {
        Partitioning::None => None,
        Partitioning::Hourly => start.checked_add(Duration::hours(1)),
        Partitioning::Daily => start.checked_add(Duration::days(1)),
        Partitioning::Weekly => start.checked_add(Duration::weeks(1)),
        Partitioning::Monthly => match start.month() {
            Month::December => first_of_month(start.year() + 1, Month::January),
            m => first_of_month(start.year(), m.next()),
        },
    }
}

impl Period {
    /// The period of `p` that holds `t` (None for [`Partitioning::None`],
    /// or at the ends of the calendar).
    pub fn at(p: Partitioning, t: OffsetDateTime) -> Option<Period> {
        let start = start_of(p, t)?;
        Some(Period {
            start,
            end: end_from(p, start)?,
        })
    }

    /// The period right after this one.
    pub fn next(&self, p: Partitioning) -> Option<Period> {
        Some(Period {
            start: self.end,
            end: end_from(p, self.end)?,
        })
    }

    /// The current period and `premake` more after it.
    pub fn ahead(p: Partitioning, now: OffsetDateTime, premake: u32) -> Vec<Period> {
        let mut out = Vec::new();
        let mut period = Period::at(p, now);
        while let Some(current) = period {
            out.push(current);
            if out.len() > premake as usize {
                break;
            }
            period = current.next(p);
        }
        out
    }

    /// The partition name suffix: `p` and the start, as long as the width
    /// needs (`p2026112611`, `p20261126`, `p202611`).
    pub fn suffix(&self, p: Partitioning) -> String {
        let s = self.start;
        let (y, m, d, h) = (s.year(), u8::from(s.month()), s.day(), s.hour());
        match p {
            Partitioning::Hourly => format!("p{y:04}{m:02}{d:02}{h:02}"),
            Partitioning::Monthly => format!("p{y:04}{m:02}"),
            _ => format!("p{y:04}{m:02}{d:02}"),
        }
    }

    /// `FOR VALUES FROM ('...') TO ('...')`.
    pub fn bounds_sql(&self) -> String {
        format!(
            "FOR VALUES FROM ({}) TO ({})",
            literal(self.start),
            literal(self.end)
        )
    }

    /// Whether `[lo, hi)` (seconds since the epoch, ±infinity allowed)
    /// shares any instant with this period.
    pub fn overlaps(&self, lo: f64, hi: f64) -> bool {
        let (start, end) = (epoch(self.start), epoch(self.end));
        lo < end && start < hi
    }
}

/// Seconds since the Unix epoch (what the catalog query returns for bounds).
pub fn epoch(t: OffsetDateTime) -> f64 {
    t.unix_timestamp() as f64 + f64::from(t.nanosecond()) / 1e9
}

/// A UTC timestamp as a SQL `timestamptz` literal: `'2026-11-26 00:00:00+00'`.
/// Digits and separators only, so it is safe in DDL (which takes no parameters).
pub fn literal(t: OffsetDateTime) -> String {
    let t = t.to_offset(UtcOffset::UTC);
    format!(
        "'{:04}-{:02}-{:02} {:02}:{:02}:{:02}+00'",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn periods_are_aligned_in_utc() {
        use Partitioning::{Daily, Hourly, Monthly, Weekly};
        let t = datetime!(2026-11-26 11:45:27.5 +02:00); // 09:45 UTC, a Thursday
        #[rustfmt::skip]
        let cases = [
            // Partitioning, instant, expected start and end, partition suffix.
            (Hourly, t, datetime!(2026-11-26 9:00 UTC), datetime!(2026-11-26 10:00 UTC), "p2026112609"),
            (Daily, t, datetime!(2026-11-26 0:00 UTC), datetime!(2026-11-27 0:00 UTC), "p20261126"),
            (Weekly, t, datetime!(2026-11-23 0:00 UTC), datetime!(2026-11-30 0:00 UTC), "p20261123"),
            (Monthly, datetime!(2026-12-31 23:59:59 UTC), datetime!(2026-12-01 0:00 UTC), datetime!(2027-01-01 0:00 UTC), "p202612"),
        ];
        for (partitioning, at, start, end, suffix) in cases {
            let p = Period::at(partitioning, at).unwrap();
            assert_eq!((p.start, p.end), (start, end), "{partitioning}");
            assert_eq!(p.suffix(partitioning), suffix);
        }
        assert_eq!(Period::at(Partitioning::None, t), None);
        let d = Period::at(Daily, t).unwrap();
        assert_eq!(
            d.bounds_sql(),
            "FOR VALUES FROM ('2026-11-26 00:00:00+00') TO ('2026-11-27 00:00:00+00')"
        );
    }

    #[test]
    fn ahead_is_the_current_period_and_premake_more() {
        let t = datetime!(2026-02-27 12:00 UTC);
        let v = Period::ahead(Partitioning::Daily, t, 3);
        let starts: Vec<String> = v.iter().map(|p| p.suffix(Partitioning::Daily)).collect();
        assert_eq!(starts, ["p20260227", "p20260228", "p20260301", "p20260302"]);
        assert_eq!(Period::ahead(Partitioning::Monthly, t, 0).len(), 1);
        assert!(Period::ahead(Partitioning::None, t, 3).is_empty());
        for w in v.windows(2) {
            assert_eq!(w[0].end, w[1].start);
        }
    }

    #[test]
    fn overlap_uses_half_open_ranges() {
        let d = Period::at(Partitioning::Daily, datetime!(2026-11-26 1:00 UTC)).unwrap();
        let (s, e) = (epoch(d.start), epoch(d.end));
        assert!(d.overlaps(s, e));
        assert!(!d.overlaps(e, e + 86400.0));
        assert!(!d.overlaps(s - 86400.0, s));
        assert!(d.overlaps(f64::NEG_INFINITY, s + 1.0));
        assert!(d.overlaps(s + 3600.0, f64::INFINITY));
    }
}
