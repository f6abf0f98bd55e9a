//! Training reports written the other way: vessel lists joined by commas (`train.comma_lists`).
//!
//! Most coronary reports close each vessel's findings with `；` (vessel A, its finding；vessel B,
//! its lesion，its stenosis；…), so in training nearly every body part that opens a list item
//! also opens a sentence — a segment. Some hospitals and some reports write the same list with
//! commas (…，vessel B …，vessel C …): one long sentence whose later vessels a model trained on
//! `；`-lists pairs with the wrong findings (issue 13's error analysis: a body part after `，` is
//! missed as a subject 3.7 % of the time on the five folds, after `；` 1.0 %).
//!
//! A seeded share of the training reports is shown a second time, with every `；` replaced by
//! `，` (the reports as written stay: replacing them instead, a quarter of them, left the model
//! unsure of both forms — BENCHMARKS.md, "Vessel lists written with commas"). One character for
//! one, so every annotation's char offsets stay valid; the annotations stay as they are — the
//! same list, punctuated the other way. Dev and test reports are never changed, and the learned
//! decoding rules are measured on the reports as written (the trainer computes them before
//! this).

use std::borrow::Cow;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::corpus::Record;

/// The list mark replaced and what replaces it (full-width; the half-width `;` of mixed texts
/// is left alone, its comma would be `,`, which the corpus does not use in lists).
const LIST_MARK: char = '；';
const COMMA: char = '，';

/// The training reports and, for a share `share` (0 ≤ share ≤ 1) of those holding a `；`
/// drawn with `seed`, a copy with commas (its id suffixed `#commas`); and how many copies.
/// `share` 0 (the default) borrows the reports as they are: nothing is copied.
pub fn comma_lists(records: &[Record], share: f64, seed: u64) -> (Cow<'_, [Record]>, usize) {
    if share <= 0.0 {
        return (Cow::Borrowed(records), 0);
    }
    let mut out = records.to_vec();
    // Its own stream (not the trainer's batch order), so the share changes no other draw.
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0x636f_6d6d_615f_6c69);
    for r in records {
        if r.text.contains(LIST_MARK) && rng.random_bool(share.min(1.0)) {
            out.push(Record {
                id: format!("{}#commas", r.id),
                text: r
                    .text
                    .chars()
                    .map(|c| if c == LIST_MARK { COMMA } else { c })
                    .collect(),
                ..r.clone()
            });
        }
    }
    let copies = out.len() - records.len();
    (Cow::Owned(out), copies)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::corpus::testkit::record;

    fn reports() -> Vec<Record> {
        (0..40)
            .map(|i| {
                record(
                    &format!("r{i}"),
                    "中间支可见斑块；钝缘支远段狭窄约35%。",
                    &[("Bp", 0, 3), ("Sy", 3, 7), ("Bp", 8, 13)],
                    &[("BpSy", 0, 1)],
                )
            })
            .chain(std::iter::once(record(
                "plain",
                "后降支显影良好。",
                &[],
                &[],
            )))
            .collect()
    }

    #[test]
    fn a_share_of_the_reports_with_lists_is_shown_again_with_commas_offsets_intact() {
        let rs = reports();
        let (same, n) = comma_lists(&rs, 0.0, 1);
        assert_eq!((&same[..], n), (&rs[..], 0));
        assert!(matches!(same, Cow::Borrowed(_)), "nothing copied when off");
        let (all, n) = comma_lists(&rs, 1.0, 1);
        assert_eq!(n, 40, "every report holding a ； (not the one without)");
        assert_eq!(&all[..41], &rs[..], "the reports as written stay, first");
        let copy = &all[41];
        assert_eq!(copy.id, "r0#commas");
        assert_eq!(copy.text, "中间支可见斑块，钝缘支远段狭窄约35%。");
        for (a, b) in all[41..].iter().zip(&rs) {
            assert_eq!(a.text.chars().count(), b.text.chars().count());
            assert_eq!((&a.entities, &a.relations), (&b.entities, &b.relations));
        }
        let (some, n) = comma_lists(&rs, 0.25, 7);
        assert!((4..=18).contains(&n), "about a quarter of 40: {n}");
        assert_eq!(some.len(), 41 + n);
        assert!(some[41..].iter().all(|r| !r.text.contains('；')));
        assert_eq!(comma_lists(&rs, 0.25, 7), (some, n), "seeded");
    }
}
