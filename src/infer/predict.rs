//! Prediction: records (id + text) in, records with predicted entities and relations out,
//! char offsets back into each record's text and a confidence on every entity and relation.
//!
//! Segments go through the model in length-bucketed batches; for each batch the encoder stack
//! runs once, subjects are decoded for every segment, and all subjects of the batch go through
//! the object taggers together (never one encoder pass per subject). Entity types come from the
//! relation's signature in the schema (the taggers predict spans, not types). An ensemble
//! (`Predictor::ensemble`) runs every model on each batch and decodes the mean of their
//! probabilities.

use std::collections::HashMap;

use rayon::prelude::*;

use serde::{Deserialize, Serialize};
use tch::{Device, Kind, Tensor};

use super::batch::{bucket_batches, make_batch};
use super::decode::{decode_spans, SpanPred};
use super::rules::{
    DecodeRules, PairRule, PairScope, PairVerdict, SpanRule, TextLayout, TypedPair,
};
use crate::corpus::{char_slice, Arg, Entity, Record, Relation, Schema};
use crate::model::{Cbrrel, SubjectSpans};
use crate::text::{label_records, BertTokenizer, SegmentConfig, SegmentExample, TokenizeError};

/// How the taggers' probabilities become spans and triples: `[decode]` of train.toml (the
/// thresholds as `subject_threshold`, `object_threshold`) and `thresholds` of a run directory's
/// config.json, one type for both. Thresholds are 0.5 by default, as in CasRel. Issue 13 §3's
/// switches (rules.rs, tune.rs) are on in the shipped train.toml since the folds measured them
/// (BENCHMARKS.md); a config.json written before them lacks the fields and decodes as it was
/// trained to, CasRel's way (the serde defaults below).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DecodeSettings {
    #[serde(alias = "subject_threshold")]
    pub subject: f32,
    #[serde(alias = "object_threshold")]
    pub object: f32,
    /// `nearest` (CasRel) or `bounded` (within the longest gold entity, not across a clause
    /// mark).
    #[serde(default)]
    pub span_rule: SpanRule,
    /// `segment` (CasRel), `learned` (per relation, the clause or sentence its training
    /// pairs keep to) or `tuned` (per relation, the scope that scores best on dev, tune.rs).
    #[serde(default)]
    pub pair_scope: PairScope,
    /// Share of a relation's training pairs a clause (or sentence) must hold for `learned`
    /// to keep its pairs within one (`tuned` starts from it and keeps it where dev has too
    /// few triples to choose by).
    #[serde(default = "default_scope_coverage")]
    pub scope_coverage: f32,
    /// `off` (CasRel), `learned` (per relation, a subject pairs only with objects it reaches
    /// without passing another entity of its type, where the training pairs keep to that) or
    /// `tuned` (per relation, as scores best on dev, tune.rs); rules.rs.
    #[serde(default)]
    pub pair_block: PairRule,
    /// `off` (CasRel), `learned` (per relation, objects only on the side of the subject the
    /// training pairs keep to, where they keep to one) or `tuned` (per relation, as scores
    /// best on dev); rules.rs.
    #[serde(default)]
    pub pair_direction: PairRule,
    /// Share of a relation's training pairs that must keep to a rule of order (pass no entity
    /// of the subject's type; lie on one side of it) for `learned` to apply it (`tuned` starts
    /// from that).
    #[serde(default = "default_scope_coverage")]
    pub order_coverage: f32,
    /// Tune an object threshold per relation on the dev set after training (tune.rs), saved
    /// in the run directory (`object_thresholds`).
    #[serde(default)]
    pub tune_thresholds: bool,
    /// Subjects kept per segment, the most confident first (issue 11 §2): every token over the
    /// subject threshold opens a subject, so an untrained or badly trained model, or an odd
    /// report, could send hundreds per segment to the object taggers. The coronary corpus has
    /// at most 43 subjects in a whole report; extra ones are dropped and counted.
    #[serde(default = "default_max_subjects")]
    pub max_subjects: usize,
    /// Subjects per pass of the object taggers: one pass holds [chunk, L, H] activations, so
    /// memory is bounded by this, not by how many subjects a batch has. Chunking changes no
    /// probability (each subject's row is computed on its own).
    #[serde(default = "default_subject_chunk")]
    pub subject_chunk: usize,
}

fn default_scope_coverage() -> f32 {
    0.99
}

fn default_max_subjects() -> usize {
    64
}

fn default_subject_chunk() -> usize {
    256
}

impl Default for DecodeSettings {
    fn default() -> Self {
        DecodeSettings {
            subject: 0.5,
            object: 0.5,
            span_rule: SpanRule::default(),
            pair_scope: PairScope::default(),
            scope_coverage: default_scope_coverage(),
            pair_block: PairRule::default(),
            pair_direction: PairRule::default(),
            order_coverage: default_scope_coverage(),
            tune_thresholds: false,
            max_subjects: default_max_subjects(),
            subject_chunk: default_subject_chunk(),
        }
    }
}

/// Segment and tokenize records for prediction (annotations, if any, are ignored).
pub fn prepare_examples(
    records: &[Record],
    tokenizer: &BertTokenizer,
    relation_codes: &[String],
    segment: &SegmentConfig,
) -> Result<Vec<SegmentExample>, TokenizeError> {
    Ok(label_records(records, tokenizer, relation_codes, segment)?.0)
}

/// A model ready to predict, borrowed from whoever owns it (a trainer or a loaded run).
#[derive(Clone)]
pub struct Predictor<'a> {
    pub model: &'a Cbrrel,
    /// Further models predicting with `model` (an ensemble, issue 13 §3): every tagger
    /// probability is the mean of all the models' (subjects decoded from the mean subject
    /// probabilities, then each model's object taggers conditioned on those subjects). They
    /// share `model`'s tokenizer, segmenting and relation order (checked when they join a
    /// loaded run, run_dir.rs `LoadedModel::join`); empty for a single model.
    pub ensemble: Vec<&'a Cbrrel>,
    pub tokenizer: &'a BertTokenizer,
    pub schema: &'a Schema,
    pub thresholds: DecodeSettings,
    /// The span and pairing rules `thresholds` switch on, with the statistics they read.
    pub rules: DecodeRules,
    pub segment: SegmentConfig,
    pub device: Device,
    pub batch_size: usize,
}

/// One predicted triple in char offsets of its record.
#[derive(Debug, Clone, PartialEq)]
struct CharTriple {
    subject: (usize, usize, f32),
    relation: usize,
    object: (usize, usize, f32),
}

/// Rows of a [rows, len] probability matrix flattened row-major.
fn row(v: &[f32], r: usize, len: usize) -> &[f32] {
    &v[r * len..(r + 1) * len]
}

/// Sigmoid of logits, in f32 whatever the model's dtype (bf16 on the CPU, f16 under CUDA
/// autocast): the logits are widened first, so a probability next to a threshold is not
/// rounded to the half type's step (≈ 0.004 at 0.5 in bf16) before it is compared. With
/// several models (an ensemble), the mean of their probabilities, taken on the device.
fn probs<'t>(logits: impl IntoIterator<Item = &'t Tensor>) -> Vec<f32> {
    let mut n = 0u32;
    let mut sum: Option<Tensor> = None;
    for t in logits {
        let p = t.to_kind(Kind::Float).sigmoid();
        sum = Some(match sum {
            None => p,
            Some(s) => s + p,
        });
        n += 1;
    }
    let mut mean = sum.expect("at least one model");
    if n > 1 {
        mean /= f64::from(n);
    }
    Vec::<f32>::try_from(mean.to_device(Device::Cpu).flatten(0, -1)).expect("float tensor")
}

impl Predictor<'_> {
    /// `model` and the ensemble's models, `model` first.
    fn members(&self) -> Vec<&Cbrrel> {
        std::iter::once(self.model)
            .chain(self.ensemble.iter().copied())
            .collect()
    }

    /// Predict every record. Records keep their id and text; their annotations are ignored.
    pub fn predict(&self, records: &[Record]) -> Result<Vec<Record>, TokenizeError> {
        let examples = self.prepare(records)?;
        Ok(self.predict_prepared(records, &examples))
    }

    /// Segment and tokenize `records` (rayon across records). Needs only the tokenizer, so
    /// the extract stage runs it for the next shard on another thread while the model works.
    pub fn prepare(&self, records: &[Record]) -> Result<Vec<SegmentExample>, TokenizeError> {
        prepare_examples(
            records,
            self.tokenizer,
            &self.model.config.relations,
            &self.segment,
        )
    }

    /// Predict records whose segments `prepare` made.
    pub fn predict_prepared(&self, records: &[Record], examples: &[SegmentExample]) -> Vec<Record> {
        self.predict_counted(records, examples).0
    }

    /// [`predict_prepared`](Self::predict_prepared), with what the memory bounds did.
    pub fn predict_counted(
        &self,
        records: &[Record],
        examples: &[SegmentExample],
    ) -> (Vec<Record>, PredictStats) {
        let mut stats = PredictStats::default();
        let codes = &self.model.config.relations;
        let n_rel = codes.len();
        let lengths: Vec<usize> = examples.iter().map(SegmentExample::len).collect();
        let thresholds = self.thresholds;
        let rules = &self.rules;
        // What the rules read of each report and, per segment, how far a span may reach.
        let layouts: HashMap<&str, TextLayout> = if rules.is_on() {
            records
                .par_iter()
                .map(|r| (r.id.as_str(), TextLayout::new(&r.text)))
                .collect()
        } else {
            HashMap::new()
        };
        let reach: Vec<Option<Vec<usize>>> = examples
            .par_iter()
            .map(|ex| {
                layouts
                    .get(ex.record_id.as_str())
                    .and_then(|l| rules.reach(ex, l))
            })
            .collect();
        let members = self.members();
        let _guard = tch::no_grad_guard();
        // Object spans are decoded on another thread while the model runs the next batch when
        // a core is left for it; the decoder takes batches in order, so the output does not
        // depend on timing. When libtorch's intra-op threads already take every core (the
        // default on the CPU), a decoder thread beside them preempts one of them and stalls
        // every parallel region behind its barrier (measured by `make bench-model`), so the
        // batch is decoded inline instead.
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        let overlap =
            self.device != Device::Cpu || (tch::get_num_threads().max(1) as usize) < cores;
        let context = DecodeContext {
            examples,
            n_rel,
            thresholds,
            rules,
            layouts: &layouts,
            reach: &reach,
        };
        let (found, left_out) = std::thread::scope(|scope| {
            let (tx, rx) = std::sync::mpsc::channel::<ObjectProbs>();
            let context = &context;
            let decoder = overlap.then(|| {
                scope.spawn(move || {
                    let mut found: HashMap<&str, Vec<CharTriple>> = HashMap::new();
                    let mut left_out = PairsLeftOut::default();
                    for job in rx {
                        context.decode_objects(&job, &mut found, &mut left_out);
                    }
                    (found, left_out)
                })
            });
            let mut inline: HashMap<&str, Vec<CharTriple>> = HashMap::new();
            let mut inline_left_out = PairsLeftOut::default();
            for idx in bucket_batches(&lengths, self.batch_size, None) {
                let batch = make_batch(examples, &idx, n_rel, self.device);
                let seq_len = batch.input_ids.size()[1] as usize;
                let encoded: Vec<_> = members
                    .iter()
                    .map(|m| {
                        tch::autocast(self.device.is_cuda(), || {
                            m.encode(&batch.input_ids, &batch.mask, false)
                        })
                    })
                    .collect();
                let (ps, pe) = (
                    probs(encoded.iter().map(|e| &e.subject.start)),
                    probs(encoded.iter().map(|e| &e.subject.end)),
                );
                // Subjects of every segment of the batch (the object pass needs them now).
                let mut subjects: Vec<(usize, SpanPred)> = Vec::new();
                for (b, &i) in idx.iter().enumerate() {
                    let len = examples[i].len();
                    let found = decode_spans(
                        row(&ps, b, seq_len),
                        row(&pe, b, seq_len),
                        (1, len - 1),
                        (thresholds.subject, thresholds.subject),
                        reach[i].as_deref(),
                    );
                    stats.subjects += found.len();
                    let kept = most_confident(found, thresholds.max_subjects);
                    stats.subjects_capped += kept.1;
                    subjects.extend(kept.0.into_iter().map(|s| (b, s)));
                }
                if subjects.is_empty() {
                    continue;
                }
                // The object taggers a chunk of subjects at a time; each chunk's rows follow
                // the previous ones', so the flattened [N, R, L] probabilities are the same
                // as from one pass.
                let (mut start, mut end) = (Vec::new(), Vec::new());
                for part in subjects.chunks(thresholds.subject_chunk.max(1)) {
                    stats.largest_object_pass = stats.largest_object_pass.max(part.len());
                    let spans = SubjectSpans::from_vecs(
                        &part.iter().map(|(b, _)| *b as i64).collect::<Vec<_>>(),
                        &part.iter().map(|(_, s)| s.start as i64).collect::<Vec<_>>(),
                        &part.iter().map(|(_, s)| s.end as i64).collect::<Vec<_>>(),
                        self.device,
                    );
                    let objects: Vec<_> = members
                        .iter()
                        .zip(&encoded)
                        .map(|(m, e)| {
                            tch::autocast(self.device.is_cuda(), || m.objects(e, &spans, false))
                        })
                        .collect();
                    // [N, L, R] → [N, R, L] so that each (subject, relation) row is contiguous.
                    let rows = |t: &Tensor| t.permute([0, 2, 1]).contiguous();
                    let starts: Vec<Tensor> = objects.iter().map(|o| rows(&o.start)).collect();
                    let ends: Vec<Tensor> = objects.iter().map(|o| rows(&o.end)).collect();
                    start.extend(probs(&starts));
                    end.extend(probs(&ends));
                }
                let job = ObjectProbs {
                    idx,
                    subjects,
                    start,
                    end,
                    seq_len,
                };
                if decoder.is_some() {
                    tx.send(job).expect("decoder thread alive");
                } else {
                    context.decode_objects(&job, &mut inline, &mut inline_left_out);
                }
            }
            drop(tx);
            match decoder {
                Some(d) => d.join().expect("decoder thread"),
                None => (inline, inline_left_out),
            }
        });
        stats.pairs_out_of_scope = left_out.out_of_scope;
        stats.pairs_wrong_side = left_out.wrong_side;
        let schema = self.schema;
        let types = relation_types(codes, schema);
        let (predicted, blocked): (Vec<Record>, Vec<usize>) = records
            .par_iter()
            .map(|r| {
                let triples = found.get(r.id.as_str()).map(Vec::as_slice).unwrap_or(&[]);
                if rules.blocks_any() {
                    let kept = drop_blocked(rules, &types, triples);
                    (
                        to_record(codes, &types, r, &kept),
                        triples.len() - kept.len(),
                    )
                } else {
                    (to_record(codes, &types, r, triples), 0)
                }
            })
            .unzip();
        stats.pairs_blocked = blocked.iter().sum();
        (predicted, stats)
    }
}

/// What a prediction's memory bounds did (issue 11 §2).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PredictStats {
    /// Subjects decoded, before the cap.
    pub subjects: usize,
    /// Subjects dropped by `max_subjects` (the least confident of their segment).
    pub subjects_capped: usize,
    /// The most subjects one pass of the object taggers took (≤ `subject_chunk`).
    pub largest_object_pass: usize,
    /// Decoded (subject, relation, object) pairs the decoding rules left out (rules.rs): the
    /// object outside the relation's clause or sentence (`pair_scope`), on the side of the
    /// subject its pairs do not keep to (`pair_direction`), past another entity of the
    /// subject's type (`pair_block`). Each pair is counted under the first rule that drops it.
    pub pairs_out_of_scope: usize,
    pub pairs_wrong_side: usize,
    pub pairs_blocked: usize,
}

/// Pairs the scope and direction rules left out while decoding objects.
#[derive(Debug, Clone, Copy, Default)]
struct PairsLeftOut {
    out_of_scope: usize,
    wrong_side: usize,
}

/// The `max` most confident of a segment's subjects, in their order in the text; and how many
/// were dropped. Ties keep the earlier span.
fn most_confident(spans: Vec<SpanPred>, max: usize) -> (Vec<SpanPred>, usize) {
    if spans.len() <= max {
        return (spans, 0);
    }
    let mut order: Vec<usize> = (0..spans.len()).collect();
    order.sort_by(|&a, &b| {
        spans[b]
            .confidence()
            .total_cmp(&spans[a].confidence())
            .then(a.cmp(&b))
    });
    order.truncate(max);
    order.sort_unstable();
    (order.iter().map(|&i| spans[i]).collect(), spans.len() - max)
}

/// Object probabilities of one batch, on their way to the decoder thread.
struct ObjectProbs {
    idx: Vec<usize>,
    subjects: Vec<(usize, SpanPred)>,
    /// [N, R, L] flattened.
    start: Vec<f32>,
    end: Vec<f32>,
    seq_len: usize,
}

/// What the decoder thread reads besides each batch's probabilities.
struct DecodeContext<'e> {
    examples: &'e [SegmentExample],
    n_rel: usize,
    thresholds: DecodeSettings,
    rules: &'e DecodeRules,
    layouts: &'e HashMap<&'e str, TextLayout>,
    /// Per example (rules.rs `reach`).
    reach: &'e [Option<Vec<usize>>],
}

impl<'e> DecodeContext<'e> {
    /// Decode the objects of every (subject, relation) row of a batch into char triples.
    fn decode_objects(
        &self,
        job: &ObjectProbs,
        found: &mut HashMap<&'e str, Vec<CharTriple>>,
        left_out: &mut PairsLeftOut,
    ) {
        let n_rel = self.n_rel;
        for (n, (b, subject)) in job.subjects.iter().enumerate() {
            let i = job.idx[*b];
            let ex = &self.examples[i];
            let layout = self.layouts.get(ex.record_id.as_str());
            let chars = |s: &SpanPred| -> Option<(usize, usize, f32)> {
                let (a, _) = ex.offsets[s.start]?;
                let (_, z) = ex.offsets[s.end]?;
                Some((a, z, s.confidence()))
            };
            let Some(sc) = chars(subject) else { continue };
            for r in 0..n_rel {
                let rrow = n * n_rel + r;
                let (ps, pe) = (
                    row(&job.start, rrow, job.seq_len),
                    row(&job.end, rrow, job.seq_len),
                );
                for object in decode_spans(
                    ps,
                    pe,
                    (1, ex.len() - 1),
                    {
                        let t = self.rules.object_threshold(r, self.thresholds.object);
                        (t, t)
                    },
                    self.reach[i].as_deref(),
                ) {
                    let Some(oc) = chars(&object) else { continue };
                    match layout.map(|l| self.rules.pair_verdict(r, l, (sc.0, sc.1), (oc.0, oc.1)))
                    {
                        Some(PairVerdict::OutOfScope) => {
                            left_out.out_of_scope += 1;
                            continue;
                        }
                        Some(PairVerdict::WrongSide) => {
                            left_out.wrong_side += 1;
                            continue;
                        }
                        Some(PairVerdict::Allowed) | None => {}
                    }
                    found
                        .entry(ex.record_id.as_str())
                        .or_default()
                        .push(CharTriple {
                            subject: sc,
                            relation: r,
                            object: oc,
                        });
                }
            }
        }
    }
}

/// Each relation's (subject type, object type), in the model's relation order.
fn relation_types(codes: &[String], schema: &Schema) -> Vec<(String, String)> {
    codes
        .iter()
        .map(|code| {
            schema
                .relation_rows(code)
                .next()
                .map(|r| (r.head.clone(), r.tail.clone()))
                .unwrap_or_default()
        })
        .collect()
}

/// A report's triples less those the blocking rule (`pair_block`, rules.rs) removes.
fn drop_blocked(
    rules: &DecodeRules,
    types: &[(String, String)],
    triples: &[CharTriple],
) -> Vec<CharTriple> {
    let pairs: Vec<TypedPair<'_>> = triples
        .iter()
        .map(|t| TypedPair {
            relation: t.relation,
            subject: (t.subject.0, t.subject.1),
            subject_type: &types[t.relation].0,
            object: (t.object.0, t.object.1),
            object_type: &types[t.relation].1,
        })
        .collect();
    triples
        .iter()
        .zip(rules.unblocked(&pairs))
        .filter(|(_, keep)| *keep)
        .map(|(t, _)| t.clone())
        .collect()
}

/// A predicted record: entities interned by (span, type), relations in decoding order.
fn to_record(
    codes: &[String],
    types: &[(String, String)],
    input: &Record,
    triples: &[CharTriple],
) -> Record {
    let mut entities: Vec<Entity> = Vec::new();
    let mut index: HashMap<(usize, usize, String), usize> = HashMap::new();
    let mut intern =
        |span: (usize, usize, f32), label: &str, entities: &mut Vec<Entity>| -> usize {
            let key = (span.0, span.1, label.to_owned());
            let i = *index.entry(key).or_insert_with(|| {
                entities.push(Entity {
                    id: format!("T{}", entities.len() + 1),
                    label: label.to_owned(),
                    start: span.0,
                    end: span.1,
                    text: char_slice(&input.text, span.0, span.1)
                        .unwrap_or_default()
                        .to_owned(),
                    confidence: Some(span.2),
                });
                entities.len() - 1
            });
            let e = &mut entities[i];
            e.confidence = Some(e.confidence.unwrap_or(0.0).max(span.2));
            i
        };
    let mut relations = Vec::new();
    let mut seen = Vec::new();
    for t in triples {
        let code = &codes[t.relation];
        let (head, tail) = types[t.relation].clone();
        let key = (t.subject.0, t.subject.1, t.relation, t.object.0, t.object.1);
        if seen.contains(&key) {
            continue;
        }
        seen.push(key);
        let si = intern(t.subject, &head, &mut entities);
        let oi = intern(t.object, &tail, &mut entities);
        relations.push(Relation {
            id: format!("R{}", relations.len() + 1),
            code: code.clone(),
            subject: Arg {
                text: entities[si].text.clone(),
                label: head,
                entity: Some(si),
            },
            object: Arg {
                text: entities[oi].text.clone(),
                label: tail,
                entity: Some(oi),
            },
            group: relations.len(),
            confidence: Some(t.subject.2 * t.object.2),
        });
    }
    Record {
        id: input.id.clone(),
        text: input.text.clone(),
        entities,
        relations,
        line: input.line,
        raw: String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn span(start: usize, p: f32) -> SpanPred {
        SpanPred {
            start,
            end: start,
            p_start: p,
            p_end: p,
        }
    }

    #[test]
    fn several_models_probabilities_are_their_mean() {
        let a = Tensor::from_slice(&[0.0f32, 2.0, -1.0, -1000.0]);
        let b = Tensor::from_slice(&[0.0f32, -2.0, 3.0, 1000.0]);
        let sigmoid = |x: f32| 1.0 / (1.0 + (-x).exp());
        let pairs = [(0.0, 0.0), (2.0, -2.0), (-1.0, 3.0), (-1000.0, 1000.0)];
        for (got, (x, y)) in probs([&a, &b]).into_iter().zip(pairs) {
            let want = (sigmoid(x) + sigmoid(y)) / 2.0;
            assert!((got - want).abs() < 1e-6, "{got} against {want}");
        }
        // One model: its own probabilities, exactly.
        let alone: Vec<f32> = [0.0f32, 2.0, -1.0, -1000.0].map(sigmoid).to_vec();
        for (got, want) in probs([&a]).into_iter().zip(alone) {
            assert!((got - want).abs() < 1e-7);
        }
    }

    #[test]
    fn the_cap_keeps_the_most_confident_subjects_in_text_order() {
        let spans = vec![span(1, 0.6), span(2, 0.9), span(3, 0.7), span(4, 0.9)];
        let (kept, dropped) = most_confident(spans.clone(), 2);
        assert_eq!(dropped, 2);
        assert_eq!(kept.iter().map(|s| s.start).collect::<Vec<_>>(), [2, 4]);
        // A tie at the cut keeps the earlier span.
        let (kept, _) = most_confident(spans.clone(), 3);
        assert_eq!(kept.iter().map(|s| s.start).collect::<Vec<_>>(), [2, 3, 4]);
        let (kept, _) = most_confident(vec![span(1, 0.5), span(2, 0.5)], 1);
        assert_eq!(kept[0].start, 1);
        // Under the cap nothing moves.
        assert_eq!(most_confident(spans.clone(), 4), (spans, 0));
    }
}
