//! Report texts for the provenance view. The store holds each relation's character spans and
//! the report's content hash, not its text; the text comes from files the operator names
//! (ingest's `reports.parquet`, or a CSV dump with `report_id` and `text` columns). A text is
//! shown only when its SHA-256 equals the content hash in the store: the spans were measured
//! on exactly that text.

use std::collections::HashMap;
use std::path::Path;

use serde::Serialize;

use super::ServeError;

/// Report id → text.
#[derive(Debug, Default)]
pub struct Texts {
    by_id: HashMap<String, String>,
}

/// The sentence around a relation's two mentions, with their spans inside it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Excerpt {
    pub sentence: String,
    /// Character offset of the sentence in the report.
    pub offset: u64,
    /// The mentions' spans, in characters relative to the sentence.
    pub subject: (u64, u64),
    pub object: (u64, u64),
}

impl Texts {
    pub fn read(paths: &[impl AsRef<Path>]) -> Result<Texts, ServeError> {
        let mut by_id = HashMap::new();
        for p in paths {
            let path = p.as_ref();
            let bad = |message: String| ServeError::Texts {
                path: path.to_owned(),
                message,
            };
            if path.extension().is_some_and(|e| e == "parquet") {
                for r in
                    crate::ingest::output::read_reports(path).map_err(|e| bad(e.to_string()))?
                {
                    by_id.insert(r.report_id, r.text);
                }
            } else {
                let mut reader = csv::Reader::from_path(path).map_err(|e| bad(e.to_string()))?;
                let headers = reader.headers().map_err(|e| bad(e.to_string()))?.clone();
                let col = |name: &str| {
                    headers
                        .iter()
                        .position(|h| h.trim_start_matches('\u{feff}') == name)
                        .ok_or_else(|| bad(format!("no `{name}` column")))
                };
                let (id, text) = (col("report_id")?, col("text")?);
                for row in reader.records() {
                    let row = row.map_err(|e| bad(e.to_string()))?;
                    if let (Some(i), Some(t)) = (row.get(id), row.get(text)) {
                        by_id.insert(i.to_owned(), t.to_owned());
                    }
                }
            }
        }
        if !paths.is_empty() {
            tracing::info!("{} report texts for the provenance view", by_id.len());
        }
        Ok(Texts { by_id })
    }

    pub fn len(&self) -> usize {
        self.by_id.len()
    }

    /// The text of `report_id` if it is the one the store's `content_hash` was taken of.
    pub fn text(&self, report_id: &str, content_hash: Option<&str>) -> Option<&str> {
        let t = self.by_id.get(report_id)?;
        (Some(crate::ingest::content_hash(t).as_str()) == content_hash).then_some(t.as_str())
    }
}

/// The sentence (between 。！？；, line breaks) that holds both spans, or the stretch from the
/// sentence of the first to that of the second; None when a span is out of the text.
pub fn excerpt(text: &str, subject: (u64, u64), object: (u64, u64)) -> Option<Excerpt> {
    let chars: Vec<char> = text.chars().collect();
    let n = chars.len() as u64;
    if subject.1 > n || object.1 > n || subject.0 > subject.1 || object.0 > object.1 {
        return None;
    }
    let end_of_sentence = |c: char| "。！？；!?;\n".contains(c);
    let lo = subject.0.min(object.0) as usize;
    let hi = subject.1.max(object.1) as usize;
    let mut start = lo;
    while start > 0 && !end_of_sentence(chars[start - 1]) {
        start -= 1;
    }
    let mut end = hi;
    while end < chars.len() && !end_of_sentence(chars[end]) {
        end += 1;
    }
    // The sentence keeps its own full stop (not a line break).
    if end < chars.len() && chars[end] != '\n' {
        end += 1;
    }
    let offset = start as u64;
    Some(Excerpt {
        sentence: chars[start..end].iter().collect(),
        offset,
        subject: (subject.0 - offset, subject.1 - offset),
        object: (object.0 - offset, object.1 - offset),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_excerpt_is_the_sentence_holding_both_mentions() {
        let text = "左主干通畅。前降支近段狭窄80%，TIMI血流3级。右冠通畅";
        // 前降支近段 = 6..11, 狭窄80% = 11..16
        let e = excerpt(text, (6, 11), (11, 16)).unwrap();
        assert_eq!(e.sentence, "前降支近段狭窄80%，TIMI血流3级。");
        assert_eq!((e.offset, e.subject, e.object), (6, (0, 5), (5, 10)));
        let last = excerpt(text, (26, 28), (28, 30)).unwrap();
        assert_eq!(last.sentence, "右冠通畅");
        assert_eq!(excerpt(text, (6, 11), (11, 99)), None);
    }
}
