//! What a cross-validation folder's models were trained with, pinned by value (issue 13).
//!
//! `cbrrel cv` refuses to mix folds trained under two recipes into one table, and `--models-from`
//! only reuses weights trained under this run's recipe. The first folders pinned the settings
//! *file* by its SHA-256: any edit to `pipeline/train.toml` — a comment, or a `[decode]`
//! default that changes no weight — made every finished fold unusable. A [`Recipe`] holds the
//! settings as resolved (file, `--set` overrides and flags applied), so two recipes are the same
//! when they train the same way, whatever file spelled them. A setting added to the code after
//! a folder was written is absent from its recipe; it matches when the current value is the
//! shipped default (pipeline/train.toml compiled in), which is what those folds trained with
//! (the code before the setting existed behaved as its default).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::infer::Settings;

/// The sections of the settings that shape the weights; `[decode]` is applied after training.
const TRAINING_SECTIONS: [&str; 2] = ["model", "train"];

/// A training recipe, resolved.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Recipe {
    /// Where the encoder came from, as given (`encoder`, `encoder_config`, `tokenizer`; absent
    /// ones are left out).
    pub sources: BTreeMap<String, String>,
    /// `model`, `train` and `decode`: the settings' sections as JSON.
    pub settings: BTreeMap<String, Value>,
}

/// Which part of two recipes must agree.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Part {
    /// Everything: the folds were scored the same way (resuming a folder).
    Whole,
    /// What the weights depend on (reusing another folder's models under other decoding).
    Training,
}

impl Recipe {
    /// The recipe of `settings` (after overrides and flags) with the encoder's sources.
    pub fn of(sources: &[(&str, Option<String>)], settings: &Settings) -> Recipe {
        let Value::Object(map) = serde_json::to_value(settings).expect("settings serialise") else {
            unreachable!("settings serialise to an object")
        };
        Recipe {
            sources: sources
                .iter()
                .filter_map(|(k, v)| Some(((*k).to_owned(), v.clone()?)))
                .collect(),
            settings: map.into_iter().collect(),
        }
    }

    /// The shipped defaults (what a setting absent from an older recipe meant).
    pub fn shipped() -> Recipe {
        Recipe::of(&[], &Settings::load(None, &[]).expect("shipped train.toml"))
    }

    /// Whether `current` trains (`Part::Training`) or trains and decodes (`Part::Whole`) as
    /// this stored recipe did; `None` when it does, else the first setting that differs.
    pub fn differs_from(&self, current: &Recipe, part: Part) -> Option<String> {
        if self.sources != current.sources {
            return Some("encoder".into());
        }
        let shipped = Recipe::shipped();
        let sections: Vec<&String> = current
            .settings
            .keys()
            .chain(self.settings.keys())
            .filter(|s| part == Part::Whole || TRAINING_SECTIONS.contains(&s.as_str()))
            .collect();
        for section in sections {
            if let Some(path) = differs(
                self.settings.get(section),
                current.settings.get(section),
                shipped.settings.get(section),
                section,
            ) {
                return Some(path);
            }
        }
        None
    }
}

/// The first path where `stored` and `current` differ, a value absent from `stored` standing
/// for its shipped default.
fn differs(
    stored: Option<&Value>,
    current: Option<&Value>,
    shipped: Option<&Value>,
    path: &str,
) -> Option<String> {
    match (stored, current) {
        (Some(Value::Object(s)), Some(Value::Object(c))) => {
            let empty = serde_json::Map::new();
            let d = match shipped {
                Some(Value::Object(d)) => d,
                _ => &empty,
            };
            let mut keys: Vec<&String> = s.keys().chain(c.keys()).collect();
            keys.sort();
            keys.dedup();
            keys.into_iter()
                .find_map(|k| differs(s.get(k), c.get(k), d.get(k), &format!("{path}.{k}")))
        }
        (Some(s), Some(c)) => (!same_value(s, c)).then(|| path.to_owned()),
        (None, Some(c)) => (!shipped.is_some_and(|d| same_value(c, d))).then(|| path.to_owned()),
        // A setting the code no longer has: what it did cannot be compared.
        (Some(_), None) => Some(path.to_owned()),
        (None, None) => None,
    }
}

/// Equal values; numbers within a relative 1e-12 (a float read back from JSON may differ from
/// the one written in its last bit).
fn same_value(a: &Value, b: &Value) -> bool {
    match (a.as_f64(), b.as_f64()) {
        (Some(x), Some(y)) if a.is_number() && b.is_number() => {
            x == y || (x - y).abs() <= 1e-12 * x.abs().max(y.abs())
        }
        _ => a == b,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn recipe(overrides: &[&str]) -> Recipe {
        let o: Vec<String> = overrides.iter().map(|s| (*s).to_owned()).collect();
        Recipe::of(
            &[("encoder", Some("m3e".into())), ("tokenizer", None)],
            &Settings::load(None, &o).unwrap(),
        )
    }

    #[test]
    fn decoding_differences_matter_only_to_the_whole_recipe() {
        let base = recipe(&["train.epochs=6"]);
        assert_eq!(base.sources.len(), 1, "absent sources are left out");
        assert_eq!(base.differs_from(&base.clone(), Part::Whole), None);
        let bounded = recipe(&["train.epochs=6", "decode.object_threshold=0.4"]);
        assert_eq!(base.differs_from(&bounded, Part::Training), None);
        assert_eq!(
            base.differs_from(&bounded, Part::Whole).as_deref(),
            Some("decode.object")
        );
        let longer = recipe(&["train.epochs=9"]);
        assert_eq!(
            base.differs_from(&longer, Part::Training).as_deref(),
            Some("train.epochs")
        );
        let mut other_encoder = base.clone();
        other_encoder
            .sources
            .insert("encoder".into(), "bert".into());
        assert_eq!(
            base.differs_from(&other_encoder, Part::Training).as_deref(),
            Some("encoder")
        );
    }

    #[test]
    fn a_setting_added_later_matches_at_its_shipped_default() {
        let current = recipe(&[]);
        let mut older = current.clone();
        let Some(Value::Object(train)) = older.settings.get_mut("train") else {
            panic!("train section")
        };
        train.remove("merge");
        assert_eq!(older.differs_from(&current, Part::Whole), None);
        let merged = recipe(&["train.merge=true"]);
        assert_eq!(
            older.differs_from(&merged, Part::Training).as_deref(),
            Some("train.merge")
        );
        // A setting the code no longer knows is a difference.
        assert_eq!(
            current.differs_from(&older, Part::Training).as_deref(),
            Some("train.merge")
        );
    }

    #[test]
    fn the_recipe_survives_its_json() {
        let r = recipe(&["train.lr=5e-5", "model.object_hidden=0"]);
        let back: Recipe = serde_json::from_str(&serde_json::to_string(&r).unwrap()).unwrap();
        assert_eq!(back, r);
        assert_eq!(back.differs_from(&r, Part::Whole), None);
    }
}
