//! Which directives each output uses, from the configuration: the global
//! filter (`log_filter`, or `RUST_LOG`), each output's own
//! (`<output>_filter`), and the level shorthands (`verbose`,
//! `format.min_level`, `<output>_min_level`).
//!
//! For an output, in order:
//! 1. `<output>_filter` when set; a target no directive names gets the
//!    output's `<output>_min_level`, else the global filter's default;
//! 2. else `<output>_min_level` when set: that level for every target;
//! 3. else the global filter.
//!
//! The global filter's default (for targets none of its directives names)
//! is its bare level when it has one, else the shorthand: `format.min_level`,
//! or debug with `verbose` (if that is more verbose).

use super::directives::{self, DirectiveError, Directives, Matcher, Threshold};
use crate::config::{Config, Loaded, Origin};
use crate::event::Level;
use crate::target::Output;

/// The keys of an output's own filter and level, in [`Output::ALL`] order.
const OUTPUT_KEYS: [(&str, &str); 4] = [
    ("console_filter", "console_min_level"),
    ("file_filter", "file_min_level"),
    ("journal_filter", "journal_min_level"),
    ("postgres_filter", "postgres_min_level"),
];

/// The key of `output`'s own filter (`console_filter`).
pub(crate) fn filter_key(output: Output) -> &'static str {
    OUTPUT_KEYS[output.index()].0
}

/// What the filters are made of.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct FilterSpec {
    /// `log_filter` (or `RUST_LOG`); empty when unset.
    global: Directives,
    /// `verbose` / `format.min_level`.
    shorthand: Level,
    /// Each output's own filter, when set.
    own: [Option<Directives>; 4],
    /// Each output's `<output>_min_level`, when set.
    min_level: [Option<Level>; 4],
}

impl Default for FilterSpec {
    fn default() -> Self {
        FilterSpec::from_levels(&Config::default())
    }
}

/// A filter text of the configuration: `None` when unset or empty.
fn text(value: &Option<String>) -> Option<&str> {
    value.as_deref().filter(|s| !s.trim().is_empty())
}

impl FilterSpec {
    /// The filters `cfg` asks for. The texts were checked when the
    /// configuration was loaded; an error names the key of a bad one.
    pub(crate) fn from_config(cfg: &Config) -> Result<FilterSpec, (&'static str, DirectiveError)> {
        let mut spec = FilterSpec::from_levels(cfg);
        if let Some(global) = text(&cfg.log_filter) {
            spec.global = directives::parse(global).map_err(|e| ("log_filter", e))?;
        }
        for output in Output::ALL {
            if let Some(own) = text(own_filter(cfg, output)) {
                let parsed = directives::parse(own).map_err(|e| (filter_key(output), e))?;
                spec.own[output.index()] = Some(parsed);
            }
        }
        Ok(spec)
    }

    /// The shorthands of `cfg` alone, without any directive text.
    fn from_levels(cfg: &Config) -> FilterSpec {
        FilterSpec {
            global: Directives::default(),
            shorthand: cfg.effective_min_level(),
            own: Default::default(),
            min_level: [
                cfg.console_min_level,
                cfg.file_min_level,
                cfg.journal_min_level,
                cfg.postgres_min_level,
            ],
        }
    }

    /// Replaces the global filter.
    pub(crate) fn set_global(&mut self, global: Directives) {
        self.global = global;
    }

    /// Replaces `output`'s own filter (`None`: it follows the global one again).
    pub(crate) fn set_own(&mut self, output: Output, own: Option<Directives>) {
        self.own[output.index()] = own;
    }

    /// The global filter's default level.
    fn global_default(&self) -> Threshold {
        self.global
            .default_level()
            .unwrap_or(Threshold::at(self.shorthand))
    }

    /// The matcher `output` uses.
    pub(crate) fn matcher(&self, output: Output) -> Matcher {
        let i = output.index();
        match (&self.own[i], self.min_level[i]) {
            (Some(own), level) => own.matcher(level.map_or(self.global_default(), Threshold::at)),
            (None, Some(level)) => Matcher::level(Threshold::at(level)),
            (None, None) => self.global.matcher(self.global_default()),
        }
    }
}

fn own_filter(cfg: &Config, output: Output) -> &Option<String> {
    match output {
        Output::Console => &cfg.console_filter,
        Output::File => &cfg.file_filter,
        Output::Journal => &cfg.journal_filter,
        Output::Postgres => &cfg.postgres_filter,
    }
}

/// The filter one output uses, and the configuration keys it comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FilterInForce {
    /// The output.
    pub output: Output,
    /// The directives in force, normalized, the default level first
    /// (`info,hyper=warn`): also what a target no directive names gets.
    pub directives: String,
    /// The keys that make it with where each value came from: first the
    /// key with the directives, then (when that has no bare level) the key
    /// giving the default. `log_filter` taken from `RUST_LOG` has the
    /// origin `env RUST_LOG`.
    pub sources: Vec<(&'static str, Origin)>,
}

impl Loaded {
    /// The filter each output uses and where it came from (what
    /// `stogger doctor` shows). An output whose filter text is invalid
    /// cannot occur: loading fails on it.
    pub fn filters(&self) -> Vec<FilterInForce> {
        let cfg = &self.config;
        let spec = FilterSpec::from_config(cfg).unwrap_or_else(|_| FilterSpec::from_levels(cfg));
        let origin = |key: &'static str| {
            (
                key,
                self.origins.get(key).cloned().unwrap_or(Origin::Default),
            )
        };
        let shorthand = if cfg.verbose && cfg.format.min_level > Level::Debug {
            origin("verbose")
        } else {
            origin("format.min_level")
        };
        let global = |sources: &mut Vec<(&'static str, Origin)>| {
            if !spec.global.is_empty() {
                sources.push(origin("log_filter"));
            }
            if spec.global.default_level().is_none() {
                sources.push(shorthand.clone());
            }
        };
        Output::ALL
            .into_iter()
            .map(|output| {
                let (filter_key, level_key) = OUTPUT_KEYS[output.index()];
                let i = output.index();
                let mut sources = Vec::new();
                let directives = match (&spec.own[i], spec.min_level[i]) {
                    (Some(own), level) => {
                        sources.push(origin(filter_key));
                        if own.default_level().is_none() {
                            match level {
                                Some(_) => sources.push(origin(level_key)),
                                None if spec.global.default_level().is_some() => {
                                    sources.push(origin("log_filter"))
                                }
                                None => sources.push(shorthand.clone()),
                            }
                        }
                        let default = level.map_or(spec.global_default(), Threshold::at);
                        with_default(own, default)
                    }
                    (None, Some(level)) => {
                        sources.push(origin(level_key));
                        with_default(&Directives::default(), Threshold::at(level))
                    }
                    (None, None) => {
                        global(&mut sources);
                        with_default(&spec.global, spec.global_default())
                    }
                };
                FilterInForce {
                    output,
                    directives,
                    sources,
                }
            })
            .collect()
    }
}

/// `directives` as text with `default` as its bare level when it has none.
fn with_default(directives: &Directives, default: Threshold) -> String {
    let text = directives.to_string();
    match (directives.default_level(), text.is_empty()) {
        (Some(_), _) => text,
        (None, true) => default.word().to_string(),
        (None, false) => format!("{},{text}", default.word()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(f: impl FnOnce(&mut Config)) -> Config {
        let mut c = Config::default();
        f(&mut c);
        c
    }

    fn admits(spec: &FilterSpec, output: Output, target: &str, level: Level) -> bool {
        spec.matcher(output).admits(target, level)
    }

    #[test]
    fn the_shorthands_are_the_default_of_a_filter_without_a_bare_level() {
        let spec = FilterSpec::from_config(&cfg(|c| {
            c.log_filter = Some("hyper=warn".into());
            c.verbose = true;
        }))
        .unwrap();
        assert!(admits(&spec, Output::File, "mine", Level::Debug));
        assert!(!admits(&spec, Output::File, "hyper", Level::Info));
        let spec = FilterSpec::from_config(&cfg(|c| {
            c.log_filter = Some("warn,hyper=error".into());
            c.verbose = true;
        }))
        .unwrap();
        assert!(
            !admits(&spec, Output::File, "mine", Level::Info),
            "the bare level wins"
        );
    }

    #[test]
    fn an_outputs_own_keys_come_before_the_global_filter() {
        let spec = FilterSpec::from_config(&cfg(|c| {
            c.log_filter = Some("info,my::db=debug".into());
            c.console_min_level = Some(Level::Warning);
            c.postgres_filter = Some("my::db=trace".into());
            c.postgres_min_level = Some(Level::Error);
            c.file_filter = Some("hyper=off".into());
        }))
        .unwrap();
        assert!(!admits(&spec, Output::Console, "my::db", Level::Info));
        assert!(admits(&spec, Output::Console, "x", Level::Warning));
        assert!(admits(&spec, Output::Postgres, "my::db", Level::Trace));
        assert!(!admits(&spec, Output::Postgres, "x", Level::Warning));
        assert!(
            admits(&spec, Output::File, "x", Level::Info),
            "the global default"
        );
        assert!(!admits(&spec, Output::File, "hyper", Level::Critical));
        assert!(admits(&spec, Output::Journal, "my::db", Level::Debug));
    }

    #[test]
    fn filters_in_force_name_their_keys() {
        let mut loaded = crate::config::load_from_vars(
            std::path::Path::new("/nonexistent-stogger-dir"),
            [
                ("RUST_LOG", "hyper=warn"),
                ("STOGGER_CONSOLE_MIN_LEVEL", "error"),
                ("STOGGER_FILE_FILTER", "debug"),
            ],
            &[],
        )
        .unwrap();
        let f = loaded.filters();
        assert_eq!(f[0].directives, "error");
        assert_eq!(
            f[0].sources,
            [(
                "console_min_level",
                Origin::Env("STOGGER_CONSOLE_MIN_LEVEL".into())
            )]
        );
        assert_eq!(f[1].directives, "debug");
        assert_eq!(f[2].directives, "info,hyper=warn");
        assert_eq!(
            f[2].sources,
            [
                ("log_filter", Origin::Env("RUST_LOG".into())),
                ("format.min_level", Origin::Default)
            ]
        );
        loaded.config.log_filter = None;
        assert_eq!(loaded.filters()[3].directives, "info");
    }
}
