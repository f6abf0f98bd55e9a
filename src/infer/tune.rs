//! Decoding tuned per relation on the dev set after training (issue 13 §3): object thresholds
//! (`decode.tune_thresholds`) and pair scopes (`decode.pair_scope = "tuned"`).
//!
//! CasRel decodes every relation's objects at one threshold (0.5). The relations do not share
//! a calibration: one whose tagger fires on many near misses (a low-precision relation such as
//! McBp, BENCHMARKS.md) wants a higher threshold, a timid one a lower. Given the subjects, each
//! relation's objects are decoded from its own rows of the object tagger, so its triples — and
//! its dev score — depend on its threshold alone: one dev prediction per grid point scores every
//! relation at that point, and each relation takes its best. A relation with fewer than
//! [`MIN_DEV_GOLD`] dev triples keeps the global threshold (a handful of triples would pick a
//! threshold by chance). The result is saved with the model (`config.json`,
//! `object_thresholds`) and shown with the dev scores it came from (`tuning.json`).
//!
//! Pair scopes work the same way: a relation's scope (clause, sentence, segment; rules.rs)
//! filters only its own triples, so three dev predictions — every relation held to each scope
//! — score every relation under each, and each takes its best. This replaces the coverage
//! share `learned` reads the training pairs with (BENCHMARKS.md: at 0.9 one fold's McBp sat at
//! 0.899 and fell out of the clause scope; dev measures the precision the wider scope costs
//! instead of guessing it from where the gold pairs sit). The rules of order (`decode.pair_block`
//! and `decode.pair_direction = "tuned"`, rules.rs) likewise: two dev predictions each, the
//! rule applied to every relation and to none, and each relation takes the better (ties keep
//! what the training pairs say). Scopes are tuned first, with no rule of order applied (the
//! rules only take pairs away; tuned under them, a scope would widen on one dev triple), then
//! direction, then blocking, each under the ones before, then the thresholds under all.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::Serialize;

use super::predict::{DecodeSettings, Predictor};
use super::rules::{DecodeRules, PairRule, PairScope, Scope};
use super::run_dir::{LoadedModel, RunConfig};
use crate::corpus::{Corpus, Record, Schema};
use crate::eval::{evaluate, EvalError, EvalOptions, Prf};
use crate::text::TokenizeError;

/// Dev scores per relation code at each point tried.
pub type Grid<T> = Vec<(T, BTreeMap<String, Prf>)>;

/// The pair scopes tried (`pair_scope = "tuned"`).
pub const SCOPES: [Scope; 3] = [Scope::Clause, Scope::Sentence, Scope::Segment];
/// The object thresholds tried.
pub const GRID: [f32; 7] = [0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8];
/// Dev triples a relation needs for a threshold (or a scope) of its own.
pub const MIN_DEV_GOLD: usize = 10;

/// What tuning one setting per relation found: the object thresholds ([`Tuning`]) or the pair
/// scopes ([`ScopeTuning`]).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Tuned<T> {
    /// The chosen value per relation code (only the relations that got one).
    pub chosen: BTreeMap<String, T>,
    /// Dev scores per relation at each point tried (for scopes: every relation held to it).
    pub grid: Grid<T>,
    /// Dev score overall at each relation's starting value (the global threshold, the learned
    /// scope), and with the chosen ones.
    pub before: Prf,
    pub after: Prf,
}

/// Object thresholds tuned on dev.
pub type Tuning = Tuned<f32>;
/// Pair scopes tuned on dev.
pub type ScopeTuning = Tuned<Scope>;
/// A rule of order (blocking, direction) tuned on dev: applied or not per relation.
pub type OrderTuning = Tuned<bool>;

#[derive(Debug, thiserror::Error)]
pub enum TuneError {
    #[error(transparent)]
    Tokenize(#[from] TokenizeError),
    #[error(transparent)]
    Eval(#[from] EvalError),
    #[error(transparent)]
    Model(#[from] crate::model::ModelError),
}

/// Tune `predictor`'s object threshold per relation on `dev` (gold records).
pub fn tune_object_thresholds(
    predictor: &Predictor<'_>,
    dev: &[Record],
    schema: &Schema,
) -> Result<Tuning, TuneError> {
    let global = predictor.thresholds.object;
    let grid = score_grid(&GRID, dev, schema, |t| Predictor {
        thresholds: DecodeSettings {
            object: t,
            ..predictor.thresholds
        },
        rules: predictor
            .rules
            .clone()
            .with_object_thresholds(&[], &BTreeMap::new()),
        ..predictor.clone()
    })?;
    // Ties: the threshold nearest the global one.
    Ok(choose(grid, |_| global, |_, t| (t - global).abs()))
}

/// Tune `predictor`'s pair scope per relation on `dev` (`pair_scope = "tuned"`): `relations`
/// are the model's, in its order. Ties keep the learned scope, else the narrowest.
pub fn tune_pair_scopes(
    predictor: &Predictor<'_>,
    relations: &[String],
    dev: &[Record],
    schema: &Schema,
) -> Result<ScopeTuning, TuneError> {
    let learned = by_code(relations, |r| predictor.rules.scope(r));
    let learned_of = |code: &str| learned.get(code).copied().unwrap_or(Scope::Segment);
    let grid = score_grid(&SCOPES, dev, schema, |scope| Predictor {
        rules: predictor.rules.clone().with_scope_everywhere(scope),
        ..predictor.clone()
    })?;
    Ok(choose(grid, learned_of, |code, scope| {
        if scope == learned_of(code) {
            0.0
        } else {
            1.0 + scope as u8 as f32
        }
    }))
}

/// A rule of order each relation applies or not (rules.rs): `pair_block` or `pair_direction`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OrderRule {
    Block,
    Direction,
}

impl OrderRule {
    fn name(self) -> &'static str {
        match self {
            OrderRule::Block => "blocking",
            OrderRule::Direction => "direction",
        }
    }

    /// Whether `rules` apply this rule to relation `r`.
    fn applied(self, rules: &DecodeRules, r: usize) -> bool {
        match self {
            OrderRule::Block => rules.blocks(r),
            OrderRule::Direction => rules.direction(r).is_some(),
        }
    }

    /// `rules` with this rule applied to every relation that has it, or to none.
    fn everywhere(self, rules: DecodeRules, on: bool) -> DecodeRules {
        match self {
            OrderRule::Block => rules.with_block_everywhere(on),
            OrderRule::Direction => rules.with_direction_everywhere(on),
        }
    }

    /// Where a run directory keeps the choices tuned on dev.
    fn saved(self, config: &mut RunConfig) -> &mut BTreeMap<String, bool> {
        match self {
            OrderRule::Block => &mut config.pair_blocks,
            OrderRule::Direction => &mut config.pair_directions,
        }
    }
}

/// Tune whether each relation applies `rule` (`pair_block` or `pair_direction = "tuned"`) on
/// `dev`: two dev predictions, the rule applied to every relation and to none; `relations` are
/// the model's, in its order. Ties keep what the training pairs say.
pub fn tune_order_rule(
    rule: OrderRule,
    predictor: &Predictor<'_>,
    relations: &[String],
    dev: &[Record],
    schema: &Schema,
) -> Result<OrderTuning, TuneError> {
    let learned = by_code(relations, |r| rule.applied(&predictor.rules, r));
    let learned_of = |code: &str| learned.get(code).copied().unwrap_or(false);
    let grid = score_grid(&[false, true], dev, schema, |on| Predictor {
        rules: rule.everywhere(predictor.rules.clone(), on),
        ..predictor.clone()
    })?;
    Ok(choose(grid, learned_of, |code, on| {
        if on == learned_of(code) {
            0.0
        } else {
            1.0
        }
    }))
}

/// What [`tune_on_dev`] found.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DevTuning {
    pub scopes: Option<ScopeTuning>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub directions: Option<OrderTuning>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub blocks: Option<OrderTuning>,
    pub thresholds: Option<Tuning>,
}

impl DevTuning {
    /// Whether `[decode]` asks for any tuning.
    pub fn asked(d: &DecodeSettings) -> bool {
        d.tune_thresholds
            || d.pair_scope == PairScope::Tuned
            || d.pair_block == PairRule::Tuned
            || d.pair_direction == PairRule::Tuned
    }
}

impl std::fmt::Display for DevTuning {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let part = |what: &str, chosen: String, before: &Prf, after: &Prf| {
            format!(
                "{what} tuned on dev {chosen} (dev F1 {:.2} → {:.2})",
                100.0 * before.f1,
                100.0 * after.f1
            )
        };
        let mut parts = Vec::new();
        if let Some(s) = &self.scopes {
            let names: BTreeMap<_, _> = s.chosen.iter().map(|(c, v)| (c, v.name())).collect();
            parts.push(part(
                "pair scopes",
                format!("{names:?}"),
                &s.before,
                &s.after,
            ));
        }
        for (rule, tuned) in [
            (OrderRule::Direction, &self.directions),
            (OrderRule::Block, &self.blocks),
        ] {
            if let Some(t) = tuned {
                let on: Vec<&String> = t
                    .chosen
                    .iter()
                    .filter(|(_, &on)| on)
                    .map(|(c, _)| c)
                    .collect();
                parts.push(part(
                    rule.name(),
                    format!("on for {on:?}"),
                    &t.before,
                    &t.after,
                ));
            }
        }
        if let Some(t) = &self.thresholds {
            let chosen = format!("{:?}", t.chosen);
            parts.push(part("object thresholds", chosen, &t.before, &t.after));
        }
        write!(f, "{}", parts.join("; "))
    }
}

/// Tune what `model`'s `[decode]` asks for on `dev`, in place (its config and rules): the pair
/// scopes first (with no rule of order applied), then the direction and blocking rules under
/// them, then the object thresholds under all three (a threshold is a trade within the pairs the rules let through). The caller
/// saves the config.
pub fn tune_on_dev(
    model: &mut LoadedModel,
    dev: &[Record],
    batch_size: usize,
) -> Result<DevTuning, TuneError> {
    let d = model.config.thresholds;
    let mut found = DevTuning {
        scopes: None,
        directions: None,
        blocks: None,
        thresholds: None,
    };
    if d.pair_scope == PairScope::Tuned {
        model.config.pair_scopes.clear();
        model.config.pair_directions.clear();
        model.config.pair_blocks.clear();
        model.config.object_thresholds.clear();
        // Scopes are chosen as without the rules of order: on fold 0 of the coronary folds,
        // with directions held, one dev triple tipped McBp from the clause to the sentence
        // (dev F1 90.9 → 91.2) and cost 23 wrong test triples. The rules only take pairs
        // away, so they are tuned under the scopes, not the scopes under them.
        model.rules = model
            .config
            .rules()?
            .with_direction_everywhere(false)
            .with_block_everywhere(false);
        let t = tune_pair_scopes(
            &model.predictor(batch_size),
            &model.config.model.relations,
            dev,
            &model.config.schema,
        )?;
        model.config.pair_scopes = t.chosen.clone();
        found.scopes = Some(t);
    }
    for (rule, setting) in [
        (OrderRule::Direction, d.pair_direction),
        (OrderRule::Block, d.pair_block),
    ] {
        if setting != PairRule::Tuned {
            continue;
        }
        rule.saved(&mut model.config).clear();
        model.config.object_thresholds.clear();
        model.rules = model.config.rules()?;
        let t = tune_order_rule(
            rule,
            &model.predictor(batch_size),
            &model.config.model.relations,
            dev,
            &model.config.schema,
        )?;
        *rule.saved(&mut model.config) = t.chosen.clone();
        match rule {
            OrderRule::Direction => found.directions = Some(t),
            OrderRule::Block => found.blocks = Some(t),
        }
    }
    if d.tune_thresholds {
        model.config.object_thresholds.clear();
        model.rules = model.config.rules()?;
        let t = tune_object_thresholds(&model.predictor(batch_size), dev, &model.config.schema)?;
        model.config.object_thresholds = t.chosen.clone();
        found.thresholds = Some(t);
    }
    model.rules = model.config.rules()?;
    Ok(found)
}

/// `value` of each relation index, by the relation's code.
fn by_code<T>(relations: &[String], value: impl Fn(usize) -> T) -> BTreeMap<&str, T> {
    relations
        .iter()
        .enumerate()
        .map(|(r, code)| (code.as_str(), value(r)))
        .collect()
}

/// Dev scores per relation at each grid point (one dev prediction each).
fn score_grid<'p, T: Copy>(
    points: &[T],
    dev: &[Record],
    schema: &Schema,
    at: impl Fn(T) -> Predictor<'p>,
) -> Result<Grid<T>, TuneError> {
    let as_corpus = |records| Corpus::in_memory(PathBuf::from("<dev>"), schema, records);
    let gold = as_corpus(dev.to_vec());
    let mut grid = Vec::new();
    for &point in points {
        let pred = at(point).predict(dev)?;
        let report = evaluate(&gold, &as_corpus(pred), &EvalOptions::default())?;
        grid.push((point, report.per_relation));
    }
    Ok(grid)
}

/// Each relation's best grid point (ties: the lowest `tie_rank`), and the overall dev score
/// at each relation's `base` point before and at the chosen ones after. A relation with fewer
/// than [`MIN_DEV_GOLD`] dev triples keeps its base (none is chosen for it).
fn choose<T: Copy + PartialEq>(
    grid: Grid<T>,
    base: impl Fn(&str) -> T,
    tie_rank: impl Fn(&str, T) -> f32,
) -> Tuned<T> {
    let codes: std::collections::BTreeSet<&String> =
        grid.iter().flat_map(|(_, per)| per.keys()).collect();
    let mut chosen = BTreeMap::new();
    let (mut before, mut after) = ([0usize; 3], [0usize; 3]);
    let add = |acc: &mut [usize; 3], p: &Prf| {
        acc[0] += p.tp;
        acc[1] += p.fp;
        acc[2] += p.fn_;
    };
    for code in codes {
        let base_point = base(code);
        let base_score = grid
            .iter()
            .find(|(g, _)| *g == base_point)
            .and_then(|(_, per)| per.get(code));
        if let Some(p) = base_score {
            add(&mut before, p);
        }
        let gold = grid
            .iter()
            .filter_map(|(_, per)| per.get(code))
            .map(Prf::gold)
            .max()
            .unwrap_or(0);
        let best = grid
            .iter()
            .filter_map(|(t, per)| per.get(code).map(|p| (*t, p)))
            .max_by(|(ta, a), (tb, b)| {
                a.f1.total_cmp(&b.f1)
                    .then(tie_rank(code, *tb).total_cmp(&tie_rank(code, *ta)))
            });
        match best {
            Some((t, p)) if gold >= MIN_DEV_GOLD => {
                chosen.insert(code.clone(), t);
                add(&mut after, p);
            }
            _ => {
                if let Some(p) = base_score {
                    add(&mut after, p);
                }
            }
        }
    }
    let prf = |c: [usize; 3]| Prf::from_counts(c[0], c[1], c[2]);
    Tuned {
        chosen,
        before: prf(before),
        after: prf(after),
        grid,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One grid point: dev scores of McBp, BpSy and a third relation at `at`.
    fn point<T>(at: T, third: &str, [mcbp, bpsy, other]: [Prf; 3]) -> (T, BTreeMap<String, Prf>) {
        let per = [("McBp", mcbp), ("BpSy", bpsy), (third, other)]
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v))
            .collect();
        (at, per)
    }

    #[test]
    fn each_relation_takes_its_best_threshold_and_small_ones_keep_the_global() {
        let p = |tp, fp, fn_| Prf::from_counts(tp, fp, fn_);
        let point = |t: f32, mcbp, bpsy, bpin| point(t, "BpIn", [mcbp, bpsy, bpin]);
        // McBp gains precision up to 0.7; BpSy is flat (ties keep 0.5); BpIn (3 gold) would
        // prefer 0.3 but is too small to tune.
        let grid = vec![
            point(0.3, p(20, 30, 5), p(90, 5, 10), p(3, 0, 0)),
            point(0.5, p(18, 20, 7), p(90, 5, 10), p(2, 0, 1)),
            point(0.7, p(17, 5, 8), p(90, 5, 10), p(1, 0, 2)),
        ];
        let Tuned {
            chosen: thresholds,
            before,
            after,
            ..
        } = choose(grid, |_| 0.5, |_, t| (t - 0.5f32).abs());
        assert_eq!(thresholds.get("McBp"), Some(&0.7));
        assert_eq!(thresholds.get("BpSy"), Some(&0.5));
        assert_eq!(thresholds.get("BpIn"), None);
        assert_eq!((before.tp, before.fp, before.fn_), (110, 25, 18));
        assert_eq!((after.tp, after.fp, after.fn_), (109, 10, 19));
        assert!(after.f1 > before.f1);
    }

    #[test]
    fn each_relation_takes_its_best_scope_ties_keep_the_learned_then_the_narrowest() {
        let p = |tp, fp, fn_| Prf::from_counts(tp, fp, fn_);
        let point = |scope: Scope, mcbp, bpsy, tmdo| point(scope, "TmDo", [mcbp, bpsy, tmdo]);
        // McBp (learned: clause) finds its far pairs in the sentence without new false ones;
        // BpSy is flat (keeps its learned sentence); TmDo (learned: segment) is as good within
        // a sentence as within a clause and worse in the segment: the clause.
        let grid = vec![
            point(Scope::Clause, p(20, 2, 8), p(90, 5, 10), p(30, 1, 2)),
            point(Scope::Sentence, p(26, 2, 2), p(90, 5, 10), p(30, 1, 2)),
            point(Scope::Segment, p(26, 9, 2), p(90, 5, 10), p(30, 6, 2)),
        ];
        let learned = |code: &str| match code {
            "McBp" => Scope::Clause,
            "BpSy" => Scope::Sentence,
            _ => Scope::Segment,
        };
        let rank = |code: &str, s: Scope| {
            if s == learned(code) {
                0.0
            } else {
                1.0 + s as u8 as f32
            }
        };
        let Tuned {
            chosen: scopes,
            before,
            after,
            ..
        } = choose(grid, learned, rank);
        assert_eq!(scopes["McBp"], Scope::Sentence);
        assert_eq!(scopes["BpSy"], Scope::Sentence);
        assert_eq!(scopes["TmDo"], Scope::Clause);
        assert_eq!((before.tp, before.fp, before.fn_), (140, 13, 20));
        assert_eq!((after.tp, after.fp, after.fn_), (146, 8, 14));
    }
}
