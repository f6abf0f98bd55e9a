//! Field helpers both corpus parsers (doccano, spo) and their writers share, in a leaf file so
//! that the parsers import from it and never from each other or from the reader that
//! dispatches to them.

use std::collections::HashSet;

use serde_json::{Map, Value};

use super::problem::{Action, Problem, ProblemKind};

/// How a parser reports what it found wrong on line `line`: record id (when known), kind,
/// action taken, detail.
pub(crate) fn problem_sink(
    line: usize,
    problems: &mut Vec<Problem>,
) -> impl FnMut(Option<&str>, ProblemKind, Action, String) + '_ {
    move |record, kind, action, detail| {
        problems.push(Problem {
            line,
            record: record.map(str::to_owned),
            kind,
            action,
            detail,
        })
    }
}

/// A line's JSON object; anything else rejects the record.
pub(crate) fn json_object<'v>(
    value: &'v Value,
    problem: &mut impl FnMut(Option<&str>, ProblemKind, Action, String),
) -> Option<&'v Map<String, Value>> {
    let obj = value.as_object();
    if obj.is_none() {
        problem(
            None,
            ProblemKind::MalformedJson,
            Action::RecordRejected,
            "not a JSON object".into(),
        );
    }
    obj
}

/// A record's `text`: a non-blank string, or a rejected record (missing, not a string, or
/// only whitespace) with the problem that says which.
pub(crate) fn required_text<'v>(
    obj: &'v Map<String, Value>,
    record: Option<&str>,
    problem: &mut impl FnMut(Option<&str>, ProblemKind, Action, String),
) -> Option<&'v str> {
    let Some(text) = obj.get("text").and_then(Value::as_str) else {
        problem(
            record,
            ProblemKind::MalformedJson,
            Action::RecordRejected,
            "missing or non-string `text`".into(),
        );
        return None;
    };
    if text.trim().is_empty() {
        problem(
            record,
            ProblemKind::EmptyText,
            Action::RecordRejected,
            "text is empty".into(),
        );
        return None;
    }
    Some(text)
}

/// A record id as text: a non-empty string, or a number written as JSON writes it.
pub(crate) fn id_string(v: &serde_json::Value) -> Option<String> {
    match v {
        serde_json::Value::String(s) if !s.is_empty() => Some(s.clone()),
        serde_json::Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// Char indices that are grapheme-cluster boundaries, or `None` when every char boundary is one
/// (the common case: no combining marks, no variation selectors).
pub(crate) fn grapheme_boundaries(text: &str) -> Option<HashSet<usize>> {
    use unicode_segmentation::UnicodeSegmentation;
    let n_chars = text.chars().count();
    if text.graphemes(true).count() == n_chars {
        return None;
    }
    let mut out = HashSet::new();
    let mut chars = 0;
    for g in text.graphemes(true) {
        out.insert(chars);
        chars += g.chars().count();
    }
    out.insert(chars);
    Some(out)
}

/// An entity's, relation's or spo item's `"confidence"` (predictions carry one), as the record
/// stores it; absent or not a number reads as none.
pub(crate) fn confidence(item: &Value) -> Option<f32> {
    item.get("confidence")
        .and_then(Value::as_f64)
        .map(|c| c as f32)
}

/// A confidence rounded to 4 decimals for the JSONL writers (f32 noise is not a fact).
pub(crate) fn round4(c: f32) -> f64 {
    (c as f64 * 10_000.0).round() / 10_000.0
}
