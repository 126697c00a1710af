//! Timestamps as text: ISO 8601 in UTC (the calendar date converted once
//! per second per thread) and the time since logging started.

use std::cell::Cell;
use std::fmt::Write as _;
use time::{OffsetDateTime, UtcOffset};

/// `2026-06-01T17:19:01[.123456][Z]`, in UTC. (A time whose UTC date
/// would be outside the years ±9999 is written in its own offset rather
/// than panicking.)
pub(crate) fn write_iso(out: &mut String, ts: OffsetDateTime, micros: bool, zulu: bool) {
    let ts = if ts.offset().is_utc() {
        ts
    } else {
        ts.checked_to_offset(UtcOffset::UTC).unwrap_or(ts)
    };
    if (0..=9999).contains(&ts.year()) {
        // `2026-06-01T17:19:01` is the same for a whole second: each thread
        // keeps the last one it wrote.
        thread_local! {
            static LAST_SECOND: Cell<(i64, [u8; 19])> = const { Cell::new((i64::MIN, [0; 19])) };
        }
        let second = ts.unix_timestamp();
        let cached = LAST_SECOND.try_with(|last| {
            let (s, text) = last.get();
            if s == second {
                text
            } else {
                let text = iso_second(ts);
                last.set((second, text));
                text
            }
        });
        push_ascii(out, &cached.unwrap_or_else(|_| iso_second(ts)));
        if micros {
            let mut frac = *b".000000";
            let mut n = ts.microsecond();
            for digit in frac[1..].iter_mut().rev() {
                *digit = b'0' + (n % 10) as u8;
                n /= 10;
            }
            push_ascii(out, &frac);
        }
    } else {
        let (year, month, day) = ts.to_calendar_date();
        let (hour, minute, second, micro) = ts.to_hms_micro();
        let _ = write!(
            out,
            "{year:04}-{:02}-{day:02}T{hour:02}:{minute:02}:{second:02}",
            u8::from(month)
        );
        if micros {
            let _ = write!(out, ".{micro:06}");
        }
    }
    if zulu {
        out.push('Z');
    }
}

/// `YYYY-MM-DDTHH:MM:SS` of a UTC time in the years 0..=9999.
fn iso_second(ts: OffsetDateTime) -> [u8; 19] {
    let (year, month, day) = ts.to_calendar_date();
    let (hour, minute, second) = ts.to_hms();
    let mut b = *b"0000-00-00T00:00:00";
    let mut put = |at: usize, width: usize, mut n: u32| {
        for i in (at..at + width).rev() {
            b[i] = b'0' + (n % 10) as u8;
            n /= 10;
        }
    };
    put(0, 4, year.unsigned_abs());
    put(5, 2, u32::from(u8::from(month)));
    put(8, 2, u32::from(day));
    put(11, 2, u32::from(hour));
    put(14, 2, u32::from(minute));
    put(17, 2, u32::from(second));
    b
}

/// Appends bytes known to be ASCII (digits, signs).
fn push_ascii(out: &mut String, bytes: &[u8]) {
    if let Ok(s) = std::str::from_utf8(bytes) {
        out.push_str(s);
    }
}

/// `+12.345s`: a sign, whole seconds, three digits of milliseconds
/// (truncated toward zero), `s`.
pub(crate) fn write_relative(out: &mut String, since_start: time::Duration) {
    let micros = since_start.whole_microseconds();
    let sign = if micros < 0 { '-' } else { '+' };
    let abs = micros.unsigned_abs();
    let _ = write!(
        out,
        "{sign}{}.{:03}s",
        abs / 1_000_000,
        (abs % 1_000_000) / 1_000
    );
}

#[cfg(test)]
mod tests {
    #[test]
    fn iso_timestamps_follow_every_second_and_offset() {
        use super::write_iso;
        use time::macros::datetime;
        use time::OffsetDateTime;
        let iso = |ts: OffsetDateTime, micros: bool, zulu: bool| {
            let mut out = String::new();
            write_iso(&mut out, ts, micros, zulu);
            out
        };
        let t = datetime!(2026-06-01 17:19:01.123456 UTC);
        assert_eq!(iso(t, true, true), "2026-06-01T17:19:01.123456Z");
        assert_eq!(
            iso(t.replace_microsecond(7).unwrap(), true, false),
            "2026-06-01T17:19:01.000007"
        );
        assert_eq!(
            iso(t + time::Duration::SECOND, false, true),
            "2026-06-01T17:19:02Z"
        );
        assert_eq!(iso(t, false, false), "2026-06-01T17:19:01");
        let elsewhere = datetime!(2026-06-01 19:19:01.5 +02:00);
        assert_eq!(iso(elsewhere, true, true), "2026-06-01T17:19:01.500000Z");
        let before = datetime!(-0005-01-02 03:04:05 UTC);
        assert_eq!(iso(before, false, true), "-005-01-02T03:04:05Z");
        assert_eq!(iso(t, true, true), "2026-06-01T17:19:01.123456Z");
    }
}
