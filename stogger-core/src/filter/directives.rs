//! Filter directives: the `RUST_LOG` syntax (`info,hyper=warn,my_service::db=debug`),
//! parsed one directive at a time by tracing-subscriber's own parser
//! ([`Targets`]), and the [`Matcher`] that answers "does an event of this
//! target and level pass?".
//!
//! Only `target=level` and bare `level` / `target` directives exist here:
//! the span and field directives of `EnvFilter` (`[span{field=value}]=level`)
//! are refused with a message saying so (see docs/decisions.md for why).

use crate::event::Level;
use std::fmt;
use tracing_subscriber::filter::{LevelFilter, Targets};

/// The syntax, as configuration errors state it.
pub(crate) const SYNTAX: &str =
    "comma-separated directives as in RUST_LOG: `level` (the default for \
     every target) or `target=level` (targets matched by prefix, the longest wins), e.g. \
     \"info,hyper=warn,my_service::db=debug\"; levels: trace, debug, info, warn (or warning), \
     error, critical, off; span and field directives (`[span{field=value}]`) are not supported";

/// The least severe level a filter lets through, or nothing at all.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Threshold(u8);

impl Threshold {
    /// Lets nothing through.
    pub(crate) const OFF: Threshold = Threshold(Level::ALL.len() as u8);

    /// Lets `level` and everything more severe through.
    pub(crate) const fn at(level: Level) -> Threshold {
        Threshold(level as u8)
    }

    /// Whether an event at `level` passes.
    #[inline]
    pub(crate) fn admits(self, level: Level) -> bool {
        level as u8 >= self.0
    }

    /// The level, `None` for [`Threshold::OFF`].
    pub(crate) fn level(self) -> Option<Level> {
        Level::ALL.get(usize::from(self.0)).copied()
    }

    /// The most verbose tracing level this threshold lets through (a
    /// `critical` threshold still needs tracing's `ERROR`: an event is
    /// critical by its `_critical` field).
    pub(crate) fn as_level_filter(self) -> LevelFilter {
        match self.level() {
            None => LevelFilter::OFF,
            Some(Level::Trace) => LevelFilter::TRACE,
            Some(Level::Debug) => LevelFilter::DEBUG,
            Some(Level::Info) => LevelFilter::INFO,
            Some(Level::Warning) => LevelFilter::WARN,
            Some(Level::Error | Level::Critical) => LevelFilter::ERROR,
        }
    }

    /// The directive spelling (`warn`, not `warning`).
    pub(crate) fn word(self) -> &'static str {
        match self.level() {
            None => "off",
            Some(Level::Warning) => "warn",
            Some(level) => level.as_str(),
        }
    }
}

/// A directive that cannot be used, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct DirectiveError {
    /// The directive as written (trimmed).
    pub(crate) directive: String,
    /// What is wrong with it.
    pub(crate) reason: String,
}

/// A parsed directive list: the `target=level` directives and the bare level.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Directives {
    /// Most specific (longest target) first; a later directive for the same
    /// target replaces an earlier one.
    targets: Vec<(String, Threshold)>,
    /// The bare `level`, when there is one.
    default: Option<Threshold>,
}

impl Directives {
    /// The bare level of the text, if it had one.
    pub(crate) fn default_level(&self) -> Option<Threshold> {
        self.default
    }

    /// Whether the text held no directive at all.
    pub(crate) fn is_empty(&self) -> bool {
        self.targets.is_empty() && self.default.is_none()
    }

    /// The matcher, with `default` for targets no directive names when the
    /// text has no bare level.
    pub(crate) fn matcher(&self, default: Threshold) -> Matcher {
        Matcher {
            targets: self
                .targets
                .iter()
                .map(|(t, level)| (t.as_str().into(), *level))
                .collect(),
            default: self.default.unwrap_or(default),
        }
    }
}

/// Parses a directive list. Empty directives (`info,,hyper=warn`, a
/// trailing comma) are skipped; blanks around a directive are ignored.
pub(crate) fn parse(text: &str) -> Result<Directives, DirectiveError> {
    let mut out = Directives::default();
    for token in text.split(',').map(str::trim).filter(|t| !t.is_empty()) {
        match directive(token)? {
            (None, level) => out.default = Some(level),
            (Some(target), level) => {
                out.targets.retain(|(t, _)| *t != target);
                out.targets.push((target, level));
            }
        }
    }
    // Longest target first: the first match is the most specific one.
    out.targets
        .sort_by_key(|(target, _)| std::cmp::Reverse(target.len()));
    Ok(out)
}

/// One directive: `(None, level)` for a bare level, `(Some(target), level)`
/// otherwise (a bare target means every level of it, as in `RUST_LOG`).
fn directive(token: &str) -> Result<(Option<String>, Threshold), DirectiveError> {
    let bad = |reason: String| DirectiveError {
        directive: token.to_string(),
        reason,
    };
    if token.contains(['[', ']', '{', '}']) {
        return Err(bad(
            "span and field directives are not supported: stogger filters \
                        by target and level only"
                .to_string(),
        ));
    }
    let (target, word) = match token.split_once('=') {
        Some((target, word)) => (Some(target.trim()), word.trim()),
        None => (None, token),
    };
    if target == Some("") {
        return Err(bad("a target is missing before `=`".to_string()));
    }
    // stogger's own level words, which tracing's parser does not know.
    let critical = word.eq_ignore_ascii_case("critical");
    let word = if critical {
        "error"
    } else if word.eq_ignore_ascii_case("warning") {
        "warn"
    } else {
        word
    };
    let text = match target {
        Some(target) => format!("{target}={word}"),
        None => word.to_string(),
    };
    let parsed: Targets = text.parse().map_err(|e| bad(format!("{e}")))?;
    let threshold = |filter: LevelFilter| match filter.into_level() {
        None => Threshold::OFF,
        Some(_) if critical => Threshold::at(Level::Critical),
        Some(level) => Threshold::at(Level::from_tracing(&level)),
    };
    if let Some(level) = parsed.default_level() {
        return Ok((None, threshold(level)));
    }
    match parsed.iter().next() {
        Some((target, level)) => Ok((Some(target.to_string()), threshold(level))),
        None => Err(bad("not a directive".to_string())),
    }
}

impl fmt::Display for Directives {
    /// The normalized text: the bare level first, then the targets.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut parts = Vec::with_capacity(self.targets.len() + 1);
        if let Some(level) = self.default {
            parts.push(level.word().to_string());
        }
        let mut targets = self.targets.clone();
        targets.sort();
        for (target, level) in targets {
            parts.push(format!("{target}={}", level.word()));
        }
        f.write_str(&parts.join(","))
    }
}

/// Answers for one filter: the threshold of a target is that of the longest
/// directive target it starts with, else the default.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Matcher {
    targets: Box<[(Box<str>, Threshold)]>,
    default: Threshold,
}

impl Matcher {
    /// A matcher without target directives.
    pub(crate) fn level(threshold: Threshold) -> Matcher {
        Matcher {
            targets: Box::new([]),
            default: threshold,
        }
    }

    /// The threshold for events of `target`.
    #[inline]
    pub(crate) fn threshold(&self, target: &str) -> Threshold {
        for (prefix, threshold) in self.targets.iter() {
            if target.starts_with(&**prefix) {
                return *threshold;
            }
        }
        self.default
    }

    /// Whether an event of `target` at `level` passes.
    #[inline]
    pub(crate) fn admits(&self, target: &str, level: Level) -> bool {
        self.threshold(target).admits(level)
    }

    /// The most verbose threshold anywhere in the filter.
    pub(crate) fn most_verbose(&self) -> Threshold {
        self.targets
            .iter()
            .map(|(_, t)| *t)
            .fold(self.default, Threshold::min)
    }

    /// A matcher that passes what any of `matchers` passes. Every target
    /// of every matcher becomes a target of the union with the most verbose
    /// threshold any matcher gives it: for an event target, the longest
    /// union target it starts with is at least as long as each matcher's
    /// own longest match, which is therefore that matcher's answer for the
    /// union target too.
    pub(crate) fn union(matchers: &[&Matcher]) -> Matcher {
        let mut targets: Vec<Box<str>> = matchers
            .iter()
            .flat_map(|m| m.targets.iter().map(|(t, _)| t.clone()))
            .collect();
        targets.sort_by(|a, b| b.len().cmp(&a.len()).then_with(|| a.cmp(b)));
        targets.dedup();
        let most_verbose = |pick: &dyn Fn(&Matcher) -> Threshold| {
            matchers
                .iter()
                .map(|m| pick(m))
                .min()
                .unwrap_or(Threshold::OFF)
        };
        Matcher {
            default: most_verbose(&|m| m.default),
            targets: targets
                .into_iter()
                .map(|t| {
                    let threshold = most_verbose(&|m| m.threshold(&t));
                    (t, threshold)
                })
                .collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn matcher(text: &str, default: Level) -> Matcher {
        parse(text).unwrap().matcher(Threshold::at(default))
    }

    /// The directives `text` as they are written back (normalised).
    fn written_back(text: &str) -> String {
        parse(text).unwrap().to_string()
    }

    #[test]
    fn the_longest_matching_target_wins() {
        let m = matcher(
            "info,hyper=warn,my_service::db=debug,my_service=error",
            Level::Info,
        );
        assert!(m.admits("my_service::db::pool", Level::Debug));
        assert!(!m.admits("my_service::db", Level::Trace));
        assert!(!m.admits("my_service::api", Level::Warning));
        assert!(m.admits("my_service::api", Level::Error));
        assert!(!m.admits("hyper::proto", Level::Info));
        assert!(m.admits("other", Level::Info));
        assert!(!m.admits("other", Level::Debug));
        assert_eq!(m.most_verbose(), Threshold::at(Level::Debug));
    }

    #[test]
    fn without_a_bare_level_the_given_default_applies() {
        let m = matcher("hyper=warn", Level::Debug);
        assert!(m.admits("mine", Level::Debug));
        assert!(!m.admits("hyper", Level::Info));
        let m = matcher("", Level::Warning);
        assert!(!m.admits("mine", Level::Info));
    }

    #[test]
    fn stogger_level_words_and_numbers_are_accepted() {
        let m = matcher(
            "warning,db=critical,net=trace,quiet=off,loud=5",
            Level::Info,
        );
        assert!(!m.admits("x", Level::Info) && m.admits("x", Level::Warning));
        assert!(!m.admits("db", Level::Error) && m.admits("db", Level::Critical));
        assert!(m.admits("net", Level::Trace));
        assert!(!m.admits("quiet", Level::Critical));
        assert!(m.admits("loud", Level::Trace));
        assert_eq!(written_back("WARN, Db = Critical"), "warn,Db=critical");
    }

    #[test]
    fn a_bare_target_means_every_level_and_later_directives_win() {
        let m = matcher("info,my_crate,my_crate=warn", Level::Info);
        assert!(!m.admits("my_crate", Level::Info));
        let m = matcher("info,my_crate", Level::Info);
        assert!(m.admits("my_crate::x", Level::Trace));
        assert_eq!(written_back(" info , , hyper=warn ,"), "info,hyper=warn");
    }

    #[test]
    fn bad_directives_are_named_with_the_reason() {
        for (text, directive, reason) in [
            ("info,hyper=loud", "hyper=loud", "level"),
            ("a=b=c", "a=b=c", "="),
            ("=info", "=info", "target is missing"),
            ("info,[request]=debug", "[request]=debug", "span and field"),
            (
                "my_crate[{user_id}]=trace",
                "my_crate[{user_id}]=trace",
                "span and field",
            ),
        ] {
            let err = parse(text).unwrap_err();
            assert_eq!(err.directive, directive, "{text}");
            assert!(err.reason.contains(reason), "{text}: {}", err.reason);
        }
    }

    #[test]
    fn a_union_passes_what_any_part_passes() {
        let parts = [
            matcher("warn,hyper=debug,my::db=trace", Level::Info),
            matcher("info,hyper=error,my=warn", Level::Info),
            Matcher::level(Threshold::OFF),
        ];
        let union = Matcher::union(&parts.iter().collect::<Vec<_>>());
        for target in [
            "x",
            "hyper",
            "hyper::h2",
            "my",
            "my::db",
            "my::dbx",
            "my::api",
            "m",
        ] {
            for level in Level::ALL {
                let any = parts.iter().any(|m| m.admits(target, level));
                assert_eq!(union.admits(target, level), any, "{target} {level}");
            }
        }
        assert_eq!(union.most_verbose(), Threshold::at(Level::Trace));
        assert_eq!(Matcher::union(&[]).most_verbose(), Threshold::OFF);
    }
}
