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
//! - **boundary convention** — an end overlaps a gold entity and differs from it by an affix
//!   at one side only (`由远及近` before a dilation, `mm` after a size), and the gold entity
//!   follows the rarer of the two ways the gold data bounds that affix for its type (inside
//!   the entity, or right outside it): the model learnt the commoner way, and no model can
//!   follow both (the affixes, with how often each way is taken, are listed);
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
    BoundaryConvention,
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
            Cause::BoundaryConvention => {
                "boundary convention (gold bounds an affix the rarer of its type's two ways)"
            }
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
    /// The affixes behind the boundary-convention errors, keyed "type side affix" (`Tm start
    /// 由远及近`): how many errors each explains and how the gold data bounds it.
    pub conventions: BTreeMap<String, Convention>,
}

/// One affix the gold data bounds both ways (see [`Cause::BoundaryConvention`]).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Convention {
    /// Errors (missed and wrong) it explains.
    pub errors: usize,
    /// Gold entities of the type that hold the affix at that side…
    pub inside: usize,
    /// …and those that have it right outside that side.
    pub outside: usize,
}

/// Longest affix (chars) taken for a boundary convention: a longer difference is another
/// entity, not another way of bounding this one.
const AFFIX_MAX: usize = 8;

/// The side of a span an affix sits at.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Side {
    Start,
    End,
}

/// A gold entity as [`Conventions`] keeps it: (type, chars, chars before, chars after).
type Bounded = (String, Vec<char>, Vec<char>, Vec<char>);

/// How the gold data bounds affixes: every entity with its type, its chars and up to
/// [`AFFIX_MAX`] chars on either side of it, and the counts asked so far.
struct Conventions {
    entities: Vec<Bounded>,
    counted: HashMap<(String, Side, String), [usize; 2]>,
}

impl Conventions {
    fn new(reference: &[Record]) -> Conventions {
        let mut entities = Vec::new();
        for r in reference {
            let chars: Vec<char> = r.text.chars().collect();
            for e in &r.entities {
                if e.start >= e.end || e.end > chars.len() {
                    continue;
                }
                entities.push((
                    e.label.clone(),
                    chars[e.start..e.end].to_vec(),
                    chars[e.start.saturating_sub(AFFIX_MAX)..e.start].to_vec(),
                    chars[e.end..(e.end + AFFIX_MAX).min(chars.len())].to_vec(),
                ));
            }
        }
        Conventions {
            entities,
            counted: HashMap::new(),
        }
    }

    /// [inside, outside]: entities of type `label` longer than `affix` that hold it at `side`,
    /// and entities of the type it sits right outside of at that side.
    fn count(&mut self, label: &str, side: Side, affix: &[char]) -> [usize; 2] {
        let key = (label.to_owned(), side, affix.iter().collect::<String>());
        let entities = &self.entities;
        *self.counted.entry(key).or_insert_with(|| {
            let mut n = [0, 0];
            for (l, chars, before, after) in entities {
                if l != label {
                    continue;
                }
                let inside = chars.len() > affix.len()
                    && match side {
                        Side::Start => chars.starts_with(affix),
                        Side::End => chars.ends_with(affix),
                    };
                let outside = match side {
                    Side::Start => before.ends_with(affix),
                    Side::End => after.starts_with(affix),
                };
                n[0] += usize::from(inside);
                n[1] += usize::from(outside);
            }
            n
        })
    }

    /// Whether `gold` (of type `label`) and `other`, an overlapping span of the same text,
    /// differ by one affix at one side that the gold data bounds the other way more often than
    /// `gold` does; the affix's key and counts when they do.
    fn rarer(
        &mut self,
        chars: &[char],
        gold: End,
        label: &str,
        other: End,
    ) -> Option<(String, [usize; 2])> {
        let (side, lo, hi, gold_holds) = if gold.start == other.start && gold.end != other.end {
            let (lo, hi) = (gold.end.min(other.end), gold.end.max(other.end));
            (Side::End, lo, hi, gold.end > other.end)
        } else if gold.end == other.end && gold.start != other.start {
            let (lo, hi) = (gold.start.min(other.start), gold.start.max(other.start));
            (Side::Start, lo, hi, gold.start < other.start)
        } else {
            return None;
        };
        if hi - lo > AFFIX_MAX || hi > chars.len() {
            return None;
        }
        let affix = &chars[lo..hi];
        let n = self.count(label, side, affix);
        let (gold_way, other_way) = if gold_holds {
            (n[0], n[1])
        } else {
            (n[1], n[0])
        };
        (gold_way < other_way).then(|| {
            let at = match side {
                Side::Start => "start",
                Side::End => "end",
            };
            (
                format!("{label} {at} {}", affix.iter().collect::<String>()),
                n,
            )
        })
    }
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

/// One more error explained by the boundary convention `affix` (counts `n`: [inside, outside]).
fn note_convention(out: &mut ErrorAnalysis, affix: String, n: [usize; 2]) {
    let c = out.conventions.entry(affix).or_default();
    c.errors += 1;
    c.inside = n[0];
    c.outside = n[1];
}

/// Affixes listed under the error table, the most errors first.
const CONVENTIONS_SHOWN: usize = 10;

/// Classify the errors of `pred` against `gold` (records matched by id; a gold record without
/// predictions counts every triple as missed). `reference` is the gold data the annotation
/// consistency is judged on (the whole corpus, for a cross-validation's pooled test parts).
pub fn analyse(gold: &[Record], pred: &[Record], reference: &[Record]) -> ErrorAnalysis {
    let ix = sentence_index(reference);
    let mut conventions = Conventions::new(reference);
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
        let gold_ends: Vec<(End, &str)> = g
            .entities
            .iter()
            .map(|e| {
                let end = End {
                    start: e.start,
                    end: e.end,
                };
                (end, e.label.as_str())
            })
            .collect();
        // The affix behind a boundary error, when the gold bounds it the rarer way: the first
        // of the (gold end, overlapping span) pairs given that is one.
        let mut convention = |mut pairs: &mut dyn Iterator<Item = (End, End)>| {
            // (`&mut &mut dyn Iterator` is a sized iterator: find_map needs one.)
            (&mut pairs).find_map(|(gold, other)| {
                let label = gold_ends
                    .iter()
                    .find(|(e, _)| *e == gold)
                    .map_or("", |(_, l)| *l);
                conventions.rarer(&layout.chars, gold, label, other)
            })
        };
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
            } else if let Some((affix, n)) = convention(&mut [*s, *o].into_iter().flat_map(|e| {
                let near = pred_ends.iter().filter(move |p| p.overlaps(e) && **p != e);
                near.map(move |p| (e, *p))
            })) {
                note_convention(&mut out, affix, n);
                Cause::BoundaryConvention
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
            let boundary = |e: End| gold_ends.iter().any(|(g, _)| g.overlaps(e) && *g != e);
            let known = |e: End| gold_ends.iter().any(|(g, _)| *g == e);
            let related_otherwise = gold_t
                .iter()
                .any(|(k, gs, go)| gs == s && go == o && k.1 != key.1);
            let cause = if elsewhere(*s, *o, key, true) {
                Cause::AnnotationInconsistency
            } else if crosses(&key.0) || crosses(&key.2) {
                Cause::SpanAcrossClauses
            } else if let Some((affix, n)) = convention(&mut [*s, *o].into_iter().flat_map(|e| {
                let near = gold_ends
                    .iter()
                    .filter(move |(g, _)| g.overlaps(e) && *g != e);
                near.map(move |(g, _)| (*g, e))
            })) {
                note_convention(&mut out, affix, n);
                Cause::BoundaryConvention
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
        if !self.conventions.is_empty() {
            let mut shown: Vec<(&String, &Convention)> = self.conventions.iter().collect();
            shown.sort_by_key(|(k, c)| (std::cmp::Reverse(c.errors), k.as_str()));
            writeln!(f)?;
            writeln!(
                f,
                "| convention (type side affix) | errors | gold inside | gold right outside |"
            )?;
            writeln!(f, "|---|--:|--:|--:|")?;
            for (k, c) in shown.iter().take(CONVENTIONS_SHOWN) {
                writeln!(f, "| {k} | {} | {} | {} |", c.errors, c.inside, c.outside)?;
            }
            if shown.len() > CONVENTIONS_SHOWN {
                let rest: usize = shown[CONVENTIONS_SHOWN..]
                    .iter()
                    .map(|(_, c)| c.errors)
                    .sum();
                writeln!(
                    f,
                    "| {} more affixes | {rest} | | |",
                    shown.len() - CONVENTIONS_SHOWN
                )?;
            }
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
    fn a_boundary_the_gold_draws_the_rarer_way_is_a_convention_error() {
        // Three reports bound "由远及近" outside the dilation, one (the test report) inside.
        let outside = "由远及近以8atm扩张2次。";
        let ents_out = [("Tm", 4, 13)];
        let inside = "前降支中段由远及近以10atm扩张1次。";
        // The test report with its dilation starting at 由 (5) or at 以 (9).
        let report = |tm_start: usize| {
            rec(
                "t",
                inside,
                &[("Bp", 0, 5), ("Tm", tm_start, 19)],
                &[("BpTm", 0, 1)],
            )
        };
        let corpus_with = |test: &Record| -> Vec<Record> {
            (0..3)
                .map(|i| rec(&format!("o{i}"), outside, &ents_out, &[]))
                .chain(std::iter::once(test.clone()))
                .collect()
        };
        let (gold_in, gold_out) = (report(5), report(9));
        let reference = corpus_with(&gold_in);
        // The model bounds it the common way: one missed, one wrong, both the convention's.
        let pred = vec![gold_out.clone()];
        let a = analyse(std::slice::from_ref(&gold_in), &pred, &reference);
        assert_eq!(
            a.false_negatives.get(&Cause::BoundaryConvention),
            Some(&1),
            "{a:?}"
        );
        assert_eq!(
            a.false_positives.get(&Cause::BoundaryConvention),
            Some(&1),
            "{a:?}"
        );
        let c = &a.conventions["Tm start 由远及近"];
        assert_eq!((c.errors, c.inside, c.outside), (2, 1, 3));
        assert!(
            a.to_string().contains("| Tm start 由远及近 | 2 | 1 | 3 |"),
            "{a}"
        );

        // Had the gold bounded it the common way and the model not, the error is the model's.
        let pred_in = vec![gold_in];
        let reference = corpus_with(&gold_out);
        let b = analyse(std::slice::from_ref(&gold_out), &pred_in, &reference);
        assert_eq!(
            b.false_negatives.get(&Cause::SpanBoundary),
            Some(&1),
            "{b:?}"
        );
        assert_eq!(
            b.false_positives.get(&Cause::SpanBoundary),
            Some(&1),
            "{b:?}"
        );
        assert!(b.conventions.is_empty());
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
