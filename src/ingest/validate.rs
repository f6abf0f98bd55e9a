//! Row validation: accepted, or quarantined with a reason. Nothing is dropped silently.
//!
//! Rules, in order (the first that applies is the reason):
//! 1. `malformed`: the row could not be parsed (ragged CSV record, bad JSON line).
//! 2. `wrong_type`: an NDJSON text that is a number, object, array or boolean.
//! 3. `missing_id` / `invalid_utf8` / `missing_text`: no usable id or text. Invalid UTF-8 in
//!    the id or the text quarantines the row; the text is never "repaired" (a replacement
//!    character in a finding such as 狭窄90% would change what the model extracts).
//! 4. `empty_text`: only whitespace.
//! 5. `text_too_long`: more than the configured number of chars (a dump bug, or a report the
//!    extractor cannot hold in memory at night).
//! 6. `phi_detected`: the text holds a direct identifier (super::phi) and the policy is
//!    `quarantine`; the row's text is masked before it is kept, so quarantine.csv's preview
//!    never shows the identifier. Under `mask` the text is masked and the row goes on.
//! 7. `conflicting_texts`: one id with two different texts in the dump: every row of that id
//!    is quarantined, because which one is right cannot be told.
//! 8. `duplicate_row`: the same id and the same text again: the first is accepted, the repeats
//!    are quarantined as duplicates (a report is processed once).

use std::collections::HashMap;

use serde::Serialize;

use super::phi::{self, PhiHit, PhiPolicy};
use super::RawRow;

/// Why a row was quarantined.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub enum QuarantineReason {
    Malformed(String),
    MissingId,
    MissingText,
    WrongType {
        field: String,
        found: &'static str,
    },
    InvalidUtf8 {
        field: &'static str,
        byte: usize,
    },
    EmptyText,
    TextTooLong {
        chars: usize,
        limit: usize,
    },
    ConflictingTexts {
        rows: usize,
    },
    DuplicateRow {
        first_row: usize,
    },
    /// The kinds of identifier found (never the identifiers).
    PhiDetected {
        kinds: Vec<&'static str>,
    },
}

impl QuarantineReason {
    /// Stable reason code (the `reason` column of quarantine.csv).
    pub fn code(&self) -> &'static str {
        match self {
            QuarantineReason::Malformed(_) => "malformed",
            QuarantineReason::MissingId => "missing_id",
            QuarantineReason::MissingText => "missing_text",
            QuarantineReason::WrongType { .. } => "wrong_type",
            QuarantineReason::InvalidUtf8 { .. } => "invalid_utf8",
            QuarantineReason::EmptyText => "empty_text",
            QuarantineReason::TextTooLong { .. } => "text_too_long",
            QuarantineReason::ConflictingTexts { .. } => "conflicting_texts",
            QuarantineReason::DuplicateRow { .. } => "duplicate_row",
            QuarantineReason::PhiDetected { .. } => "phi_detected",
        }
    }

    /// A sentence for the person who fixes the dump.
    pub fn detail(&self) -> String {
        match self {
            QuarantineReason::Malformed(m) => m.clone(),
            QuarantineReason::MissingId => "no report id".into(),
            QuarantineReason::MissingText => "no text".into(),
            QuarantineReason::WrongType { field, found } => {
                format!("{field} is a JSON {found}, not a string")
            }
            QuarantineReason::InvalidUtf8 { field, byte } => {
                format!("{field} is not valid UTF-8 (byte {byte})")
            }
            QuarantineReason::EmptyText => "text is empty or only whitespace".into(),
            QuarantineReason::TextTooLong { chars, limit } => {
                format!("text has {chars} chars, the limit is {limit}")
            }
            QuarantineReason::ConflictingTexts { rows } => {
                format!("this id has {rows} rows with different texts in the dump")
            }
            QuarantineReason::DuplicateRow { first_row } => {
                format!("same id and text as row {first_row}, which was accepted")
            }
            QuarantineReason::PhiDetected { kinds } => format!(
                "direct identifiers in the text: {} (masked in text_preview; anonymize the dump, or set [input] phi = \"mask\")",
                kinds.join(", ")
            ),
        }
    }
}

/// A quarantined row: where it came from, what could be read of it, and why.
#[derive(Debug, Clone, PartialEq)]
pub struct QuarantinedRow {
    pub row: RawRow,
    pub reason: QuarantineReason,
}

/// The outcome of validating a dump.
#[derive(Debug, Default)]
pub struct Validated {
    pub accepted: Vec<RawRow>,
    pub quarantined: Vec<QuarantinedRow>,
    /// Under `phi = "mask"`: the accepted reports whose text was masked (report id, spans).
    pub masked: Vec<(String, Vec<PhiHit>)>,
}

/// The PHI guard on a row that passed the other checks: mask its text in place when it holds
/// an identifier and say what was found (None: nothing, or the guard is off).
fn guard(row: &mut RawRow, policy: PhiPolicy) -> Option<Vec<PhiHit>> {
    if policy == PhiPolicy::Off {
        return None;
    }
    let text = row.text_str()?;
    let hits = phi::find(text);
    if hits.is_empty() {
        return None;
    }
    row.text = Some(phi::mask(text, &hits).into_bytes());
    Some(hits)
}

fn row_problem(row: &RawRow, max_chars: usize) -> Option<QuarantineReason> {
    if let Some(m) = &row.malformed {
        return Some(QuarantineReason::Malformed(m.clone()));
    }
    if let Some((field, found)) = &row.wrong_type {
        return Some(QuarantineReason::WrongType {
            field: field.clone(),
            found,
        });
    }
    match &row.id {
        None => return Some(QuarantineReason::MissingId),
        Some(b) => match std::str::from_utf8(b) {
            Err(e) => {
                return Some(QuarantineReason::InvalidUtf8 {
                    field: "id",
                    byte: e.valid_up_to(),
                })
            }
            Ok(s) if s.trim().is_empty() => return Some(QuarantineReason::MissingId),
            Ok(_) => {}
        },
    }
    let text = match &row.text {
        None => return Some(QuarantineReason::MissingText),
        Some(b) => match std::str::from_utf8(b) {
            Err(e) => {
                return Some(QuarantineReason::InvalidUtf8 {
                    field: "text",
                    byte: e.valid_up_to(),
                })
            }
            Ok(s) => s,
        },
    };
    if text.trim().is_empty() {
        return Some(QuarantineReason::EmptyText);
    }
    let chars = text.chars().count();
    if chars > max_chars {
        return Some(QuarantineReason::TextTooLong {
            chars,
            limit: max_chars,
        });
    }
    None
}

/// Validate rows (in dump order; files in the order given).
pub fn validate(rows: Vec<RawRow>, max_text_chars: usize, phi: PhiPolicy) -> Validated {
    let mut out = Validated::default();
    let mut good: Vec<RawRow> = Vec::new();
    let mut masked: HashMap<usize, Vec<PhiHit>> = HashMap::new();
    for mut row in rows {
        if let Some(reason) = row_problem(&row, max_text_chars) {
            out.quarantined.push(QuarantinedRow { row, reason });
            continue;
        }
        match (guard(&mut row, phi), phi) {
            (Some(hits), PhiPolicy::Quarantine) => out.quarantined.push(QuarantinedRow {
                row,
                reason: QuarantineReason::PhiDetected {
                    kinds: phi::kinds(&hits),
                },
            }),
            (Some(hits), _) => {
                masked.insert(row.row, hits);
                good.push(row);
            }
            (None, _) => good.push(row),
        }
    }
    // Group the valid rows by id: distinct texts per id decide conflicts.
    let mut texts_per_id: HashMap<String, Vec<&[u8]>> = HashMap::new();
    for r in &good {
        let texts = texts_per_id
            .entry(r.id_str().expect("valid").to_owned())
            .or_default();
        let t = r.text.as_deref().expect("valid");
        if !texts.contains(&t) {
            texts.push(t);
        }
    }
    let conflicting: HashMap<String, usize> = texts_per_id
        .iter()
        .filter(|(_, t)| t.len() > 1)
        .map(|(id, _)| {
            (
                id.clone(),
                good.iter()
                    .filter(|r| r.id_str() == Some(id.as_str()))
                    .count(),
            )
        })
        .collect();
    let mut first_row: HashMap<String, usize> = HashMap::new();
    for row in good {
        let id = row.id_str().expect("valid").to_owned();
        if let Some(&rows) = conflicting.get(&id) {
            out.quarantined.push(QuarantinedRow {
                row,
                reason: QuarantineReason::ConflictingTexts { rows },
            });
        } else if let Some(&first) = first_row.get(&id) {
            out.quarantined.push(QuarantinedRow {
                row,
                reason: QuarantineReason::DuplicateRow { first_row: first },
            });
        } else {
            first_row.insert(id.clone(), row.row);
            if let Some(hits) = masked.remove(&row.row) {
                out.masked.push((id, hits));
            }
            out.accepted.push(row);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    fn row(n: usize, id: Option<&[u8]>, text: Option<&[u8]>) -> RawRow {
        RawRow {
            source: PathBuf::from("dump.csv"),
            row: n,
            id: id.map(<[u8]>::to_vec),
            text: text.map(<[u8]>::to_vec),
            patient: None,
            date: None,
            department: None,
            malformed: None,
            wrong_type: None,
        }
    }

    #[test]
    fn every_kind_of_bad_row_has_its_reason_and_counts_add_up() {
        let mut ragged = row(9, Some(b"9"), Some("前降支狭窄".as_bytes()));
        ragged.malformed = Some("3 fields, the header has 5".into());
        let rows = vec![
            row(1, Some(b"1"), Some("前降支近段狭窄80%。".as_bytes())),
            row(2, None, Some("右冠通畅。".as_bytes())),
            row(3, Some(b"  "), Some("右冠通畅。".as_bytes())),
            row(4, Some(b"4"), None),
            row(5, Some(b"5"), Some(b"\xe5\x89\x8d\xff")),
            row(6, Some(b"6"), Some(b" \n\t ")),
            row(7, Some(b"7"), Some("狭窄".repeat(20).as_bytes())),
            row(8, Some(b"8"), Some("回旋支狭窄50%。".as_bytes())),
            ragged,
            row(10, Some(b"8"), Some("回旋支狭窄70%。".as_bytes())),
            row(11, Some(b"1"), Some("前降支近段狭窄80%。".as_bytes())),
            row(12, Some(b"\xff"), Some("右冠通畅。".as_bytes())),
        ];
        let n = rows.len();
        let v = validate(rows, 30, PhiPolicy::Quarantine);
        assert_eq!(
            v.accepted.len() + v.quarantined.len(),
            n,
            "read = accepted + quarantined"
        );
        assert_eq!(
            v.accepted.iter().map(|r| r.row).collect::<Vec<_>>(),
            vec![1]
        );
        let reasons: Vec<(usize, &str)> = v
            .quarantined
            .iter()
            .map(|q| (q.row.row, q.reason.code()))
            .collect();
        for expected in [
            (2, "missing_id"),
            (3, "missing_id"),
            (4, "missing_text"),
            (5, "invalid_utf8"),
            (6, "empty_text"),
            (7, "text_too_long"),
            (8, "conflicting_texts"),
            (9, "malformed"),
            (10, "conflicting_texts"),
            (11, "duplicate_row"),
            (12, "invalid_utf8"),
        ] {
            assert!(
                reasons.contains(&expected),
                "{expected:?} not in {reasons:?}"
            );
        }
        let utf8 = v.quarantined.iter().find(|q| q.row.row == 5).unwrap();
        assert_eq!(utf8.reason.detail(), "text is not valid UTF-8 (byte 3)");
    }
}
