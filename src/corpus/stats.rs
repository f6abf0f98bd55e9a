//! `cbrrel corpus stats`: what a corpus holds — records, sentences, entities and relations per
//! type, relations that cross a sentence boundary, and the overlap classes (Normal / SEO / EPO,
//! `overlap.rs`) of its sentences, with entities keyed by span and by string.

use std::collections::BTreeMap;

use serde::Serialize;

use super::overlap::{classify, unit_of, OverlapCounts, Unit};
use super::reader::{Corpus, Format};

/// Corpus statistics; the JSON form of `cbrrel corpus stats --format json`.
#[derive(Debug, Clone, Serialize)]
pub struct Stats {
    pub file: String,
    pub format: Format,
    /// Records kept (reports for doccano files, annotated texts for spo files).
    pub reports: usize,
    /// Records rejected by the reader (see `cbrrel corpus check`).
    pub rejected: usize,
    /// Problems the reader found (rejected records included).
    pub problems: usize,
    /// What a "sentence" is below.
    pub unit: Unit,
    pub sentences: usize,
    pub chars: usize,
    /// Entity mentions kept.
    pub entities: usize,
    pub per_entity_type: BTreeMap<String, usize>,
    /// Relation annotations kept (doccano relations, spo items).
    pub relations: usize,
    pub per_relation: BTreeMap<String, usize>,
    /// Relations whose subject and object lie in different sentences.
    pub cross_sentence_relations: usize,
    /// Sentences per overlap class, entities keyed by char span.
    pub overlap: OverlapCounts,
    /// Sentences per overlap class, entities keyed by string.
    pub overlap_by_string: OverlapCounts,
    /// With `--tokenizer`: what the model's tokens cannot represent, per relation.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tokens: Option<TokenCounts>,
}

/// Relations whose spans the tokens cannot represent exactly (issue 11 §3), filled by the
/// caller from the text layer's labelling (`corpus` does not tokenize).
#[derive(Debug, Clone, Default, Serialize)]
pub struct TokenCounts {
    pub tokenizer: String,
    /// Latin letters and digits split into single characters (`train.split_alnum`).
    pub split_alnum: bool,
    /// Labelled relations with a span boundary inside a token, per relation code.
    pub widened: BTreeMap<String, usize>,
    /// Gold subject spans the nearest-end decoder cannot return (nested or sharing a start).
    pub undecodable_subjects: usize,
    /// The same for object spans, per relation code.
    pub undecodable_objects: BTreeMap<String, usize>,
}

/// Compute the statistics of a corpus. `unit` `None`: sentences for doccano, records for spo.
pub fn stats(corpus: &Corpus, unit: Option<Unit>) -> Stats {
    let unit = unit.unwrap_or_else(|| Unit::default_for(corpus.format));
    let mut s = Stats {
        file: corpus.path.display().to_string(),
        format: corpus.format,
        reports: corpus.records.len(),
        rejected: corpus.rejected(),
        problems: corpus.problems.len(),
        unit,
        sentences: 0,
        chars: 0,
        entities: 0,
        per_entity_type: BTreeMap::new(),
        relations: 0,
        per_relation: BTreeMap::new(),
        cross_sentence_relations: 0,
        overlap: OverlapCounts::default(),
        overlap_by_string: OverlapCounts::default(),
        tokens: None,
    };
    for record in &corpus.records {
        let units = unit.spans(&record.text);
        s.sentences += units.len();
        s.chars += record.text.chars().count();
        s.entities += record.entities.len();
        for e in &record.entities {
            *s.per_entity_type.entry(e.label.clone()).or_default() += 1;
        }
        s.relations += record.annotation_count();
        let mut counted_groups = Vec::new();
        for r in &record.relations {
            if !counted_groups.contains(&r.group) {
                counted_groups.push(r.group);
                *s.per_relation.entry(r.code.clone()).or_default() += 1;
            }
        }
        type SpanKey = (usize, usize);
        let mut by_span: Vec<Vec<(SpanKey, &str, SpanKey)>> = vec![Vec::new(); units.len()];
        let mut by_string: Vec<Vec<(&str, &str, &str)>> = vec![Vec::new(); units.len()];
        for r in &record.relations {
            let u = unit_of(&record.text, &units, record, r);
            if let (Some(sp), Some(op)) = (record.span(&r.subject), record.span(&r.object)) {
                by_span[u].push((sp, &r.code, op));
                if units.len() > 1 && u != super::sentences::sentence_of(&units, op.0) {
                    s.cross_sentence_relations += 1;
                }
            }
            by_string[u].push((&r.subject.text, &r.code, &r.object.text));
        }
        for (spans, strings) in by_span.iter().zip(&by_string) {
            s.overlap.add(classify(spans));
            s.overlap_by_string.add(classify(strings));
        }
    }
    s
}

/// The human-readable form.
pub fn to_text(s: &Stats) -> String {
    use std::fmt::Write;
    let mut out = String::new();
    let _ = writeln!(out, "file         {} ({:?})", s.file, s.format);
    let _ = writeln!(
        out,
        "reports      {} kept, {} rejected, {} problems (see `cbrrel corpus check`)",
        s.reports, s.rejected, s.problems
    );
    let _ = writeln!(
        out,
        "{:<12} {} ({} chars)",
        format!("{:?}s", s.unit).to_lowercase(),
        s.sentences,
        s.chars
    );
    let _ = writeln!(out, "entities     {}", s.entities);
    for (k, v) in &s.per_entity_type {
        let _ = writeln!(out, "  {k:<10} {v}");
    }
    let _ = writeln!(
        out,
        "relations    {} ({} cross a sentence boundary)",
        s.relations, s.cross_sentence_relations
    );
    for (k, v) in &s.per_relation {
        let _ = write!(out, "  {k:<10} {v}");
        if let Some(t) = &s.tokens {
            let n = |m: &BTreeMap<String, usize>| m.get(k).copied().unwrap_or(0);
            let _ = write!(
                out,
                "  (span inside a token {}, objects beyond the decoder {})",
                n(&t.widened),
                n(&t.undecodable_objects)
            );
        }
        let _ = writeln!(out);
    }
    if let Some(t) = &s.tokens {
        let _ = writeln!(
            out,
            "tokens       {} ({}): {} relations with a span boundary inside a token, {} subjects and {} objects the decoder cannot return",
            t.tokenizer,
            if t.split_alnum { "Latin letters and digits split into chars" } else { "WordPiece words" },
            t.widened.values().sum::<usize>(),
            t.undecodable_subjects,
            t.undecodable_objects.values().sum::<usize>()
        );
    }
    let _ = writeln!(
        out,
        "overlap      {:>8} {:>8} {:>8} {:>8}",
        "normal", "seo", "epo", "none"
    );
    for (name, o) in [
        ("  by span", &s.overlap),
        ("  by string", &s.overlap_by_string),
    ] {
        let _ = writeln!(
            out,
            "{name:<12} {:>8} {:>8} {:>8} {:>8}",
            o.normal, o.seo, o.epo, o.none
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::corpus::read_corpus_str;

    #[test]
    fn counts_sentences_relations_and_classes() {
        // Sentence 1: 右冠 → 狭窄 and 右冠 → 钙化 (SEO). Sentence 2: 前降支 → 闭塞 (Normal).
        let line = r#"{"id": 1, "text": "右冠狭窄，钙化。前降支闭塞。", "entities": [{"id": 1, "label": "身体部位", "start_offset": 0, "end_offset": 2}, {"id": 2, "label": "症状体征", "start_offset": 2, "end_offset": 4}, {"id": 3, "label": "症状体征", "start_offset": 5, "end_offset": 7}, {"id": 4, "label": "身体部位", "start_offset": 8, "end_offset": 11}, {"id": 5, "label": "症状体征", "start_offset": 11, "end_offset": 13}], "relations": [{"id": 1, "from_id": 1, "to_id": 2, "type": "身体部位_症状体征"}, {"id": 2, "from_id": 1, "to_id": 3, "type": "身体部位_症状体征"}, {"id": 3, "from_id": 4, "to_id": 5, "type": "身体部位_症状体征"}, {"id": 4, "from_id": 1, "to_id": 5, "type": "身体部位_症状体征"}]}"#;
        let c = read_corpus_str(line, None, None).unwrap();
        let s = stats(&c, None);
        assert_eq!(
            (s.reports, s.sentences, s.entities, s.relations),
            (1, 2, 5, 4)
        );
        assert_eq!(s.per_relation["BpSy"], 4);
        assert_eq!(s.cross_sentence_relations, 1);
        assert_eq!(
            s.overlap,
            OverlapCounts {
                normal: 1,
                seo: 1,
                epo: 0,
                none: 0
            }
        );
        let json = serde_json::to_value(&s).unwrap();
        for key in [
            "reports",
            "entities",
            "relations",
            "per_relation",
            "overlap",
        ] {
            assert!(json.get(key).is_some(), "{key}");
        }
        assert_eq!(json["overlap"]["seo"], 1);
    }
}
