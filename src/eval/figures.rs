//! The numbers behind the evaluation report's pictures that the tables do not hold: the
//! relation confusion matrix, the score against the confidence threshold, the worst sentences
//! and the training curves. They go into `eval.json` under `figures`, so a picture can be
//! checked against the file (issue 12 §1).
//!
//! Records are matched by id as in [`super::evaluate`]; codes are compared as the files give
//! them (read both with one schema). The confusion matrix and the error list need offsets, the
//! threshold curve needs confidences: without them that part is `None` and a note says why.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use serde::{Deserialize, Serialize};

use super::metrics::Prf;
use crate::corpus::sentences::{sentence_of, sentence_spans};
use crate::corpus::{char_slice, Corpus, Record, SpanTriple};

/// What a prediction was confused with; `NONE` is "no relation on that pair of spans".
pub const NONE: &str = "—";

/// Gold relation (rows) against predicted relation (columns) on the same (subject span, object
/// span) pair: the diagonal is right, `NONE` in a row is a missed pair, in a column a spurious
/// one.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Confusion {
    /// Row and column labels, in order: the codes, then `NONE`.
    pub labels: Vec<String>,
    /// `counts[gold][pred]`.
    pub counts: Vec<Vec<usize>>,
}

/// The text-triple score when only predictions with confidence ≥ `threshold` are kept.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ThresholdPoint {
    pub threshold: f64,
    pub precision: f64,
    pub recall: f64,
    pub f1: f64,
    pub predicted: usize,
}

/// One relation in the error list.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ErrorTriple {
    pub subject: (usize, usize),
    pub relation: String,
    pub object: (usize, usize),
    pub subject_text: String,
    pub object_text: String,
}

/// A sentence with its false positives and negatives (span-exact), offsets in the record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SentenceErrors {
    pub record: String,
    pub start: usize,
    pub end: usize,
    pub text: String,
    pub false_positives: Vec<ErrorTriple>,
    pub false_negatives: Vec<ErrorTriple>,
}

impl SentenceErrors {
    pub fn errors(&self) -> usize {
        self.false_positives.len() + self.false_negatives.len()
    }
}

/// One epoch of a run's `metrics.jsonl`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct EpochPoint {
    pub epoch: usize,
    pub train_loss: f64,
    #[serde(default)]
    pub dev_precision: Option<f64>,
    #[serde(default)]
    pub dev_recall: Option<f64>,
    #[serde(default)]
    pub dev_f1: Option<f64>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Figures {
    pub confusion: Option<Confusion>,
    pub thresholds: Option<Vec<ThresholdPoint>>,
    /// The worst sentences, most errors first (at most [`WORST`]).
    pub worst_sentences: Option<Vec<SentenceErrors>>,
    /// Sentences with at least one error, of which `worst_sentences` lists the first.
    pub sentences_with_errors: usize,
    pub training: Option<Vec<EpochPoint>>,
    pub notes: Vec<String>,
}

/// Sentences in the error list.
pub const WORST: usize = 50;

fn by_id(c: &Corpus) -> HashMap<&str, &Record> {
    c.records.iter().map(|r| (r.id.as_str(), r)).collect()
}

/// Everything but the training curves (see [`training_curve`]).
pub fn figures(gold: &Corpus, pred: &Corpus) -> Figures {
    let mut f = Figures::default();
    // As the span-exact score decides: by the files' format (spo spans are string matches).
    if gold.format.has_offsets() && pred.format.has_offsets() {
        f.confusion = Some(confusion(gold, pred));
        let (worst, n) = worst_sentences(gold, pred, WORST);
        f.worst_sentences = Some(worst);
        f.sentences_with_errors = n;
    } else {
        f.notes.push(
            "No confusion matrix and no error list: both files need char offsets (doccano).".into(),
        );
    }
    let confident = pred
        .records
        .iter()
        .any(|r| r.relations.iter().any(|x| x.confidence.is_some()));
    if confident {
        f.thresholds = Some(threshold_curve(gold, pred));
    } else {
        f.notes.push(
            "No threshold curve: the predictions carry no confidences (`cbrrel predict` writes them)."
                .into(),
        );
    }
    f
}

/// The confusion matrix over (record, subject span, object span) pairs.
pub fn confusion(gold: &Corpus, pred: &Corpus) -> Confusion {
    type Pair = (usize, usize, usize, usize);
    let codes_of = |r: &Record| -> BTreeMap<Pair, BTreeSet<String>> {
        let mut m: BTreeMap<Pair, BTreeSet<String>> = BTreeMap::new();
        for (s0, s1, code, o0, o1) in r.span_triples() {
            m.entry((s0, s1, o0, o1)).or_default().insert(code);
        }
        m
    };
    let mut labels: BTreeSet<String> = BTreeSet::new();
    let mut cells: BTreeMap<(String, String), usize> = BTreeMap::new();
    let preds = by_id(pred);
    for g in &gold.records {
        let gm = codes_of(g);
        let pm = preds
            .get(g.id.as_str())
            .map(|p| codes_of(p))
            .unwrap_or_default();
        let pairs: BTreeSet<&Pair> = gm.keys().chain(pm.keys()).collect();
        for pair in pairs {
            let empty = BTreeSet::new();
            let gs = gm.get(pair).unwrap_or(&empty);
            let ps = pm.get(pair).unwrap_or(&empty);
            labels.extend(gs.iter().chain(ps).cloned());
            let mut add = |a: &str, b: &str| {
                *cells.entry((a.to_owned(), b.to_owned())).or_default() += 1;
            };
            for c in gs.intersection(ps) {
                add(c, c);
            }
            let mut gold_only = gs.difference(ps);
            let mut pred_only = ps.difference(gs);
            loop {
                match (gold_only.next(), pred_only.next()) {
                    (Some(a), Some(b)) => add(a, b),
                    (Some(a), None) => add(a, NONE),
                    (None, Some(b)) => add(NONE, b),
                    (None, None) => break,
                }
            }
        }
    }
    let mut labels: Vec<String> = labels.into_iter().collect();
    labels.push(NONE.into());
    let counts = labels
        .iter()
        .map(|g| {
            labels
                .iter()
                .map(|p| cells.get(&(g.clone(), p.clone())).copied().unwrap_or(0))
                .collect()
        })
        .collect();
    Confusion { labels, counts }
}

/// P/R/F1 of the text triples with confidence ≥ t, for t = 0, 0.05, …, 0.95 (a triple's
/// confidence: the highest of its relations). Below the model's own threshold nothing changes:
/// what it did not predict is not in the file.
pub fn threshold_curve(gold: &Corpus, pred: &Corpus) -> Vec<ThresholdPoint> {
    let preds = by_id(pred);
    let mut scored: Vec<(bool, f64)> = Vec::new();
    let mut gold_total = 0;
    for g in &gold.records {
        let gt: BTreeSet<_> = g.text_triples().into_iter().collect();
        gold_total += gt.len();
        let Some(p) = preds.get(g.id.as_str()) else {
            continue;
        };
        let mut best: BTreeMap<(String, String, String), f64> = BTreeMap::new();
        for r in &p.relations {
            let key = (
                r.subject.text.clone(),
                r.code.clone(),
                r.object.text.clone(),
            );
            let c = f64::from(r.confidence.unwrap_or(1.0));
            let e = best.entry(key).or_insert(c);
            *e = e.max(c);
        }
        for (t, c) in best {
            scored.push((gt.contains(&t), c));
        }
    }
    (0..20)
        .map(|k| {
            let threshold = k as f64 * 0.05;
            let kept = scored.iter().filter(|s| s.1 >= threshold - 1e-9);
            let (tp, n) = kept.fold((0, 0), |(tp, n), s| (tp + usize::from(s.0), n + 1));
            let p = Prf::from_counts(tp, n - tp, gold_total - tp);
            ThresholdPoint {
                threshold,
                precision: p.precision,
                recall: p.recall,
                f1: p.f1,
                predicted: n,
            }
        })
        .collect()
}

fn error_triple(r: &Record, t: &SpanTriple) -> ErrorTriple {
    let text = |a: usize, b: usize| char_slice(&r.text, a, b).unwrap_or_default().to_owned();
    ErrorTriple {
        subject: (t.0, t.1),
        relation: t.2.clone(),
        object: (t.3, t.4),
        subject_text: text(t.0, t.1),
        object_text: text(t.3, t.4),
    }
}

/// Sentences by their span-exact errors (a triple belongs to the sentence of its subject),
/// the `n` with most errors first (ties: file order), and how many had any.
pub fn worst_sentences(gold: &Corpus, pred: &Corpus, n: usize) -> (Vec<SentenceErrors>, usize) {
    let preds = by_id(pred);
    let mut all = Vec::new();
    for g in &gold.records {
        let spans = sentence_spans(&g.text);
        if spans.is_empty() {
            continue;
        }
        let gt: BTreeSet<SpanTriple> = g.span_triples().into_iter().collect();
        let pt: BTreeSet<SpanTriple> = preds
            .get(g.id.as_str())
            .map(|p| p.span_triples().into_iter().collect())
            .unwrap_or_default();
        let mut per: BTreeMap<usize, SentenceErrors> = BTreeMap::new();
        let wrong = pt
            .difference(&gt)
            .map(|t| (t, true))
            .chain(gt.difference(&pt).map(|t| (t, false)));
        for (t, false_positive) in wrong {
            let k = sentence_of(&spans, t.0);
            let (start, end) = spans[k];
            let e = per.entry(k).or_insert_with(|| SentenceErrors {
                record: g.id.clone(),
                start,
                end,
                text: char_slice(&g.text, start, end)
                    .unwrap_or_default()
                    .to_owned(),
                false_positives: vec![],
                false_negatives: vec![],
            });
            let triple = error_triple(g, t);
            if false_positive {
                e.false_positives.push(triple);
            } else {
                e.false_negatives.push(triple);
            }
        }
        all.extend(per.into_values());
    }
    let total = all.len();
    all.sort_by_key(|s| std::cmp::Reverse(s.errors()));
    all.truncate(n);
    (all, total)
}

/// The epochs of a run directory's `metrics.jsonl` (lines that do not parse are skipped and
/// counted in the second value).
pub fn training_curve(metrics_jsonl: &str) -> (Vec<EpochPoint>, usize) {
    let mut bad = 0;
    let points = metrics_jsonl
        .lines()
        .filter(|l| !l.trim().is_empty())
        .filter_map(|l| {
            let p = serde_json::from_str::<EpochPoint>(l).ok();
            bad += usize::from(p.is_none());
            p
        })
        .collect();
    (points, bad)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::corpus::read_corpus_str;

    const GOLD: &str = r#"{"id": 1, "text": "前降支近段狭窄80%。右冠远段闭塞。", "entities": [{"id": 1, "label": "身体部位", "start_offset": 0, "end_offset": 5}, {"id": 2, "label": "症状体征", "start_offset": 5, "end_offset": 10}, {"id": 3, "label": "身体部位", "start_offset": 11, "end_offset": 15}, {"id": 4, "label": "症状体征", "start_offset": 15, "end_offset": 17}], "relations": [{"id": 1, "from_id": 1, "to_id": 2, "type": "身体部位_症状体征"}, {"id": 2, "from_id": 3, "to_id": 4, "type": "身体部位_症状体征"}]}"#;
    // Right on the first pair (0.9), the second pair as BpIn (0.6), and a spurious BpSy (0.3).
    const PRED: &str = r#"{"id": 1, "text": "前降支近段狭窄80%。右冠远段闭塞。", "entities": [{"id": 1, "label": "身体部位", "start_offset": 0, "end_offset": 5}, {"id": 2, "label": "症状体征", "start_offset": 5, "end_offset": 10}, {"id": 3, "label": "身体部位", "start_offset": 11, "end_offset": 15}, {"id": 4, "label": "检查检验", "start_offset": 15, "end_offset": 17}, {"id": 5, "label": "症状体征", "start_offset": 11, "end_offset": 13}], "relations": [{"id": 1, "from_id": 1, "to_id": 2, "type": "身体部位_症状体征", "confidence": 0.9}, {"id": 2, "from_id": 3, "to_id": 4, "type": "身体部位_检查检验", "confidence": 0.6}, {"id": 3, "from_id": 1, "to_id": 5, "type": "身体部位_症状体征", "confidence": 0.3}]}"#;

    fn corpora() -> (Corpus, Corpus) {
        (
            read_corpus_str(GOLD, None, None).unwrap(),
            read_corpus_str(PRED, None, None).unwrap(),
        )
    }

    #[test]
    fn confusion_pairs_relations_on_the_same_spans() {
        let (g, p) = corpora();
        let c = confusion(&g, &p);
        assert_eq!(c.labels, ["BpIn", "BpSy", NONE]);
        // BpSy→BpSy 1; BpSy→BpIn 1 (same spans, other type); spurious BpSy on new spans.
        assert_eq!(c.counts, [[0, 0, 0], [1, 1, 0], [0, 1, 0]]);
    }

    #[test]
    fn threshold_curve_keeps_the_confident_triples() {
        let (g, p) = corpora();
        let t = threshold_curve(&g, &p);
        assert_eq!(t.len(), 20);
        let at = |x: f64| t.iter().find(|p| (p.threshold - x).abs() < 1e-9).unwrap();
        assert_eq!(
            (at(0.0).predicted, at(0.5).predicted, at(0.65).predicted),
            (3, 2, 1)
        );
        assert!((at(0.0).precision - 1.0 / 3.0).abs() < 1e-9);
        assert!((at(0.65).precision - 1.0).abs() < 1e-9 && (at(0.65).recall - 0.5).abs() < 1e-9);
    }

    #[test]
    fn worst_sentences_hold_the_span_errors_of_each_sentence() {
        let (g, p) = corpora();
        let (worst, n) = worst_sentences(&g, &p, 50);
        assert_eq!(n, 2);
        // Sentence 1 (前降支…): one false positive (the spurious BpSy to 右冠).
        // Sentence 2 (右冠…): the BpIn is a false positive, the BpSy a false negative.
        assert_eq!(worst[0].text, "右冠远段闭塞。");
        assert_eq!(
            (
                worst[0].false_positives.len(),
                worst[0].false_negatives.len()
            ),
            (1, 1)
        );
        assert_eq!(worst[1].false_positives[0].object_text, "右冠");
    }

    #[test]
    fn training_curve_reads_metrics_lines() {
        let (points, bad) = training_curve(
            "{\"epoch\":1,\"train_loss\":2.5,\"dev_f1\":0.1}\nnot json\n{\"epoch\":2,\"train_loss\":0.4}\n",
        );
        assert_eq!(bad, 1);
        assert_eq!(points.len(), 2);
        assert_eq!(points[0].dev_f1, Some(0.1));
    }
}
