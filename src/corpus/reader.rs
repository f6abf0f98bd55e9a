//! Reading a corpus file: line splitting, UTF-8 and JSON checks, format detection, duplicate
//! ids. The per-format parsing lives in `doccano.rs` and `spo.rs`.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use serde::Serialize;

use super::problem::{Action, Problem, ProblemKind};
use super::record::Record;
use super::schema::Schema;
use super::{doccano, spo, CorpusError};

/// The annotated corpus formats the project reads and writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
pub enum Format {
    /// doccano relation export: `{"id", "text", "entities": [...], "relations": [...]}`.
    Doccano,
    /// spo_list JSONL (CMeIE, DuIE): `{"text", "spo_list": [{"subject", "predicate", "object", ...}]}`.
    Spo,
}

impl Format {
    /// Whether the format carries char offsets of its own (spo grounding is a string search).
    pub fn has_offsets(self) -> bool {
        matches!(self, Format::Doccano)
    }

    fn detect(value: &serde_json::Value) -> Option<Format> {
        let obj = value.as_object()?;
        if obj.contains_key("spo_list") {
            Some(Format::Spo)
        } else if obj.contains_key("entities") || obj.contains_key("relations") {
            Some(Format::Doccano)
        } else {
            None
        }
    }
}

/// A corpus file after reading: the records kept and the problems found.
#[derive(Debug, Clone)]
pub struct Corpus {
    pub path: PathBuf,
    pub format: Format,
    /// The schema records were typed with (`None`: spo file read without a schema, labels as given).
    pub schema: Option<Schema>,
    pub records: Vec<Record>,
    pub problems: Vec<Problem>,
    /// Non-blank lines read; `read == records.len() + rejected()`.
    pub read: usize,
}

impl Corpus {
    /// Records made in memory (predictions, a dev set) as a doccano corpus named `path`, with
    /// nothing rejected: what `evaluate` takes.
    pub fn in_memory(path: PathBuf, schema: &Schema, records: Vec<Record>) -> Corpus {
        Corpus {
            path,
            format: Format::Doccano,
            schema: Some(schema.clone()),
            read: records.len(),
            records,
            problems: Vec::new(),
        }
    }

    /// Records rejected whole.
    pub fn rejected(&self) -> usize {
        self.problems
            .iter()
            .filter(|p| p.action == Action::RecordRejected)
            .count()
    }

    /// A record by id.
    pub fn get(&self, id: &str) -> Option<&Record> {
        self.records.iter().find(|r| r.id == id)
    }
}

/// Read a corpus file. `format` `None` detects it from the first JSON line; `schema` `None`
/// means CASMeD for doccano files and "labels as given" for spo files.
pub fn read_corpus(
    path: &Path,
    format: Option<Format>,
    schema: Option<&Schema>,
) -> Result<Corpus, CorpusError> {
    let bytes = std::fs::read(path).map_err(|e| CorpusError::io(path, e))?;
    read_corpus_bytes(path, &bytes, format, schema)
}

/// Read a corpus from a string (tests, `--text` inputs).
pub fn read_corpus_str(
    text: &str,
    format: Option<Format>,
    schema: Option<&Schema>,
) -> Result<Corpus, CorpusError> {
    read_corpus_bytes(Path::new("<string>"), text.as_bytes(), format, schema)
}

/// The lines of a JSON-lines file with their 1-based numbers, blank ones included, without the
/// `\r` of CRLF files and the UTF-8 byte-order mark of the first.
pub(crate) fn jsonl_lines(bytes: &[u8]) -> impl Iterator<Item = (usize, &[u8])> {
    bytes.split(|&b| b == b'\n').enumerate().map(|(i, raw)| {
        let raw = raw.strip_suffix(b"\r").unwrap_or(raw);
        let raw = if i == 0 {
            raw.strip_prefix("\u{feff}".as_bytes()).unwrap_or(raw)
        } else {
            raw
        };
        (i + 1, raw)
    })
}

/// Read a corpus from bytes already in memory (`path` names it in problems); `cbrrel annotate
/// import` reads doccano's export this way after rewriting each line to the shape read here.
pub fn read_corpus_bytes(
    path: &Path,
    bytes: &[u8],
    format: Option<Format>,
    schema: Option<&Schema>,
) -> Result<Corpus, CorpusError> {
    let mut lines: Vec<(usize, Result<&str, ()>)> = Vec::new();
    for (line, raw) in jsonl_lines(bytes) {
        if raw.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        lines.push((line, std::str::from_utf8(raw).map_err(|_| ())));
    }
    let format = match format {
        Some(f) => f,
        // An empty file is an empty corpus (an empty prediction, say), in either format.
        None if lines.is_empty() => Format::Doccano,
        None => lines
            .iter()
            .filter_map(|(_, l)| l.ok())
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .find_map(|v| Format::detect(&v))
            .ok_or_else(|| CorpusError::UnknownFormat {
                path: path.to_owned(),
                reason: "no JSON line has `entities`/`relations` (doccano) or `spo_list` (spo)"
                    .into(),
            })?,
    };
    let casmed;
    let schema = match (schema, format) {
        (Some(s), _) => Some(s),
        (None, Format::Doccano) => {
            casmed = Schema::casmed();
            Some(&casmed)
        }
        (None, Format::Spo) => None,
    };
    let mut records = Vec::with_capacity(lines.len());
    let mut problems = Vec::new();
    let mut ids = HashSet::new();
    for (line_no, line) in &lines {
        let reject = |kind, record: Option<String>, detail: String| Problem {
            line: *line_no,
            record,
            kind,
            action: Action::RecordRejected,
            detail,
        };
        let Ok(line) = line else {
            problems.push(reject(
                ProblemKind::InvalidUtf8,
                None,
                "line is not valid UTF-8".into(),
            ));
            continue;
        };
        let value: serde_json::Value = match serde_json::from_str(line) {
            Ok(v) => v,
            Err(e) => {
                problems.push(reject(ProblemKind::MalformedJson, None, e.to_string()));
                continue;
            }
        };
        let record = match format {
            Format::Doccano => doccano::parse(
                *line_no,
                line,
                &value,
                schema.expect("doccano has a schema"),
                &mut problems,
            ),
            Format::Spo => spo::parse(*line_no, line, &value, schema, &mut problems),
        };
        let Some(record) = record else { continue };
        if !ids.insert(record.id.clone()) {
            problems.push(reject(
                ProblemKind::DuplicateId,
                Some(record.id.clone()),
                format!("id {} already used by an earlier record", record.id),
            ));
            continue;
        }
        records.push(record);
    }
    Ok(Corpus {
        path: path.to_owned(),
        format,
        schema: schema.cloned(),
        records,
        problems,
        read: lines.len(),
    })
}
