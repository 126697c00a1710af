//! Translations: `translation_dir` and `language` select a TOML file
//! `{translation_dir}/{language}.toml` whose keys are event ids (or the
//! values of `_msg_key` fields) and whose values are message templates, in
//! the template language of `_replace_msg`:
//!
//! ```toml
//! user-login = "Benutzer {username} hat sich angemeldet"
//! order-shipped = "Bestellung {order_id} ist unterwegs"
//! ```
//!
//! Console, file (both formats) and journal show the translated sentence
//! instead of `_replace_msg` or the `key=value` fields; PostgreSQL keeps
//! the event id and data as they are. A missing or unreadable file, a value
//! that is not a string and a template with a syntax error are warnings at
//! start, naming the file and line; such a template is not used.

use super::template::check_template;
use crate::event::Event;
use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// The language used when `translation_dir` is set and `language` is not
/// (Python stogger's default).
pub(crate) const DEFAULT_LANGUAGE: &str = "en";

/// The templates of one translation file.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Translations {
    file: PathBuf,
    templates: HashMap<String, String>,
}

impl Translations {
    /// Reads `{dir}/{language}.toml`. Returns the templates that are usable
    /// (`None` when the file cannot be read or parsed) and a warning for
    /// each problem, naming the file and line.
    pub(crate) fn load(dir: &Path, language: &str) -> (Option<Translations>, Vec<String>) {
        let file = dir.join(format!("{language}.toml"));
        let text = match std::fs::read_to_string(&file) {
            Ok(text) => text,
            Err(e) => {
                return (
                    None,
                    vec![format!(
                        "cannot read the translation file {}: {e}; messages are not translated",
                        file.display()
                    )],
                )
            }
        };
        let (templates, warnings) = Translations::parse(&text, &file);
        (
            templates.map(|templates| Translations { file, templates }),
            warnings,
        )
    }

    fn parse(text: &str, file: &Path) -> (Option<HashMap<String, String>>, Vec<String>) {
        let at = |offset: usize| {
            let line = text.as_bytes()[..offset.min(text.len())]
                .iter()
                .filter(|&&b| b == b'\n')
                .count()
                + 1;
            format!("{}:{line}", file.display())
        };
        let doc = match toml::de::DeTable::parse(text) {
            Ok(doc) => doc,
            Err(e) => {
                let place = e
                    .span()
                    .map_or_else(|| file.display().to_string(), |s| at(s.start));
                return (
                    None,
                    vec![format!(
                        "TOML syntax error in the translation file {place}: {}; messages are not translated",
                        e.message().trim_end()
                    )],
                );
            }
        };
        let mut templates = HashMap::new();
        let mut warnings = Vec::new();
        // In file order, so the warnings are too.
        let mut entries: Vec<_> = doc.get_ref().iter().collect();
        entries.sort_by_key(|(key, _)| key.span().start);
        for (key, value) in entries {
            let name = key.get_ref().to_string();
            let place = at(key.span().start);
            let Some(template) = value.get_ref().as_str() else {
                warnings.push(format!(
                    "translation `{name}` at {place} is not a string; ignored"
                ));
                continue;
            };
            match check_template(template) {
                Ok(()) => {
                    templates.insert(name, template.to_string());
                }
                Err(why) => warnings.push(format!(
                    "translation `{name}` at {place} is not a valid template: {why}; ignored"
                )),
            }
        }
        (Some(templates), warnings)
    }

    /// The template for `event`: by its `_msg_key` field when it has one,
    /// else by its event id.
    pub(crate) fn lookup(&self, event: &Event) -> Option<&str> {
        let key = event
            .fields
            .iter()
            .rev()
            .find(|(k, _)| k == "_msg_key")
            .and_then(|(_, v)| v.as_str())
            .unwrap_or(&event.name);
        self.templates.get(key).map(String::as_str)
    }
}

/// The message template of `event`: its translation when there is one,
/// else its `_replace_msg`.
pub(crate) fn template_of<'a>(
    event: &'a Event,
    translations: Option<&'a Translations>,
) -> Option<&'a str> {
    translations
        .and_then(|t| t.lookup(event))
        .or_else(|| event.template())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::Level;

    #[test]
    fn problems_name_the_file_and_line() {
        let text = "user-login = \"Hallo {username}\"\n\nbad = \"{unclosed\"\nnum = 5\nempty = \"x {} y\"\nok = \"{n:,}\"\n";
        let (t, warnings) = Translations::parse(text, Path::new("/t/de.toml"));
        let t = t.expect("parsed");
        assert_eq!(t.len(), 2, "{t:?}");
        assert_eq!(
            warnings,
            [
                "translation `bad` at /t/de.toml:3 is not a valid template: unclosed `{` at byte 0; ignored",
                "translation `num` at /t/de.toml:4 is not a string; ignored",
                "translation `empty` at /t/de.toml:5 is not a valid template: a field without a name (`{}`): templates take names only; ignored",
            ]
        );
        let (none, warnings) = Translations::parse("a = \"x\"\nb = \n", Path::new("/t/de.toml"));
        assert!(none.is_none());
        assert!(
            warnings[0].starts_with("TOML syntax error in the translation file /t/de.toml:2"),
            "{warnings:?}"
        );
    }

    #[test]
    fn msg_key_wins_over_the_event_id() {
        let (t, _) = Translations::parse("a = \"by id\"\nb = \"by key\"\n", Path::new("x.toml"));
        let t = Translations {
            file: PathBuf::from("x.toml"),
            templates: t.expect("parsed"),
        };
        let e = Event::new(Level::Info, "a");
        assert_eq!(t.lookup(&e), Some("by id"));
        assert_eq!(t.lookup(&e.clone().with("_msg_key", "b")), Some("by key"));
        let other = Event::new(Level::Info, "c").with("_replace_msg", "fallback");
        assert_eq!(t.lookup(&other), None);
        assert_eq!(template_of(&other, Some(&t)), Some("fallback"));
    }
}
