//! The fields of an event a renderer shows: one definition for the text
//! line, the JSON line, the journal entry and the PostgreSQL row.
//!
//! An event's data is the fields of its spans (outermost span first)
//! followed by its own fields. A key given more than once is shown once,
//! with its last value: the event's own field wins over a span's, an inner
//! span's over an outer one's. Which keys are data, and where a key given
//! twice stands, is the renderer's [`Rule`]. After the data a renderer adds
//! system keys of its own (`pid` and `code_*`; `scope` and `func`), each
//! unless a data key took its name: [`VisibleFields::taken`] says which.
//!
//! The per-callsite caches (`render/callsite.rs`) store what this iterator
//! gives for a callsite's field names, so both paths show the same.

use crate::event::{Event, FieldName, Value};
use std::collections::HashMap;

/// Which keys are data for a renderer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Keys {
    /// Every key but those starting with `_` (JSON lines, the journal).
    Visible,
    /// [`Keys::Visible`] without the keys shown as output sections after
    /// the line (`stdout`, `stack`, ...): the `key=value` body.
    Body,
    /// Every key but `_critical`, which the `level` column already says:
    /// the row's `data` keeps `_replace_msg` and the other `_`-keys.
    Stored,
}

/// Where a key given more than once stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Place {
    /// Where it first appears (a span field overridden by the event keeps
    /// the span field's place): JSON lines and the journal.
    First,
    /// Where it last appears: the row's `data` (its order is lost in JSONB
    /// anyway) and the text body (sorted afterwards).
    Last,
}

/// How a renderer reads an event's data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Rule {
    pub(crate) keys: Keys,
    pub(crate) place: Place,
}

/// JSON lines and journal fields.
pub(crate) const VISIBLE: Rule = Rule {
    keys: Keys::Visible,
    place: Place::First,
};

/// The `key=value` body of console and file lines (sorted by the caller).
pub(crate) const BODY: Rule = Rule {
    keys: Keys::Body,
    place: Place::Last,
};

/// The `data` column.
pub(crate) const STORED: Rule = Rule {
    keys: Keys::Stored,
    place: Place::Last,
};

/// Keys shown as sections after the line, never in the `key=value` body.
pub(crate) fn is_section_key(key: &str) -> bool {
    matches!(
        key,
        "cmd_output_line" | "stdout" | "stderr" | "stack" | "exception_traceback"
    )
}

impl Keys {
    fn admits(self, key: &str) -> bool {
        match self {
            Keys::Visible => !key.starts_with('_'),
            Keys::Body => !key.starts_with('_') && !is_section_key(key),
            Keys::Stored => key != "_critical",
        }
    }
}

/// The names renderers add after the data, unless a data key has the name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SystemKey {
    Pid,
    CodeFile,
    CodeLineno,
    CodeModule,
    Scope,
    Func,
}

impl SystemKey {
    fn of(key: &str) -> Option<SystemKey> {
        Some(match key {
            "pid" => SystemKey::Pid,
            "code_file" => SystemKey::CodeFile,
            "code_lineno" => SystemKey::CodeLineno,
            "code_module" => SystemKey::CodeModule,
            "scope" => SystemKey::Scope,
            "func" => SystemKey::Func,
            _ => return None,
        })
    }
}

/// The system keys some data key has taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct Taken(u8);

impl Taken {
    /// Whether a data key is named `key`.
    pub(crate) fn contains(self, key: SystemKey) -> bool {
        self.0 & (1 << key as u8) != 0
    }

    /// Whether none of `pid` and `code_*` is taken (the row's code tail
    /// can then come from its per-callsite cache).
    pub(crate) fn code_tail_free(self) -> bool {
        self.0 & 0b1111 == 0
    }

    fn add(&mut self, key: SystemKey) {
        self.0 |= 1 << key as u8;
    }
}

/// Above this many entries (span fields and own fields together), a key
/// given twice is found with a map instead of a scan per entry.
const SMALL: usize = 16;

/// One data field: its key and value, and where the value is among the
/// event's entries (span fields first, then own fields).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Visible<'e> {
    pub(crate) index: usize,
    pub(crate) key: &'e str,
    pub(crate) value: &'e Value,
}

/// The data fields of an event under a [`Rule`], each key once.
pub(crate) struct VisibleFields<'e> {
    context: &'e [(FieldName, Value)],
    fields: &'e [(FieldName, Value)],
    rule: Rule,
    next: usize,
    /// With more than [`SMALL`] entries: each key's first and last index.
    spans: Option<HashMap<&'e str, (usize, usize)>>,
    taken: Taken,
}

impl Event {
    /// The data fields a renderer following `rule` shows.
    pub(crate) fn visible(&self, rule: Rule) -> VisibleFields<'_> {
        VisibleFields::new(&self.context, &self.fields, rule)
    }
}

impl<'e> VisibleFields<'e> {
    fn new(
        context: &'e [(FieldName, Value)],
        fields: &'e [(FieldName, Value)],
        rule: Rule,
    ) -> Self {
        let total = context.len() + fields.len();
        let spans = (total > SMALL).then(|| {
            let mut map: HashMap<&str, (usize, usize)> = HashMap::with_capacity(total);
            for (i, (k, _)) in context.iter().chain(fields).enumerate() {
                map.entry(k.as_ref())
                    .and_modify(|span| span.1 = i)
                    .or_insert((i, i));
            }
            map
        });
        VisibleFields {
            context,
            fields,
            rule,
            next: 0,
            spans,
            taken: Taken::default(),
        }
    }

    /// The system keys a data key has taken; complete once the iterator
    /// is exhausted.
    pub(crate) fn taken(&self) -> Taken {
        self.taken
    }

    fn total(&self) -> usize {
        self.context.len() + self.fields.len()
    }

    fn entry(&self, i: usize) -> &'e (FieldName, Value) {
        match i.checked_sub(self.context.len()) {
            Some(own) => &self.fields[own],
            None => &self.context[i],
        }
    }

    /// Where the key of entry `i` stands under the rule, and where its
    /// last value is: `None` when it stands at another entry.
    fn placed(&self, i: usize, key: &str) -> Option<usize> {
        if let Some(map) = &self.spans {
            let (first, last) = map.get(key).copied().unwrap_or((i, i));
            let here = match self.rule.place {
                Place::First => first == i,
                Place::Last => last == i,
            };
            return here.then_some(last);
        }
        let same = |j: usize| self.entry(j).0 == key;
        match self.rule.place {
            Place::First if (0..i).any(same) => None,
            Place::First => Some((i + 1..self.total()).rev().find(|&j| same(j)).unwrap_or(i)),
            Place::Last if (i + 1..self.total()).any(same) => None,
            Place::Last => Some(i),
        }
    }
}

impl<'e> Iterator for VisibleFields<'e> {
    type Item = Visible<'e>;

    fn next(&mut self) -> Option<Visible<'e>> {
        while self.next < self.total() {
            let i = self.next;
            self.next += 1;
            let (key, _) = self.entry(i);
            if !self.rule.keys.admits(key) {
                continue;
            }
            if let Some(system) = SystemKey::of(key) {
                self.taken.add(system);
            }
            if let Some(last) = self.placed(i, key) {
                let (key, value) = self.entry(last);
                return Some(Visible {
                    index: last,
                    key: key.as_ref(),
                    value,
                });
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::Level;

    fn keys_and_values(e: &Event, rule: Rule) -> Vec<(String, String)> {
        e.visible(rule)
            .map(|v| (v.key.to_string(), v.value.to_string()))
            .collect()
    }

    fn event() -> Event {
        let mut e = Event::new(Level::Info, "e")
            .with("b", "own")
            .with("_replace_msg", "m")
            .with("_critical", true)
            .with("stdout", "out")
            .with("pid", "mine");
        e.context = vec![
            ("a".into(), Value::from("outer")),
            ("b".into(), Value::from("span")),
            ("a".into(), Value::from("inner")),
        ];
        e
    }

    #[test]
    fn the_last_value_wins_in_the_place_the_rule_says() {
        let pairs = |v: &[(&str, &str)]| -> Vec<(String, String)> {
            v.iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect()
        };
        assert_eq!(
            keys_and_values(&event(), VISIBLE),
            pairs(&[
                ("a", "inner"),
                ("b", "own"),
                ("stdout", "out"),
                ("pid", "mine")
            ])
        );
        assert_eq!(
            keys_and_values(&event(), BODY),
            pairs(&[("a", "inner"), ("b", "own"), ("pid", "mine")])
        );
        assert_eq!(
            keys_and_values(&event(), STORED),
            pairs(&[
                ("a", "inner"),
                ("b", "own"),
                ("_replace_msg", "m"),
                ("stdout", "out"),
                ("pid", "mine")
            ])
        );
    }

    #[test]
    fn many_entries_give_what_few_give() {
        for rule in [VISIBLE, BODY, STORED] {
            let mut many = event();
            let padding: Vec<(FieldName, Value)> = (0..SMALL)
                .map(|i| (format!("p{i}").into(), Value::from(i)))
                .collect();
            many.context.splice(0..0, padding.clone());
            let mut want: Vec<(String, String)> = padding
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect();
            want.extend(keys_and_values(&event(), rule));
            assert_eq!(keys_and_values(&many, rule), want, "{rule:?}");
        }
    }

    #[test]
    fn taken_system_keys_are_known_after_the_data() {
        let stored = event();
        let mut fields = stored.visible(STORED);
        assert!(!fields.taken().contains(SystemKey::Pid));
        fields.by_ref().for_each(drop);
        let taken = fields.taken();
        assert!(taken.contains(SystemKey::Pid));
        assert!(!taken.contains(SystemKey::CodeFile));
        assert!(!taken.code_tail_free());
        let scoped = Event::new(Level::Info, "e").with("scope", "mine");
        let mut body = scoped.visible(BODY);
        body.by_ref().for_each(drop);
        assert!(body.taken().contains(SystemKey::Scope));
        assert!(body.taken().code_tail_free());
    }
}
