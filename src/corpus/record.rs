//! The in-memory form of an annotated corpus, whatever file format it came from.
//!
//! Char spans are half-open `start..end` in Unicode scalar values (chars) of `Record::text`,
//! exactly as doccano writes them. A relation keeps its subject and object *text* as well as
//! the entity it points to, because spo_list corpora (CMeIE, DuIE) give no offsets: there a
//! relation is grounded by string search (see `spo.rs`) and may stay ungrounded.

use serde::Serialize;

/// One annotated report (doccano) or sentence (spo_list).
#[derive(Debug, Clone, PartialEq)]
pub struct Record {
    /// Record id: doccano's `id`, or an spo line's `id` field, or else its 1-based line number.
    pub id: String,
    pub text: String,
    pub entities: Vec<Entity>,
    pub relations: Vec<Relation>,
    /// 1-based line of the source file.
    pub line: usize,
    /// The source line, verbatim, so that `corpus split` writes records back unchanged.
    pub raw: String,
}

impl Record {
    /// A text to predict, without annotations and without a source line (`cbrrel predict
    /// --text` gives it the id `text`).
    pub fn unannotated(id: &str, text: &str) -> Record {
        Record {
            id: id.into(),
            text: text.into(),
            entities: vec![],
            relations: vec![],
            line: 1,
            raw: String::new(),
        }
    }
}

/// An entity mention: a typed char span of `Record::text`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Entity {
    pub id: String,
    /// Entity type code (`Bp`), or the file's label when no schema maps it.
    pub label: String,
    pub start: usize,
    pub end: usize,
    /// `text[start..end]`, kept to spare every consumer the char → byte walk.
    pub text: String,
    /// Model confidence, for predictions.
    pub confidence: Option<f32>,
}

/// One end of a relation.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Arg {
    pub text: String,
    /// Entity type code.
    pub label: String,
    /// Index into `Record::entities`; `None` when an spo string was not found in the text.
    pub entity: Option<usize>,
}

/// A directed relation: subject (head) → object (tail).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Relation {
    pub id: String,
    /// Relation type code (`BpSy`).
    pub code: String,
    pub subject: Arg,
    pub object: Arg,
    /// Index of the annotation this relation came from, within its record: a doccano relation
    /// is its own annotation; one spo item yields a relation per occurrence of its subject.
    pub group: usize,
    pub confidence: Option<f32>,
}

/// A triple as the paper scores it (§4.3): subject text, relation, object text.
pub type TextTriple = (String, String, String);

/// A triple scored by spans: (subject start, subject end, relation, object start, object end).
pub type SpanTriple = (usize, usize, String, usize, usize);

impl Record {
    /// Char span of a relation end, if it is grounded.
    pub fn span(&self, arg: &Arg) -> Option<(usize, usize)> {
        arg.entity
            .map(|i| (self.entities[i].start, self.entities[i].end))
    }

    /// Distinct text triples, in first-seen order.
    pub fn text_triples(&self) -> Vec<TextTriple> {
        let mut out: Vec<TextTriple> = Vec::new();
        for r in &self.relations {
            let t = (
                r.subject.text.clone(),
                r.code.clone(),
                r.object.text.clone(),
            );
            if !out.contains(&t) {
                out.push(t);
            }
        }
        out
    }

    /// Distinct span triples of the grounded relations, in first-seen order.
    pub fn span_triples(&self) -> Vec<SpanTriple> {
        let mut out: Vec<SpanTriple> = Vec::new();
        for r in &self.relations {
            if let (Some(s), Some(o)) = (self.span(&r.subject), self.span(&r.object)) {
                let t = (s.0, s.1, r.code.clone(), o.0, o.1);
                if !out.contains(&t) {
                    out.push(t);
                }
            }
        }
        out
    }

    /// Number of annotations (doccano relations, spo items) behind `relations`.
    pub fn annotation_count(&self) -> usize {
        let mut groups: Vec<usize> = self.relations.iter().map(|r| r.group).collect();
        groups.sort_unstable();
        groups.dedup();
        groups.len()
    }
}

/// `text[start..end]` in chars; `None` when out of range.
pub fn char_slice(text: &str, start: usize, end: usize) -> Option<&str> {
    if start > end {
        return None;
    }
    let mut it = text
        .char_indices()
        .map(|(b, _)| b)
        .chain(std::iter::once(text.len()));
    let b0 = it.nth(start)?;
    let b1 = if end == start {
        b0
    } else {
        it.nth(end - start - 1)?
    };
    Some(&text[b0..b1])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn char_slice_counts_chars_not_bytes() {
        let t = "左主干狭窄50%";
        assert_eq!(char_slice(t, 0, 3), Some("左主干"));
        assert_eq!(char_slice(t, 3, 8), Some("狭窄50%"));
        assert_eq!(char_slice(t, 8, 8), Some(""));
        assert_eq!(char_slice(t, 3, 9), None);
        assert_eq!(char_slice(t, 4, 3), None);
    }
}
