//! Object thresholds per relation, tuned on the dev set (issue 13 §3, `decode.tune_thresholds`).
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

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::Serialize;

use super::predict::Predictor;
use crate::corpus::{Corpus, Record, Schema};
use crate::eval::{evaluate, EvalError, EvalOptions, Prf};
use crate::text::TokenizeError;

/// The object thresholds tried.
pub const GRID: [f32; 7] = [0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8];
/// Dev triples a relation needs for a threshold of its own.
pub const MIN_DEV_GOLD: usize = 10;

/// What tuning found.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Tuning {
    /// The chosen threshold per relation code (only the relations that got one).
    pub thresholds: BTreeMap<String, f32>,
    /// Dev scores per relation at each grid point.
    pub grid: Vec<(f32, BTreeMap<String, Prf>)>,
    /// Dev score overall at the global threshold, and with the tuned ones.
    pub before: Prf,
    pub after: Prf,
}

#[derive(Debug, thiserror::Error)]
pub enum TuneError {
    #[error(transparent)]
    Tokenize(#[from] TokenizeError),
    #[error(transparent)]
    Eval(#[from] EvalError),
}

/// Tune `predictor`'s object threshold per relation on `dev` (gold records).
pub fn tune_object_thresholds(
    predictor: &Predictor<'_>,
    dev: &[Record],
    schema: &Schema,
) -> Result<Tuning, TuneError> {
    let as_corpus = |records| Corpus::in_memory(PathBuf::from("<dev>"), schema, records);
    let gold = as_corpus(dev.to_vec());
    let global = predictor.thresholds.object;
    let mut grid = Vec::new();
    for &t in &GRID {
        let at = Predictor {
            thresholds: super::DecodeSettings {
                object: t,
                ..predictor.thresholds
            },
            rules: predictor
                .rules
                .clone()
                .with_object_thresholds(&[], &BTreeMap::new()),
            ..*predictor
        };
        let report = evaluate(&gold, &as_corpus(at.predict(dev)?), &EvalOptions::default())?;
        grid.push((t, report.per_relation));
    }
    Ok(choose(&grid, global))
}

/// Each relation's best grid point (ties: the one nearest the global threshold), and the
/// overall dev score before and after.
fn choose(grid: &[(f32, BTreeMap<String, Prf>)], global: f32) -> Tuning {
    let codes: std::collections::BTreeSet<&String> =
        grid.iter().flat_map(|(_, per)| per.keys()).collect();
    let mut thresholds = BTreeMap::new();
    let (mut before, mut after) = ([0usize; 3], [0usize; 3]);
    let add = |acc: &mut [usize; 3], p: &Prf| {
        acc[0] += p.tp;
        acc[1] += p.fp;
        acc[2] += p.fn_;
    };
    let at = |t: f32, code: &str| -> Option<&Prf> {
        grid.iter()
            .find(|(g, _)| (*g - t).abs() < 1e-6)
            .and_then(|(_, per)| per.get(code))
    };
    for code in codes {
        let base = at(global, code);
        if let Some(p) = base {
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
                    .then((tb - global).abs().total_cmp(&(ta - global).abs()))
            });
        match best {
            Some((t, p)) if gold >= MIN_DEV_GOLD => {
                thresholds.insert(code.clone(), t);
                add(&mut after, p);
            }
            _ => {
                if let Some(p) = base {
                    add(&mut after, p);
                }
            }
        }
    }
    Tuning {
        thresholds,
        grid: grid.to_vec(),
        before: Prf::from_counts(before[0], before[1], before[2]),
        after: Prf::from_counts(after[0], after[1], after[2]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_relation_takes_its_best_threshold_and_small_ones_keep_the_global() {
        let p = |tp, fp, fn_| Prf::from_counts(tp, fp, fn_);
        let point = |t: f32, mcbp: Prf, bpsy: Prf, bpin: Prf| {
            let per: BTreeMap<String, Prf> = [("McBp", mcbp), ("BpSy", bpsy), ("BpIn", bpin)]
                .into_iter()
                .map(|(k, v)| (k.to_owned(), v))
                .collect();
            (t, per)
        };
        // McBp gains precision up to 0.7; BpSy is flat (ties keep 0.5); BpIn (3 gold) would
        // prefer 0.3 but is too small to tune.
        let grid = vec![
            point(0.3, p(20, 30, 5), p(90, 5, 10), p(3, 0, 0)),
            point(0.5, p(18, 20, 7), p(90, 5, 10), p(2, 0, 1)),
            point(0.7, p(17, 5, 8), p(90, 5, 10), p(1, 0, 2)),
        ];
        let t = choose(&grid, 0.5);
        assert_eq!(t.thresholds.get("McBp"), Some(&0.7));
        assert_eq!(t.thresholds.get("BpSy"), Some(&0.5));
        assert_eq!(t.thresholds.get("BpIn"), None);
        assert_eq!((t.before.tp, t.before.fp, t.before.fn_), (110, 25, 18));
        assert_eq!((t.after.tp, t.after.fp, t.after.fn_), (109, 10, 19));
        assert!(t.after.f1 > t.before.f1);
    }
}
