//! Training targets for CBRRel, built from the corpus's offsets (never by searching for the
//! first occurrence of a string — the classic CasRel-port bug).
//!
//! Per segment: input ids `[CLS] tokens [SEP]`; the subject tagger's start/end targets
//! (eqs. 12–13); and, for every distinct gold subject span of the segment, per relation, the
//! object tagger's start/end targets (eqs. 15–16). Every gold subject trains in the same step.
//! A relation that cannot be labelled is counted with its reason, never lost silently.

use std::collections::BTreeMap;

use rayon::prelude::*;
use serde::Serialize;

use super::segment::{segment, segment_of, Segment, SegmentConfig};
use super::tokenize::{BertTokenizer, TokenizeError};
use crate::corpus::Record;

/// One object of one subject: relation class and inclusive token span (input positions).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct ObjectLabel {
    pub relation: usize,
    pub start: usize,
    pub end: usize,
}

/// A gold subject: inclusive token span (input positions, [CLS] = 0) and its objects.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SubjectLabel {
    pub start: usize,
    pub end: usize,
    pub objects: Vec<ObjectLabel>,
}

/// A model-ready segment of a report.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SegmentExample {
    pub record_id: String,
    /// Index of the segment in its report.
    pub segment: usize,
    /// Half-open char span of the segment in the report.
    pub char_start: usize,
    pub char_end: usize,
    /// `[CLS] tokens [SEP]`.
    pub input_ids: Vec<i64>,
    /// Char span in the report of every input position; `None` for [CLS] and [SEP].
    pub offsets: Vec<Option<(usize, usize)>>,
    pub subjects: Vec<SubjectLabel>,
}

impl SegmentExample {
    pub fn len(&self) -> usize {
        self.input_ids.len()
    }

    pub fn is_empty(&self) -> bool {
        self.input_ids.is_empty()
    }

    /// Subject start and end targets, one per input position (eqs. 12–13).
    pub fn subject_targets(&self) -> (Vec<f32>, Vec<f32>) {
        let mut start = vec![0.0; self.len()];
        let mut end = vec![0.0; self.len()];
        for s in &self.subjects {
            start[s.start] = 1.0;
            end[s.end] = 1.0;
        }
        (start, end)
    }

    /// Object start and end targets of subject `k`, row-major `[n_relations, len]` (eqs. 15–16).
    pub fn object_targets(&self, k: usize, n_relations: usize) -> (Vec<f32>, Vec<f32>) {
        let len = self.len();
        let mut start = vec![0.0; n_relations * len];
        let mut end = vec![0.0; n_relations * len];
        for o in &self.subjects[k].objects {
            start[o.relation * len + o.start] = 1.0;
            end[o.relation * len + o.end] = 1.0;
        }
        (start, end)
    }
}

/// Why relations or entities did not become targets.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct LabelReport {
    pub records: usize,
    pub segments: usize,
    pub windowed_sentences: usize,
    pub relations: usize,
    pub labelled: usize,
    /// Subject and object in different segments: (record id, relation id).
    pub cross_segment: Vec<(String, String)>,
    /// An end not grounded in the text (spo strings not found).
    pub ungrounded: usize,
    /// An end whose chars no token covers (whitespace-only spans).
    pub untokenizable: usize,
    /// A relation code not among the model's classes.
    pub unknown_relation: BTreeMap<String, usize>,
    /// Labelled relations, per code, with an end whose char span starts or ends inside a
    /// token (a run of Latin letters and digits such as `6F` or `3.0*18mm` is one WordPiece
    /// token): the target covers the whole token, so no prediction can equal the gold span
    /// (issue 11 §3).
    pub widened: BTreeMap<String, usize>,
    /// Gold spans the decoder cannot return (decode.rs pairs a start with the nearest end at
    /// or after it): another gold span of the same tagger row ends in `start..end` — nested
    /// spans, or two spans sharing a start. Subjects, and objects per relation code: the
    /// decoder's ceiling (issue 11 §3).
    pub undecodable_subjects: usize,
    pub undecodable_objects: BTreeMap<String, usize>,
}

impl LabelReport {
    fn merge(mut self, o: LabelReport) -> LabelReport {
        self.records += o.records;
        self.segments += o.segments;
        self.windowed_sentences += o.windowed_sentences;
        self.relations += o.relations;
        self.labelled += o.labelled;
        self.cross_segment.extend(o.cross_segment);
        self.ungrounded += o.ungrounded;
        self.untokenizable += o.untokenizable;
        for (k, v) in o.unknown_relation {
            *self.unknown_relation.entry(k).or_default() += v;
        }
        for (k, v) in o.widened {
            *self.widened.entry(k).or_default() += v;
        }
        self.undecodable_subjects += o.undecodable_subjects;
        for (k, v) in o.undecodable_objects {
            *self.undecodable_objects.entry(k).or_default() += v;
        }
        self
    }

    /// Relations that did not become targets; `labelled + lost() == relations`.
    pub fn lost(&self) -> usize {
        self.cross_segment.len()
            + self.ungrounded
            + self.untokenizable
            + self.unknown_relation.values().sum::<usize>()
    }
}

/// Segment, tokenize and label one record.
pub fn label_record(
    record: &Record,
    tokenizer: &BertTokenizer,
    relation_codes: &[String],
    cfg: &SegmentConfig,
) -> Result<(Vec<SegmentExample>, LabelReport), TokenizeError> {
    let tokens = tokenizer.encode_with(&record.text, cfg.split_alnum)?;
    let (segments, windowed) = segment(&record.text, &tokens, cfg);
    let mut report = LabelReport {
        records: 1,
        segments: segments.len(),
        windowed_sentences: windowed,
        ..Default::default()
    };
    let mut examples: Vec<SegmentExample> = segments
        .iter()
        .enumerate()
        .map(|(i, seg)| {
            let mut input_ids = Vec::with_capacity(seg.tok_end - seg.tok_start + 2);
            let mut offsets = Vec::with_capacity(input_ids.capacity());
            input_ids.push(tokenizer.cls_id as i64);
            offsets.push(None);
            for t in seg.tok_start..seg.tok_end {
                input_ids.push(tokens.ids[t] as i64);
                offsets.push(Some(tokens.offsets[t]));
            }
            input_ids.push(tokenizer.sep_id as i64);
            offsets.push(None);
            SegmentExample {
                record_id: record.id.clone(),
                segment: i,
                char_start: seg.start,
                char_end: seg.end,
                input_ids,
                offsets,
                subjects: Vec::new(),
            }
        })
        .collect();
    // Input position of a char span inside segment `seg`: +1 for [CLS].
    let position = |seg: &Segment, span: (usize, usize)| -> Option<(usize, usize)> {
        let (a, b) = tokens.token_span(span.0, span.1)?;
        (a >= seg.tok_start && b < seg.tok_end)
            .then(|| (a - seg.tok_start + 1, b - seg.tok_start + 1))
    };
    for rel in &record.relations {
        report.relations += 1;
        let Some(class) = relation_codes.iter().position(|c| c == &rel.code) else {
            *report.unknown_relation.entry(rel.code.clone()).or_default() += 1;
            continue;
        };
        let (Some(s_span), Some(o_span)) = (record.span(&rel.subject), record.span(&rel.object))
        else {
            report.ungrounded += 1;
            continue;
        };
        let (Some(si), Some(oi)) = (
            segment_of(&segments, s_span.0, s_span.1),
            segment_of(&segments, o_span.0, o_span.1),
        ) else {
            report
                .cross_segment
                .push((record.id.clone(), rel.id.clone()));
            continue;
        };
        if si != oi {
            report
                .cross_segment
                .push((record.id.clone(), rel.id.clone()));
            continue;
        }
        let seg = &segments[si];
        let (Some(s_pos), Some(o_pos)) = (position(seg, s_span), position(seg, o_span)) else {
            report.untokenizable += 1;
            continue;
        };
        // The tokens' chars against the gold span: a boundary inside a token widens it.
        let exact = |span: (usize, usize)| {
            tokens.token_span(span.0, span.1).is_some_and(|(a, b)| {
                tokens.offsets[a].0 == span.0 && tokens.offsets[b].1 == span.1
            })
        };
        if !(exact(s_span) && exact(o_span)) {
            *report.widened.entry(rel.code.clone()).or_default() += 1;
        }
        let ex = &mut examples[si];
        let k = match ex.subjects.iter().position(|s| (s.start, s.end) == s_pos) {
            Some(k) => k,
            None => {
                ex.subjects.push(SubjectLabel {
                    start: s_pos.0,
                    end: s_pos.1,
                    objects: Vec::new(),
                });
                ex.subjects.len() - 1
            }
        };
        let obj = ObjectLabel {
            relation: class,
            start: o_pos.0,
            end: o_pos.1,
        };
        if !ex.subjects[k].objects.contains(&obj) {
            ex.subjects[k].objects.push(obj);
        }
        report.labelled += 1;
    }
    for ex in &mut examples {
        ex.subjects.sort_by_key(|s| (s.start, s.end));
        let spans: Vec<(usize, usize)> = ex.subjects.iter().map(|s| (s.start, s.end)).collect();
        report.undecodable_subjects += undecodable(&spans);
        for subject in &ex.subjects {
            for (class, code) in relation_codes.iter().enumerate() {
                let spans: Vec<(usize, usize)> = subject
                    .objects
                    .iter()
                    .filter(|o| o.relation == class)
                    .map(|o| (o.start, o.end))
                    .collect();
                let n = undecodable(&spans);
                if n > 0 {
                    *report.undecodable_objects.entry(code.clone()).or_default() += n;
                }
            }
        }
    }
    Ok((examples, report))
}

/// How many of one tagger row's gold spans (inclusive token positions, each once) the
/// nearest-end decoder cannot return: those with another span's end in `start..end`.
fn undecodable(spans: &[(usize, usize)]) -> usize {
    spans
        .iter()
        .filter(|&&(s, e)| spans.iter().any(|&(_, e2)| s <= e2 && e2 < e))
        .count()
}

/// Segment, tokenize and label records on rayon threads, keeping record order.
pub fn label_records(
    records: &[Record],
    tokenizer: &BertTokenizer,
    relation_codes: &[String],
    cfg: &SegmentConfig,
) -> Result<(Vec<SegmentExample>, LabelReport), TokenizeError> {
    let per_record: Vec<(Vec<SegmentExample>, LabelReport)> = records
        .par_iter()
        .map(|r| label_record(r, tokenizer, relation_codes, cfg))
        .collect::<Result<_, _>>()?;
    let mut examples = Vec::new();
    let mut report = LabelReport::default();
    for (ex, rep) in per_record {
        examples.extend(ex);
        report = report.merge(rep);
    }
    Ok((examples, report))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::corpus::read_corpus_str;
    use crate::text::tokenize::tests::tiny_vocab_dir;

    #[test]
    fn an_end_inside_a_latin_or_digit_token_is_counted_as_widened() {
        // "80" is one token: 狭窄8 (chars 4..7) ends inside it, 狭窄80% (4..9) does not.
        let line = r#"{"id": 1, "text": "右冠远段狭窄80%。", "entities": [{"id": 1, "label": "身体部位", "start_offset": 0, "end_offset": 4}, {"id": 2, "label": "症状体征", "start_offset": 4, "end_offset": 7}, {"id": 3, "label": "身体部位", "start_offset": 2, "end_offset": 4}, {"id": 4, "label": "症状体征", "start_offset": 4, "end_offset": 9}], "relations": [{"id": 1, "from_id": 1, "to_id": 2, "type": "身体部位_症状体征"}, {"id": 2, "from_id": 3, "to_id": 4, "type": "身体部位_症状体征"}]}"#;
        let corpus = read_corpus_str(line, None, None).unwrap();
        let dir = tiny_vocab_dir();
        let tok = BertTokenizer::from_path(dir.path()).unwrap();
        let codes: Vec<String> = ["BpIn", "BpSy"].iter().map(|s| s.to_string()).collect();
        let (_, rep) =
            label_records(&corpus.records, &tok, &codes, &SegmentConfig::default()).unwrap();
        assert_eq!(rep.labelled, 2);
        assert_eq!(rep.widened, BTreeMap::from([("BpSy".to_string(), 1)]));
        // Split into single chars, "8" and "0" are tokens of their own: nothing is widened.
        let split = SegmentConfig {
            split_alnum: true,
            ..SegmentConfig::default()
        };
        let (ex, rep) = label_records(&corpus.records, &tok, &codes, &split).unwrap();
        assert_eq!((rep.labelled, rep.widened.len()), (2, 0));
        // [CLS] 右 冠 远 段 狭 窄 8 0 % 。 [SEP]: 狭窄8 is tokens 5..=7, 狭窄80% 5..=9.
        let objects: Vec<(usize, usize)> = ex[0]
            .subjects
            .iter()
            .flat_map(|s| &s.objects)
            .map(|o| (o.start, o.end))
            .collect();
        assert_eq!(objects, vec![(5, 7), (5, 9)]);
    }

    #[test]
    fn nested_spans_and_shared_starts_are_beyond_the_decoder() {
        // (1, 3) and (1, 5) share a start: the decoder returns (1, 3) only; (4, 8) holds the
        // end of (6, 6); (7, 9) is alone past it.
        let spans = [(1, 3), (1, 5), (4, 8), (6, 6), (9, 9)];
        assert_eq!(undecodable(&spans), 2);
        assert_eq!(undecodable(&[(1, 2), (3, 4)]), 0);
    }

    #[test]
    fn labels_come_from_offsets_not_first_occurrence() {
        // "狭窄" occurs twice; only the second occurrence (chars 9..11) is annotated.
        let line = r#"{"id": 1, "text": "前降支狭窄。右冠远段狭窄80%。", "entities": [{"id": 1, "label": "身体部位", "start_offset": 6, "end_offset": 10}, {"id": 2, "label": "症状体征", "start_offset": 10, "end_offset": 15}, {"id": 3, "label": "身体部位", "start_offset": 0, "end_offset": 3}], "relations": [{"id": 1, "from_id": 1, "to_id": 2, "type": "身体部位_症状体征"}, {"id": 2, "from_id": 3, "to_id": 2, "type": "身体部位_症状体征"}]}"#;
        let corpus = read_corpus_str(line, None, None).unwrap();
        let dir = tiny_vocab_dir();
        let tok = BertTokenizer::from_path(dir.path()).unwrap();
        let codes: Vec<String> = ["BpIn", "BpSy"].iter().map(|s| s.to_string()).collect();
        let (ex, rep) =
            label_records(&corpus.records, &tok, &codes, &SegmentConfig::default()).unwrap();
        assert_eq!(ex.len(), 2);
        assert_eq!(rep.relations, 2);
        assert_eq!(rep.labelled, 1);
        assert_eq!(rep.cross_segment, vec![("1".to_string(), "2".to_string())]);
        assert_eq!(rep.labelled + rep.lost(), rep.relations);
        let seg = &ex[1];
        assert_eq!((seg.char_start, seg.char_end), (6, 16));
        // [CLS] 右 冠 远 段 狭 窄 80 % 。 [SEP]
        assert_eq!(
            seg.subjects,
            vec![SubjectLabel {
                start: 1,
                end: 4,
                objects: vec![ObjectLabel {
                    relation: 1,
                    start: 5,
                    end: 8
                }]
            }]
        );
        let (s, e) = seg.subject_targets();
        assert_eq!((s[1], e[4], s.iter().sum::<f32>()), (1.0, 1.0, 1.0));
        let (os, oe) = seg.object_targets(0, 2);
        assert_eq!(
            (os[seg.len() + 5], oe[seg.len() + 8], os.iter().sum::<f32>()),
            (1.0, 1.0, 1.0)
        );
        assert!(ex[0].subjects.is_empty());
        assert_eq!(seg.offsets[5], Some((10, 11)));
    }
}
