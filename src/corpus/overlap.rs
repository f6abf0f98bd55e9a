//! Overlap classes of a sentence's triples, with CasRel's definitions (Wei et al. 2020,
//! following CopyRE; the paper's Table 5):
//! - **Normal**: no entity takes part in two triples (all 2·n entities distinct);
//! - **EPO** (entity pair overlap): an ordered (subject, object) pair carries two relations;
//! - **SEO** (single entity overlap): after merging repeated pairs, some entity still occurs
//!   in two different pairs.
//!
//! A sentence can be EPO and SEO at once; it is then counted in both. Triples are
//! de-duplicated first, and a sentence with no triple is in none of the classes.
//! An entity is keyed by its span or by its string, as the caller chooses (`K`).

use std::collections::HashSet;
use std::hash::Hash;

use serde::Serialize;

/// The classes one sentence falls into.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct OverlapClass {
    pub normal: bool,
    pub seo: bool,
    pub epo: bool,
}

/// Classify one sentence's triples `(subject key, relation, object key)`.
pub fn classify<K: Eq + Hash + Clone, R: Eq + Hash + Clone>(triples: &[(K, R, K)]) -> OverlapClass {
    let unique: HashSet<&(K, R, K)> = triples.iter().collect();
    if unique.is_empty() {
        return OverlapClass::default();
    }
    let entities: HashSet<&K> = unique.iter().flat_map(|t| [&t.0, &t.2]).collect();
    if entities.len() == 2 * unique.len() {
        return OverlapClass {
            normal: true,
            ..Default::default()
        };
    }
    let pairs: Vec<(&K, &K)> = unique.iter().map(|t| (&t.0, &t.2)).collect();
    let distinct_pairs: HashSet<(&K, &K)> = pairs.iter().copied().collect();
    let epo = distinct_pairs.len() != pairs.len();
    let pair_entities: HashSet<&K> = distinct_pairs.iter().flat_map(|p| [p.0, p.1]).collect();
    let seo = pair_entities.len() != 2 * distinct_pairs.len();
    OverlapClass {
        normal: false,
        seo,
        epo,
    }
}

/// Sentence counts per class.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct OverlapCounts {
    pub normal: usize,
    pub seo: usize,
    pub epo: usize,
    /// Sentences without any triple.
    pub none: usize,
}

impl OverlapCounts {
    pub fn add(&mut self, class: OverlapClass) {
        self.normal += class.normal as usize;
        self.seo += class.seo as usize;
        self.epo += class.epo as usize;
        self.none += (!class.normal && !class.seo && !class.epo) as usize;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(t: &[(&str, &str, &str)]) -> OverlapClass {
        classify(t)
    }

    #[test]
    fn casrel_definitions() {
        assert_eq!(
            c(&[("a", "r", "b"), ("c", "r", "d")]),
            OverlapClass {
                normal: true,
                seo: false,
                epo: false
            }
        );
        assert_eq!(
            c(&[("a", "r", "b"), ("a", "r", "c")]),
            OverlapClass {
                normal: false,
                seo: true,
                epo: false
            }
        );
        assert_eq!(
            c(&[("a", "r", "b"), ("a", "q", "b")]),
            OverlapClass {
                normal: false,
                seo: false,
                epo: true
            }
        );
        assert_eq!(
            c(&[("a", "r", "b"), ("a", "q", "b"), ("a", "r", "c")]),
            OverlapClass {
                normal: false,
                seo: true,
                epo: true
            }
        );
        // A repeated triple is one triple; no triple is no class.
        assert_eq!(
            c(&[("a", "r", "b"), ("a", "r", "b")]),
            OverlapClass {
                normal: true,
                seo: false,
                epo: false
            }
        );
        assert_eq!(c(&[]), OverlapClass::default());
        let mut n = OverlapCounts::default();
        n.add(c(&[]));
        n.add(c(&[("a", "r", "b"), ("a", "q", "b"), ("a", "r", "c")]));
        assert_eq!(
            n,
            OverlapCounts {
                normal: 0,
                seo: 1,
                epo: 1,
                none: 1
            }
        );
    }
}

/// What a "sentence" is when classifying overlap and scoring per class.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
pub enum Unit {
    /// Sentences of the record (`sentences::sentence_spans`): right for multi-sentence reports.
    Sentence,
    /// The whole record: right for spo corpora, whose records are the annotated unit and whose
    /// triples often cross 。 (CMeIE's `疾病@…` prefix).
    Record,
}

impl Unit {
    /// The default for a corpus format: sentences when the file has offsets (doccano reports),
    /// records otherwise (spo).
    pub fn default_for(format: super::Format) -> Unit {
        if format.has_offsets() {
            Unit::Sentence
        } else {
            Unit::Record
        }
    }

    /// Char spans of the units of `text`.
    pub fn spans(self, text: &str) -> Vec<(usize, usize)> {
        match self {
            Unit::Sentence => super::sentences::sentence_spans(text),
            Unit::Record => vec![(0, text.chars().count())],
        }
    }
}

/// The unit a relation belongs to: the one holding its subject's first char (else its
/// object's); for an ungrounded relation, the first unit whose text holds both strings, else
/// the subject string, else the first unit. `units` are spans of `text`.
pub fn unit_of(
    text: &str,
    units: &[(usize, usize)],
    record: &super::Record,
    rel: &super::Relation,
) -> usize {
    if units.len() <= 1 {
        return 0;
    }
    if let Some((s, _)) = record
        .span(&rel.subject)
        .or_else(|| record.span(&rel.object))
    {
        return super::sentences::sentence_of(units, s);
    }
    let unit_text = |&(s, e): &(usize, usize)| super::char_slice(text, s, e).unwrap_or("");
    units
        .iter()
        .position(|u| {
            unit_text(u).contains(&rel.subject.text) && unit_text(u).contains(&rel.object.text)
        })
        .or_else(|| {
            units
                .iter()
                .position(|u| unit_text(u).contains(&rel.subject.text))
        })
        .unwrap_or(0)
}
