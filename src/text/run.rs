//! `cbrrel text` as a library call: label a whole corpus as the model would see it, optionally
//! write the labelled segments, and report what was kept and lost with the throughput. The
//! relation classes are the schema's, or, for an spo file read without one, the codes its
//! records use.

use std::fmt;
use std::path::Path;
use std::time::Instant;

use serde::Serialize;

use super::labels::{label_records, LabelReport};
use super::segment::SegmentConfig;
use super::tokenize::{BertTokenizer, TokenizeError};
use crate::corpus::Corpus;

/// Why a labelling run stopped.
#[derive(Debug, thiserror::Error)]
pub enum LabelRunError {
    #[error(transparent)]
    Tokenize(#[from] TokenizeError),
    #[error(transparent)]
    Write(#[from] crate::atomic::WriteError),
}

/// A corpus labelled: the [`LabelReport`] with token counts and timing; serialises as
/// `cbrrel text --format json` prints it.
#[derive(Debug, Clone)]
pub struct LabelRun {
    pub report: LabelReport,
    pub cfg: SegmentConfig,
    pub tokens: usize,
    pub max_segment_tokens: usize,
    pub seconds: f64,
    /// rayon's worker threads (the labelling runs on them).
    pub threads: usize,
}

impl LabelRun {
    pub fn segments_per_second(&self) -> f64 {
        self.report.segments as f64 / self.seconds.max(1e-9)
    }
}

/// Label every record of `corpus`; with `out`, write the segments there as JSON lines.
pub fn label_corpus(
    corpus: &Corpus,
    tokenizer: &BertTokenizer,
    cfg: &SegmentConfig,
    out: Option<&Path>,
) -> Result<LabelRun, LabelRunError> {
    let codes = match &corpus.schema {
        Some(s) => s.relation_codes(),
        None => {
            let mut c: Vec<String> = (corpus.records.iter())
                .flat_map(|r| r.relations.iter().map(|x| x.code.clone()))
                .collect();
            c.sort();
            c.dedup();
            c
        }
    };
    let t0 = Instant::now();
    let (examples, report) = label_records(&corpus.records, tokenizer, &codes, cfg)?;
    let seconds = t0.elapsed().as_secs_f64();
    if let Some(out) = out {
        let mut buf = Vec::new();
        for ex in &examples {
            serde_json::to_writer(&mut buf, ex).expect("a segment serialises");
            buf.push(b'\n');
        }
        crate::atomic::write(out, &buf)?;
    }
    Ok(LabelRun {
        report,
        cfg: *cfg,
        tokens: examples.iter().map(|e| e.len()).sum(),
        max_segment_tokens: examples.iter().map(|e| e.len()).max().unwrap_or(0),
        seconds,
        threads: rayon::current_num_threads(),
    })
}

impl Serialize for LabelRun {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let r = &self.report;
        serde_json::json!({
            "records": r.records, "segments": r.segments, "windowed_sentences": r.windowed_sentences,
            "tokens": self.tokens, "max_segment_tokens": self.max_segment_tokens,
            "split_alnum": self.cfg.split_alnum,
            "relations": r.relations, "labelled": r.labelled, "cross_segment": r.cross_segment,
            "ungrounded": r.ungrounded, "untokenizable": r.untokenizable, "unknown_relation": r.unknown_relation,
            "widened": r.widened, "undecodable_subjects": r.undecodable_subjects,
            "undecodable_objects": r.undecodable_objects,
            "seconds": self.seconds, "segments_per_second": self.segments_per_second(),
        })
        .serialize(s)
    }
}

/// Where every relation went (`labelled + lost = relations`), the first 20 cross-segment
/// relations, and the throughput.
impl fmt::Display for LabelRun {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let r = &self.report;
        writeln!(
            f,
            "{} records → {} segments (max_len {}, merge {}, split_alnum {}; {} long sentences windowed), {} tokens, longest segment {}",
            r.records, r.segments, self.cfg.max_len, self.cfg.merge, self.cfg.split_alnum, r.windowed_sentences, self.tokens,
            self.max_segment_tokens
        )?;
        writeln!(
            f,
            "relations {} = {} labelled + {} cross-segment + {} ungrounded + {} untokenizable + {} unknown type",
            r.relations,
            r.labelled,
            r.cross_segment.len(),
            r.ungrounded,
            r.untokenizable,
            r.unknown_relation.values().sum::<usize>()
        )?;
        let widened: usize = r.widened.values().sum();
        writeln!(
            f,
            "labelled relations with an end inside a token (widened to the token, never exactly predictable): {widened}{}",
            per_code(&r.widened)
        )?;
        let objects: usize = r.undecodable_objects.values().sum();
        writeln!(
            f,
            "gold spans the nearest-end decoder cannot return (nested, or sharing a start): {} subjects, {objects} objects{}",
            r.undecodable_subjects,
            per_code(&r.undecodable_objects)
        )?;
        for (rec, rel) in r.cross_segment.iter().take(20) {
            writeln!(f, "  cross-segment: record {rec} relation {rel}")?;
        }
        writeln!(
            f,
            "{:.0} segments/s on {} threads",
            self.segments_per_second(),
            self.threads
        )
    }
}

/// ` (BpSy 2, McBp 1)`: a count per relation code, or nothing when there is none.
fn per_code(counts: &std::collections::BTreeMap<String, usize>) -> String {
    if counts.is_empty() {
        return String::new();
    }
    let per: Vec<String> = counts.iter().map(|(k, v)| format!("{k} {v}")).collect();
    format!(" ({})", per.join(", "))
}
