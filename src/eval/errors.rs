//! Where a model's errors come from (issue 13 §2): every missed gold triple and every wrong
//! predicted triple, scored as the paper scores them (§4.3: subject text, relation, object
//! text per report), put under one cause, with counts and a few examples.
//!
//! Causes are tried in a fixed order and the first that holds is the error's:
//!
//! - **annotation inconsistency** — the sentence holding both ends appears verbatim in another
//!   report of the gold data, annotated the other way there (the triple present where it is
//!   missing here, or absent where it is present): the model cannot be right on both;
//! - **span runs across clause punctuation** (predictions only) — a subject or object that
//!   contains ，；。, i.e. a start decoded with an end in a later clause;
//! - **span boundary** — an end overlaps a gold entity of the report but is not it;
//! - **entity missed** (gold) / **entity not in gold** (predicted) — an end that no entity of
//!   the other side overlaps at all;
//! - **wrong relation type** (predictions only) — both ends are gold entities, related in the
//!   gold under another type;
//! - **ends in different sentences** / **ends in different clauses** — both ends right, the
//!   pairing missed or invented across a sentence or clause boundary;
//! - **pairing within a clause** — both ends right and close, the pairing still wrong: the
//!   case of several devices and several vessels chained in one clause.
//!
//! Threshold effects need the scores of near misses, which predictions do not carry (only what
//! passed the thresholds is written); they are not a cause here.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt;

use serde::Serialize;

use crate::corpus::sentences::{sentence_of, sentence_spans, separated, CLAUSE_MARKS};
use crate::corpus::{char_slice, Record};

/// Why a triple is wrong (see the module doc for the order they are tried in).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Cause {
    AnnotationInconsistency,
    SpanAcrossClauses,
    SpanBoundary,
    EntityMissed,
    EntityNotInGold,
    WrongRelationType,
    EndsInDifferentSentences,
    EndsInDifferentClauses,
    PairingWithinClause,
}

impl fmt::Display for Cause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Cause::AnnotationInconsistency => {
                "annotation inconsistency (same sentence annotated otherwise in another report)"
            }
            Cause::SpanAcrossClauses => "span runs across clause punctuation",
            Cause::SpanBoundary => "span boundary (overlaps a gold entity, not it)",
            Cause::EntityMissed => "entity missed",
            Cause::EntityNotInGold => "entity not in gold",
            Cause::WrongRelationType => "wrong relation type",
            Cause::EndsInDifferentSentences => "subject and object in different sentences",
            Cause::EndsInDifferentClauses => "subject and object in different clauses",
            Cause::PairingWithinClause => "pairing within one clause",
        })
    }
}

/// One error, to show.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Example {
    pub record: String,
    pub subject: String,
    pub relation: String,
    pub object: String,
}

/// Errors by side and cause.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct ErrorAnalysis {
    pub false_negatives: BTreeMap<Cause, usize>,
    pub false_positives: BTreeMap<Cause, usize>,
    /// Up to [`EXAMPLES`] of each (side, cause), side "fn" or "fp".
    pub examples: BTreeMap<String, Vec<Example>>,
    /// Gold triples by where their ends sit ("same clause", "different clauses", "different
    /// sentences"): the base rate the misses of each kind compare with.
    pub gold_by_distance: BTreeMap<String, usize>,
    /// Missed gold triples by the same split.
    pub missed_by_distance: BTreeMap<String, usize>,
    /// Per relation code, per cause: [missed, wrong].
    pub by_relation: BTreeMap<String, BTreeMap<Cause, [usize; 2]>>,
}

/// Examples kept per side and cause.
pub const EXAMPLES: usize = 5;

/// One end of a triple: char span and entity type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct End {
    start: usize,
    end: usize,
}

impl End {
    fn overlaps(self, o: End) -> bool {
        self.start < o.end && o.start < self.end
    }
}

/// A record's triples by text, each with the spans of its first occurrence.
fn triples(r: &Record) -> Vec<((String, String, String), End, End)> {
    let mut seen = HashSet::new();
    let mut out = Vec::new();
    for rel in &r.relations {
        let key = (
            rel.subject.text.clone(),
            rel.code.clone(),
            rel.object.text.clone(),
        );
        let span = |a: &crate::corpus::Arg| {
            a.entity.and_then(|i| r.entities.get(i)).map(|e| End {
                start: e.start,
                end: e.end,
            })
        };
        if let (Some(s), Some(o)) = (span(&rel.subject), span(&rel.object)) {
            if seen.insert(key.clone()) {
                out.push((key, s, o));
            }
        }
    }
    out
}

/// Where in the text two ends sit relative to each other.
struct Layout {
    sentences: Vec<(usize, usize)>,
    chars: Vec<char>,
}

impl Layout {
    fn new(text: &str) -> Layout {
        Layout {
            sentences: sentence_spans(text),
            chars: text.chars().collect(),
        }
    }

    fn distance(&self, s: End, o: End) -> &'static str {
        if sentence_of(&self.sentences, s.start) != sentence_of(&self.sentences, o.start) {
            return "different sentences";
        }
        if separated(&self.chars, (s.start, s.end), (o.start, o.end), |c| {
            CLAUSE_MARKS.contains(&c)
        }) {
            "different clauses"
        } else {
            "same clause"
        }
    }

    /// The sentence text holding both ends, when they share one.
    fn sentence<'t>(&self, text: &'t str, s: End, o: End) -> Option<&'t str> {
        let i = sentence_of(&self.sentences, s.start);
        if i != sentence_of(&self.sentences, o.start) {
            return None;
        }
        let (a, b) = *self.sentences.get(i)?;
        char_slice(text, a, b)
    }
}

/// What the gold data says about each sentence text: for every report holding the sentence,
/// the text triples annotated inside it.
type SentenceIndex<'g> = HashMap<&'g str, Vec<(&'g str, HashSet<(String, String, String)>)>>;

fn sentence_index(gold: &[Record]) -> SentenceIndex<'_> {
    let mut ix: SentenceIndex<'_> = HashMap::new();
    for r in gold {
        let layout = Layout::new(&r.text);
        let mut per: HashMap<&str, HashSet<(String, String, String)>> = HashMap::new();
        for &(a, b) in &layout.sentences {
            if let Some(sent) = char_slice(&r.text, a, b) {
                per.entry(sent).or_default();
            }
        }
        for (key, s, o) in triples(r) {
            if let Some(sent) = layout.sentence(&r.text, s, o) {
                per.entry(sent).or_default().insert(key);
            }
        }
        for (sent, keys) in per {
            ix.entry(sent).or_default().push((r.id.as_str(), keys));
        }
    }
    ix
}

/// Classify the errors of `pred` against `gold` (records matched by id; a gold record without
/// predictions counts every triple as missed). `reference` is the gold data the annotation
/// consistency is judged on (the whole corpus, for a cross-validation's pooled test parts).
pub fn analyse(gold: &[Record], pred: &[Record], reference: &[Record]) -> ErrorAnalysis {
    let ix = sentence_index(reference);
    let by_id: HashMap<&str, &Record> = pred.iter().map(|r| (r.id.as_str(), r)).collect();
    let mut out = ErrorAnalysis::default();
    let note = |out: &mut ErrorAnalysis,
                side: &str,
                cause: Cause,
                id: &str,
                key: &(String, String, String)| {
        let counts = if side == "fn" {
            &mut out.false_negatives
        } else {
            &mut out.false_positives
        };
        *counts.entry(cause).or_default() += 1;
        out.by_relation
            .entry(key.1.clone())
            .or_default()
            .entry(cause)
            .or_default()[usize::from(side != "fn")] += 1;
        let ex = out.examples.entry(format!("{side} {cause:?}")).or_default();
        if ex.len() < EXAMPLES {
            ex.push(Example {
                record: id.to_owned(),
                subject: key.0.clone(),
                relation: key.1.clone(),
                object: key.2.clone(),
            });
        }
    };
    for g in gold {
        let empty = Record::unannotated(&g.id, &g.text);
        let p = by_id.get(g.id.as_str()).copied().unwrap_or(&empty);
        let layout = Layout::new(&g.text);
        let gold_t = triples(g);
        let pred_t = triples(p);
        let gold_keys: HashSet<&(String, String, String)> = gold_t.iter().map(|t| &t.0).collect();
        let pred_keys: HashSet<&(String, String, String)> = pred_t.iter().map(|t| &t.0).collect();
        let gold_ends: Vec<End> = g
            .entities
            .iter()
            .map(|e| End {
                start: e.start,
                end: e.end,
            })
            .collect();
        let pred_ends: Vec<End> = pred_t.iter().flat_map(|t| [t.1, t.2]).collect();
        // Elsewhere in the gold, the same sentence: annotated with `key` or not.
        let elsewhere = |s: End, o: End, key: &(String, String, String), annotated: bool| {
            layout.sentence(&g.text, s, o).is_some_and(|sent| {
                ix.get(sent).is_some_and(|reports| {
                    reports
                        .iter()
                        .any(|(id, keys)| *id != g.id && keys.contains(key) == annotated)
                })
            })
        };
        for (key, s, o) in &gold_t {
            let d = layout.distance(*s, *o);
            *out.gold_by_distance.entry(d.to_owned()).or_default() += 1;
            if pred_keys.contains(key) {
                continue;
            }
            *out.missed_by_distance.entry(d.to_owned()).or_default() += 1;
            let boundary = |e: End| pred_ends.iter().any(|p| p.overlaps(e) && *p != e);
            let found = |e: End| pred_ends.contains(&e);
            let cause = if elsewhere(*s, *o, key, false) {
                Cause::AnnotationInconsistency
            } else if boundary(*s) || boundary(*o) {
                Cause::SpanBoundary
            } else if !found(*s) || !found(*o) {
                Cause::EntityMissed
            } else {
                match d {
                    "different sentences" => Cause::EndsInDifferentSentences,
                    "different clauses" => Cause::EndsInDifferentClauses,
                    _ => Cause::PairingWithinClause,
                }
            };
            note(&mut out, "fn", cause, &g.id, key);
        }
        for (key, s, o) in &pred_t {
            if gold_keys.contains(key) {
                continue;
            }
            let crosses = |t: &str| t.chars().any(|c| CLAUSE_MARKS.contains(&c));
            let boundary = |e: End| gold_ends.iter().any(|g| g.overlaps(e) && *g != e);
            let known = |e: End| gold_ends.contains(&e);
            let related_otherwise = gold_t
                .iter()
                .any(|(k, gs, go)| gs == s && go == o && k.1 != key.1);
            let cause = if elsewhere(*s, *o, key, true) {
                Cause::AnnotationInconsistency
            } else if crosses(&key.0) || crosses(&key.2) {
                Cause::SpanAcrossClauses
            } else if boundary(*s) || boundary(*o) {
                Cause::SpanBoundary
            } else if !known(*s) || !known(*o) {
                Cause::EntityNotInGold
            } else if related_otherwise {
                Cause::WrongRelationType
            } else {
                match layout.distance(*s, *o) {
                    "different sentences" => Cause::EndsInDifferentSentences,
                    "different clauses" => Cause::EndsInDifferentClauses,
                    _ => Cause::PairingWithinClause,
                }
            };
            note(&mut out, "fp", cause, &g.id, key);
        }
    }
    out
}

impl fmt::Display for ErrorAnalysis {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let total = |m: &BTreeMap<Cause, usize>| m.values().sum::<usize>();
        writeln!(f, "| cause | missed (fn) | wrong (fp) |")?;
        writeln!(f, "|---|--:|--:|")?;
        let mut causes: Vec<&Cause> = self
            .false_negatives
            .keys()
            .chain(self.false_positives.keys())
            .collect();
        causes.sort();
        causes.dedup();
        causes.sort_by_key(|c| {
            std::cmp::Reverse(
                self.false_negatives.get(c).unwrap_or(&0)
                    + self.false_positives.get(c).unwrap_or(&0),
            )
        });
        for c in causes {
            writeln!(
                f,
                "| {c} | {} | {} |",
                self.false_negatives.get(c).unwrap_or(&0),
                self.false_positives.get(c).unwrap_or(&0)
            )?;
        }
        writeln!(
            f,
            "| **all** | {} | {} |",
            total(&self.false_negatives),
            total(&self.false_positives)
        )?;
        writeln!(f)?;
        writeln!(
            f,
            "| relation | missed | wrong | main causes (missed / wrong) |"
        )?;
        writeln!(f, "|---|--:|--:|---|")?;
        for (rel, causes) in &self.by_relation {
            let (missed, wrong) = causes
                .values()
                .fold((0, 0), |(m, w), c| (m + c[0], w + c[1]));
            let mut top: Vec<(&Cause, &[usize; 2])> = causes.iter().collect();
            top.sort_by_key(|(_, c)| std::cmp::Reverse(c[0] + c[1]));
            let top: Vec<String> = top
                .iter()
                .take(2)
                .map(|(cause, c)| format!("{cause} {} / {}", c[0], c[1]))
                .collect();
            writeln!(f, "| {rel} | {missed} | {wrong} | {} |", top.join("; "))?;
        }
        writeln!(f)?;
        writeln!(
            f,
            "| gold triples whose ends are in | gold | missed | missed % |"
        )?;
        writeln!(f, "|---|--:|--:|--:|")?;
        for (d, n) in &self.gold_by_distance {
            let m = self.missed_by_distance.get(d).copied().unwrap_or(0);
            writeln!(
                f,
                "| {d} | {n} | {m} | {:.2} |",
                100.0 * m as f64 / (*n).max(1) as f64
            )?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::corpus::testkit::record as rec;

    #[test]
    fn each_cause_is_found() {
        // Chars: 前降支近段 0-5, 狭窄80% 5-10, ，10, 植入支架 11-15, 。15, 右冠中段 16-20,
        // 正常 20-22, ，22, 左主干通畅 23-28, 。28.
        let text = "前降支近段狭窄80%，植入支架。右冠中段正常，左主干通畅。";
        let bp = ("Bp", 0, 5);
        let sy = ("Sy", 5, 10);
        let tm = ("Tm", 11, 15);
        let rca = ("Bp", 16, 20);
        let ok = ("Sy", 20, 22);
        let gold = vec![rec(
            "g",
            text,
            &[bp, sy, tm, rca, ok],
            &[("BpSy", 0, 1), ("BpTm", 0, 2), ("BpSy", 3, 4)],
        )];
        // Predicted: the LAD finding cut short (a boundary error: one fp, one fn), the
        // treatment not found (fn), a finding that runs on across the comma (fp), the LAD
        // paired with the RCA's finding in the next sentence (fp), the RCA finding right.
        let pred = vec![rec(
            "g",
            text,
            &[bp, ("Sy", 5, 7), ("Sy", 20, 28), rca, ok],
            &[
                ("BpSy", 0, 1),
                ("BpSy", 3, 2),
                ("BpSy", 3, 4),
                ("BpSy", 0, 4),
            ],
        )];
        let a = analyse(&gold, &pred, &gold);
        assert_eq!(
            a.false_negatives.get(&Cause::SpanBoundary),
            Some(&1),
            "{a:?}"
        );
        assert_eq!(
            a.false_negatives.get(&Cause::EntityMissed),
            Some(&1),
            "{a:?}"
        );
        assert_eq!(
            a.false_positives.get(&Cause::SpanBoundary),
            Some(&1),
            "{a:?}"
        );
        assert_eq!(
            a.false_positives.get(&Cause::SpanAcrossClauses),
            Some(&1),
            "{a:?}"
        );
        assert_eq!(
            a.false_positives.get(&Cause::EndsInDifferentSentences),
            Some(&1),
            "{a:?}"
        );
        assert_eq!(a.gold_by_distance["same clause"], 2);
        assert_eq!(a.gold_by_distance["different clauses"], 1);
        assert_eq!(a.missed_by_distance["different clauses"], 1);
        assert_eq!(a.missed_by_distance["same clause"], 1);
        let shown = a.to_string();
        assert!(shown.contains("| **all** | 2 | 3 |"), "{shown}");
        assert_eq!(a.by_relation["BpSy"][&Cause::SpanBoundary], [1, 1]);
        assert_eq!(a.by_relation["BpTm"][&Cause::EntityMissed], [1, 0]);
        assert!(shown.contains("| BpSy | 1 | 3 |"), "{shown}");
    }

    #[test]
    fn the_same_sentence_annotated_otherwise_elsewhere_is_an_inconsistency() {
        let text = "回旋支远段狭窄50%。";
        let ents = [("Bp", 0, 5), ("Sy", 5, 10)];
        // Report a annotates the pair, report b (same sentence) does not.
        let gold = vec![
            rec("a", text, &ents, &[("BpSy", 0, 1)]),
            rec("b", text, &ents, &[]),
        ];
        // The model predicts it in both: right in a, "wrong" in b; and missing it in a
        // (prediction for a empty) would be the same conflict from the other side.
        let pred = vec![
            rec("a", text, &ents, &[]),
            rec("b", text, &ents, &[("BpSy", 0, 1)]),
        ];
        let a = analyse(&gold, &pred, &gold);
        assert_eq!(
            a.false_positives.get(&Cause::AnnotationInconsistency),
            Some(&1),
            "{a:?}"
        );
        assert_eq!(
            a.false_negatives.get(&Cause::AnnotationInconsistency),
            Some(&1),
            "{a:?}"
        );
        assert_eq!(a.examples["fp AnnotationInconsistency"][0].record, "b");
    }

    #[test]
    fn wrong_type_and_pairing_within_a_clause() {
        // Two stents to two vessels in one clause.
        let text = "前降支及回旋支植入支架2.5*18mm及3.0*20mm";
        let ents = [("Bp", 0, 3), ("Bp", 4, 7), ("Mc", 9, 19), ("Mc", 20, 28)];
        let gold = vec![rec("g", text, &ents, &[("McBp", 2, 0), ("McBp", 3, 1)])];
        let pred = vec![rec(
            "g",
            text,
            &ents,
            &[("McBp", 2, 1), ("McBp", 3, 1), ("TmMc", 2, 0)],
        )];
        let a = analyse(&gold, &pred, &gold);
        assert_eq!(
            a.false_positives.get(&Cause::PairingWithinClause),
            Some(&1),
            "{a:?}"
        );
        assert_eq!(
            a.false_positives.get(&Cause::WrongRelationType),
            Some(&1),
            "{a:?}"
        );
        assert_eq!(
            a.false_negatives.get(&Cause::PairingWithinClause),
            Some(&1),
            "{a:?}"
        );
    }
}
