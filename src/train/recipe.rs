//! What a cross-validation folder's models were trained with, pinned by value (issue 13).
//!
//! `cbrrel cv` refuses to mix folds trained under two recipes into one table, and `--models-from`
//! only reuses weights trained under this run's recipe. The first folders pinned the settings
//! *file* by its SHA-256: any edit to `pipeline/train.toml` — a comment, or a `[decode]`
//! default that changes no weight — made every finished fold unusable. A [`Recipe`] holds the
//! settings as resolved (file, `--set` overrides and flags applied), so two recipes are the same
//! when they train the same way, whatever file spelled them. A setting added to the code after
//! a folder was written is absent from its recipe; it stands for the setting's serde default —
//! what a run directory without it reads as, and by the project's rule the behaviour of the code
//! before the setting existed (`decode.pair_block` absent: `off`) — and not for the shipped
//! default, which may have turned the new setting on since (pipeline/train.toml ships the rules
//! of order `tuned`: a folder scored before them was not). Where the stored settings cannot be
//! read back at all (a required field absent, or one the code no longer has), the shipped
//! defaults stand in.

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

    /// What a setting absent from this stored recipe meant: the stored settings read back
    /// through [`Settings`]'s serde defaults (see the module doc), else the shipped defaults.
    fn absent_means(&self) -> Recipe {
        let stored = Value::Object(self.settings.clone().into_iter().collect());
        match serde_json::from_value::<Settings>(stored) {
            Ok(settings) => Recipe::of(&[], &settings),
            Err(_) => Recipe::shipped(),
        }
    }

    /// Whether `current` trains (`Part::Training`) or trains and decodes (`Part::Whole`) as
    /// this stored recipe did; `None` when it does, else the first setting that differs.
    pub fn differs_from(&self, current: &Recipe, part: Part) -> Option<String> {
        if self.sources != current.sources {
            return Some("encoder".into());
        }
        let defaults = self.absent_means();
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
                defaults.settings.get(section),
                section,
            ) {
                return Some(path);
            }
        }
        None
    }
}

/// The first path where `stored` and `current` differ, a value absent from `stored` standing
/// for `default`'s.
fn differs(
    stored: Option<&Value>,
    current: Option<&Value>,
    default: Option<&Value>,
    path: &str,
) -> Option<String> {
    match (stored, current) {
        (Some(Value::Object(s)), Some(Value::Object(c))) => {
            let empty = serde_json::Map::new();
            let d = match default {
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
        (None, Some(c)) => (!default.is_some_and(|d| same_value(c, d))).then(|| path.to_owned()),
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

    /// `older` without `section.field`, as a folder written before the field existed.
    fn without(current: &Recipe, section: &str, field: &str) -> Recipe {
        let mut older = current.clone();
        let Some(Value::Object(s)) = older.settings.get_mut(section) else {
            panic!("{section} section")
        };
        s.remove(field).expect("the field is there");
        older
    }

    #[test]
    fn a_setting_added_later_stands_for_its_serde_default() {
        let current = recipe(&[]);
        // Serde default and shipped value agree (false): the same recipe.
        let older = without(&current, "train", "split_alnum");
        assert_eq!(older.differs_from(&current, Part::Whole), None);
        assert_eq!(
            older
                .differs_from(&recipe(&["train.split_alnum=true"]), Part::Training)
                .as_deref(),
            Some("train.split_alnum")
        );
        // Shipped "tuned" since, serde default "off": a folder scored before the rule existed
        // decoded without it, so it is the same recipe as `off` now, not as the shipped one.
        let before_rules = without(&current, "decode", "pair_block");
        assert_eq!(
            before_rules.differs_from(&current, Part::Whole).as_deref(),
            Some("decode.pair_block")
        );
        assert_eq!(before_rules.differs_from(&current, Part::Training), None);
        let off = recipe(&["decode.pair_block=off"]);
        assert_eq!(before_rules.differs_from(&off, Part::Whole), None);
        // A required field absent (no serde default to read it by): the shipped one stands in.
        let no_merge = without(&current, "train", "merge");
        assert_eq!(no_merge.differs_from(&current, Part::Whole), None);
        assert_eq!(
            no_merge
                .differs_from(&recipe(&["train.merge=true"]), Part::Training)
                .as_deref(),
            Some("train.merge")
        );
        // A setting the code no longer knows is a difference.
        assert_eq!(
            current.differs_from(&older, Part::Training).as_deref(),
            Some("train.split_alnum")
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
