//! Which reports an annotator sees first (`cbrrel annotate export --select`).
//!
//! An hour of an annotator's time is worth most on the reports the model gets wrong, and the
//! model cannot say which those are; two proxies it can give are how sure it was
//! (`low-confidence`) and whether a second model agrees (`disagreement`). `random` is the
//! unbiased sample a team needs to estimate the model's error rate on the archive.

use std::collections::BTreeSet;

use rand::seq::SliceRandom;
use rand::SeedableRng;
use serde::Serialize;

use crate::corpus::Record;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Selection {
    /// The reports whose least sure prediction (entity or relation) has the lowest confidence
    /// first; reports with no prediction at all come last.
    LowConfidence,
    /// A seeded uniform sample (`--seed`), in random order.
    Random,
    /// The reports where a second model (`--against DIR`) disagrees most first: the Jaccard
    /// distance between the two models' relations (spans and type).
    Disagreement,
}

impl Selection {
    pub fn as_str(self) -> &'static str {
        match self {
            Selection::LowConfidence => "low-confidence",
            Selection::Random => "random",
            Selection::Disagreement => "disagreement",
        }
    }
}

/// The lowest confidence among a prediction's entities and relations (None: nothing predicted).
pub fn least_confidence(r: &Record) -> Option<f32> {
    r.entities
        .iter()
        .filter_map(|e| e.confidence)
        .chain(r.relations.iter().filter_map(|x| x.confidence))
        .min_by(f32::total_cmp)
}

/// 1 − |A ∩ B| / |A ∪ B| over two predictions' span triples: 0 when the models agree (two empty
/// predictions agree), 1 when they share no relation.
pub fn disagreement(a: &Record, b: &Record) -> f64 {
    let a: BTreeSet<_> = a.span_triples().into_iter().collect();
    let b: BTreeSet<_> = b.span_triples().into_iter().collect();
    let union = a.union(&b).count();
    if union == 0 {
        return 0.0;
    }
    1.0 - a.intersection(&b).count() as f64 / union as f64
}

/// The export order of `predicted` (indices) with each report's score, best first; ties keep
/// the dump's order. `against` holds the second model's predictions of the same reports
/// (required by `Disagreement`, ignored otherwise).
pub fn rank(
    selection: Selection,
    predicted: &[Record],
    against: Option<&[Record]>,
    seed: u64,
) -> Vec<(usize, Option<f64>)> {
    let mut order: Vec<(usize, Option<f64>)> = match selection {
        Selection::LowConfidence => predicted
            .iter()
            .enumerate()
            .map(|(i, r)| (i, least_confidence(r).map(f64::from)))
            .collect(),
        Selection::Random => (0..predicted.len()).map(|i| (i, None)).collect(),
        Selection::Disagreement => {
            let against = against.expect("disagreement needs a second model's predictions");
            predicted
                .iter()
                .zip(against)
                .enumerate()
                .map(|(i, (a, b))| (i, Some(disagreement(a, b))))
                .collect()
        }
    };
    match selection {
        // Nothing predicted sorts after every score.
        Selection::LowConfidence => order.sort_by(|a, b| match (a.1, b.1) {
            (Some(x), Some(y)) => x.total_cmp(&y),
            (Some(_), None) => std::cmp::Ordering::Less,
            (None, Some(_)) => std::cmp::Ordering::Greater,
            (None, None) => std::cmp::Ordering::Equal,
        }),
        Selection::Random => {
            order.shuffle(&mut rand_chacha::ChaCha8Rng::seed_from_u64(seed));
        }
        Selection::Disagreement => {
            order.sort_by(|a, b| b.1.unwrap_or(0.0).total_cmp(&a.1.unwrap_or(0.0)))
        }
    }
    order
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::corpus::{Arg, Entity, Relation};

    /// A record with one relation between two entities at the given confidence.
    fn predicted(id: &str, relation: Option<(&str, f32)>) -> Record {
        let mut r = Record::unannotated(id, "前降支近段狭窄80%");
        if let Some((code, c)) = relation {
            for (i, (s, e, l)) in [(0, 5, "Bp"), (5, 10, "Sy")].into_iter().enumerate() {
                r.entities.push(Entity {
                    id: i.to_string(),
                    label: l.into(),
                    start: s,
                    end: e,
                    text: r.text.chars().skip(s).take(e - s).collect(),
                    confidence: Some(0.99),
                });
            }
            let arg = |i: usize| Arg {
                text: r.entities[i].text.clone(),
                label: r.entities[i].label.clone(),
                entity: Some(i),
            };
            r.relations.push(Relation {
                id: "r".into(),
                code: code.into(),
                subject: arg(0),
                object: arg(1),
                group: 0,
                confidence: Some(c),
            });
        }
        r
    }

    #[test]
    fn low_confidence_puts_the_least_sure_first_and_empty_last() {
        let p = [
            predicted("a", Some(("BpSy", 0.9))),
            predicted("b", None),
            predicted("c", Some(("BpSy", 0.55))),
            predicted("d", Some(("BpSy", 0.7))),
        ];
        let order: Vec<usize> = rank(Selection::LowConfidence, &p, None, 0)
            .into_iter()
            .map(|x| x.0)
            .collect();
        assert_eq!(order, [2, 3, 0, 1]);
        assert!((least_confidence(&p[2]).unwrap() - 0.55).abs() < 1e-6);
    }

    #[test]
    fn disagreement_is_the_jaccard_distance_of_the_relations() {
        let a = predicted("a", Some(("BpSy", 0.9)));
        let same = predicted("a", Some(("BpSy", 0.6)));
        let other = predicted("a", Some(("BpIn", 0.9)));
        let none = predicted("a", None);
        assert_eq!(disagreement(&a, &same), 0.0);
        assert_eq!(disagreement(&a, &other), 1.0);
        assert_eq!(disagreement(&a, &none), 1.0);
        assert_eq!(disagreement(&none, &none), 0.0);
        let order: Vec<usize> = rank(
            Selection::Disagreement,
            &[a.clone(), a.clone()],
            Some(&[same, other]),
            0,
        )
        .into_iter()
        .map(|x| x.0)
        .collect();
        assert_eq!(order, [1, 0]);
    }

    #[test]
    fn random_is_a_seeded_permutation() {
        let p: Vec<Record> = (0..50).map(|i| predicted(&i.to_string(), None)).collect();
        let once = rank(Selection::Random, &p, None, 7);
        assert_eq!(once, rank(Selection::Random, &p, None, 7));
        assert_ne!(once, rank(Selection::Random, &p, None, 8));
        let mut seen: Vec<usize> = once.iter().map(|x| x.0).collect();
        seen.sort();
        assert_eq!(seen, (0..50).collect::<Vec<_>>());
    }
}
