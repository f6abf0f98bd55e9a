//! Reading EMR dumps row by row.
//!
//! Each row keeps its raw bytes until validation, so that a row with invalid UTF-8 or a
//! malformed line is quarantined with its file and row number instead of failing the whole
//! dump. Parquet goes through polars (columnar, typed: ids may be integers); CSV through the
//! `csv` crate's byte records and NDJSON line by line through serde_json, because a columnar
//! reader rejects or silently coerces a whole file on the first bad row, and the nightly job
//! must account for every row.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};

use clap::ValueEnum;
use serde::{Deserialize, Serialize};

use super::{ColumnMap, IngestError};

/// File format of a dump.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum DumpFormat {
    Csv,
    Parquet,
    Ndjson,
}

impl DumpFormat {
    /// From the extension: .csv/.tsv?, .parquet/.pq, .ndjson/.jsonl/.json.
    pub fn from_path(path: &Path) -> Option<DumpFormat> {
        let ext = path.extension()?.to_str()?.to_ascii_lowercase();
        match ext.as_str() {
            "csv" => Some(DumpFormat::Csv),
            "parquet" | "pq" => Some(DumpFormat::Parquet),
            "ndjson" | "jsonl" | "json" => Some(DumpFormat::Ndjson),
            _ => None,
        }
    }
}

/// A field of a row: absent (no such column or JSON null), or its bytes.
pub type RawField = Option<Vec<u8>>;

/// One row of a dump, before validation.
#[derive(Debug, Clone, PartialEq)]
pub struct RawRow {
    pub source: PathBuf,
    /// 1-based: data row for CSV/Parquet (the header is row 0), line for NDJSON.
    pub row: usize,
    pub id: RawField,
    pub text: RawField,
    pub patient: Option<String>,
    pub date: Option<String>,
    pub department: Option<String>,
    /// The row could not be parsed at all (malformed CSV record or JSON line): why.
    pub malformed: Option<String>,
    /// A field holds a value of the wrong kind (an NDJSON `text` that is a number, an object,
    /// an array or a boolean): the field's name and what it held. Quarantined as `wrong_type`,
    /// never turned into text: `{"a":1}` is not a report.
    pub wrong_type: Option<(String, &'static str)>,
}

impl RawRow {
    fn empty(source: &Path, row: usize) -> RawRow {
        RawRow {
            source: source.to_owned(),
            row,
            id: None,
            text: None,
            patient: None,
            date: None,
            department: None,
            malformed: None,
            wrong_type: None,
        }
    }

    /// The id as text, once validated.
    pub fn id_str(&self) -> Option<&str> {
        self.id
            .as_deref()
            .and_then(|b| std::str::from_utf8(b).ok())
            .map(str::trim)
    }

    /// The text, once validated.
    pub fn text_str(&self) -> Option<&str> {
        self.text
            .as_deref()
            .and_then(|b| std::str::from_utf8(b).ok())
    }
}

/// Expand the configured inputs: plain paths are kept (a missing one is an error), globs are
/// expanded in sorted order (a glob matching nothing is an error: a nightly job that silently
/// reads no dump is worse than one that stops).
pub fn expand_inputs(patterns: &[String]) -> Result<Vec<PathBuf>, IngestError> {
    let mut out = Vec::new();
    for pat in patterns {
        if pat.contains(['*', '?', '[']) {
            let mut hits: Vec<PathBuf> = glob::glob(pat)
                .map_err(|e| IngestError::Input(format!("bad glob {pat:?}: {e}")))?
                .collect::<Result<_, _>>()
                .map_err(|e| IngestError::Input(format!("glob {pat:?}: {e}")))?;
            hits.retain(|p| p.is_file());
            if hits.is_empty() {
                return Err(IngestError::Input(format!(
                    "input glob {pat:?} matches no file"
                )));
            }
            hits.sort();
            out.extend(hits);
        } else {
            let p = PathBuf::from(pat);
            if !p.is_file() {
                return Err(IngestError::Input(format!("input {pat:?} is not a file")));
            }
            out.push(p);
        }
    }
    if out.is_empty() {
        return Err(IngestError::Input("no input given".into()));
    }
    Ok(out)
}

/// Read every row of one dump file.
pub fn read_dump(
    path: &Path,
    format: Option<DumpFormat>,
    columns: &ColumnMap,
) -> Result<Vec<RawRow>, IngestError> {
    let format = format.or_else(|| DumpFormat::from_path(path)).ok_or_else(|| IngestError::Format {
        path: path.to_owned(),
        message: "unknown dump format: name it .csv, .parquet or .ndjson/.jsonl, or pass --input-format".into(),
    })?;
    match format {
        DumpFormat::Csv => read_csv(path, columns),
        DumpFormat::Parquet => read_parquet(path, columns),
        DumpFormat::Ndjson => read_ndjson(path, columns),
    }
}

/// A lossy string of an optional metadata field (metadata never quarantines a row).
fn meta(b: Option<&[u8]>) -> Option<String> {
    let s = String::from_utf8_lossy(b?).trim().to_owned();
    (!s.is_empty()).then_some(s)
}

fn read_csv(path: &Path, columns: &ColumnMap) -> Result<Vec<RawRow>, IngestError> {
    let mut file = std::fs::File::open(path).map_err(|e| IngestError::io(path, e))?;
    {
        use std::io::{Read, Seek};
        let mut head = Vec::with_capacity(4096);
        (&mut file)
            .take(4096)
            .read_to_end(&mut head)
            .map_err(|e| IngestError::io(path, e))?;
        check_csv_head(path, &head)?;
        file.rewind().map_err(|e| IngestError::io(path, e))?;
    }
    let mut reader = csv::ReaderBuilder::new().flexible(true).from_reader(file);
    let headers = reader
        .byte_headers()
        .map_err(|e| IngestError::Format {
            path: path.to_owned(),
            message: format!("CSV header: {e}"),
        })?
        .clone();
    let find = |name: &str| {
        headers.iter().position(|h| {
            String::from_utf8_lossy(h)
                .trim()
                .trim_start_matches('\u{feff}')
                == name
        })
    };
    let need = |name: &str| {
        find(name).ok_or_else(|| IngestError::Format {
            path: path.to_owned(),
            message: format!(
                "no column {name:?} (columns: {:?}); map it in pipeline/nightly.toml [columns]",
                headers
                    .iter()
                    .map(|h| String::from_utf8_lossy(h).into_owned())
                    .collect::<Vec<_>>()
            ),
        })
    };
    let (id_col, text_col) = (need(&columns.id)?, need(&columns.text)?);
    let opt = |c: &Option<String>| c.as_deref().and_then(find);
    let (pat_col, date_col, dep_col) = (
        opt(&columns.patient),
        opt(&columns.date),
        opt(&columns.department),
    );
    let mut rows = Vec::new();
    let mut record = csv::ByteRecord::new();
    let mut n = 0usize;
    loop {
        n += 1;
        let mut row = RawRow::empty(path, n);
        match reader.read_byte_record(&mut record) {
            Ok(false) => break,
            Ok(true) => {
                if record.len() != headers.len() {
                    row.malformed = Some(format!(
                        "{} fields, the header has {}",
                        record.len(),
                        headers.len()
                    ));
                }
                row.id = record.get(id_col).map(<[u8]>::to_vec);
                row.text = record.get(text_col).map(<[u8]>::to_vec);
                row.patient = meta(pat_col.and_then(|c| record.get(c)));
                row.date = meta(date_col.and_then(|c| record.get(c)));
                row.department = meta(dep_col.and_then(|c| record.get(c)));
            }
            Err(e) => {
                // An unparseable record (e.g. an unterminated quote): quarantined, and the
                // reader goes on from where the csv crate resynchronises.
                row.malformed = Some(format!("malformed CSV: {e}"));
                if matches!(e.kind(), csv::ErrorKind::Io(_)) {
                    return Err(IngestError::Format {
                        path: path.to_owned(),
                        message: e.to_string(),
                    });
                }
            }
        }
        rows.push(row);
    }
    Ok(rows)
}

fn read_ndjson(path: &Path, columns: &ColumnMap) -> Result<Vec<RawRow>, IngestError> {
    let file = std::fs::File::open(path).map_err(|e| IngestError::io(path, e))?;
    let mut reader = BufReader::new(file);
    if let Some(bom) = utf_bom(reader.fill_buf().map_err(|e| IngestError::io(path, e))?) {
        return Err(not_utf8(path, format!("the file starts with {bom}")));
    }
    let mut rows = Vec::new();
    let mut line = Vec::new();
    let mut n = 0usize;
    loop {
        line.clear();
        let got = reader
            .read_until(b'\n', &mut line)
            .map_err(|e| IngestError::io(path, e))?;
        if got == 0 {
            break;
        }
        n += 1;
        if line.iter().all(u8::is_ascii_whitespace) {
            continue; // blank lines are not rows
        }
        let mut row = RawRow::empty(path, n);
        let Ok(s) = std::str::from_utf8(&line) else {
            // The JSON is not UTF-8: keep what can be found for the quarantine row.
            row.malformed = Some("line is not valid UTF-8".into());
            row.text = Some(line.clone());
            rows.push(row);
            continue;
        };
        match serde_json::from_str::<serde_json::Value>(s) {
            Ok(serde_json::Value::Object(obj)) => {
                let field = |name: &str| -> RawField {
                    match obj.get(name)? {
                        serde_json::Value::Null => None,
                        serde_json::Value::String(s) => Some(s.clone().into_bytes()),
                        other => Some(other.to_string().into_bytes()),
                    }
                };
                row.id = field(&columns.id);
                row.text = field(&columns.text);
                // An id may be a JSON number (12345 is a fine report id); a text must be a
                // string.
                match obj.get(&columns.text) {
                    None | Some(serde_json::Value::Null | serde_json::Value::String(_)) => {}
                    Some(other) => {
                        row.wrong_type = Some((columns.text.clone(), json_kind(other)));
                        row.text = None;
                    }
                }
                let m =
                    |c: &Option<String>| c.as_deref().and_then(&field).and_then(|b| meta(Some(&b)));
                row.patient = m(&columns.patient);
                row.date = m(&columns.date);
                row.department = m(&columns.department);
            }
            Ok(_) => row.malformed = Some("line is JSON but not an object".into()),
            Err(e) => row.malformed = Some(format!("malformed JSON: {e}")),
        }
        rows.push(row);
    }
    Ok(rows)
}

/// What a JSON value is, for a `wrong_type` quarantine row.
fn json_kind(v: &serde_json::Value) -> &'static str {
    match v {
        serde_json::Value::Null => "null",
        serde_json::Value::Bool(_) => "boolean",
        serde_json::Value::Number(_) => "number",
        serde_json::Value::String(_) => "string",
        serde_json::Value::Array(_) => "array",
        serde_json::Value::Object(_) => "object",
    }
}

/// A dump must be UTF-8. A UTF-16 or UTF-32 file is named by its byte-order mark (otherwise
/// it surfaces as garbled column names, or as every NDJSON line quarantined one by one).
fn utf_bom(head: &[u8]) -> Option<&'static str> {
    if head.starts_with(&[0xFF, 0xFE, 0, 0]) || head.starts_with(&[0, 0, 0xFE, 0xFF]) {
        Some("a UTF-32 byte-order mark")
    } else if head.starts_with(&[0xFF, 0xFE]) {
        Some("a UTF-16 (little-endian) byte-order mark")
    } else if head.starts_with(&[0xFE, 0xFF]) {
        Some("a UTF-16 (big-endian) byte-order mark")
    } else {
        None
    }
}

fn not_utf8(path: &Path, what: String) -> IngestError {
    IngestError::Format {
        path: path.to_owned(),
        message: format!(
            "{what}; dumps must be UTF-8 (convert it, e.g. `iconv -f UTF-16 -t UTF-8`)"
        ),
    }
}

/// A CSV's header line must be UTF-8 (its column names are matched against the config).
fn check_csv_head(path: &Path, head: &[u8]) -> Result<(), IngestError> {
    if let Some(bom) = utf_bom(head) {
        return Err(not_utf8(path, format!("the file starts with {bom}")));
    }
    let line = head.split(|&b| b == b'\n').next().unwrap_or(head);
    match std::str::from_utf8(line) {
        // A character cut at the end of the 4 KiB read is not an error.
        Err(e) if e.error_len().is_some() => Err(not_utf8(
            path,
            format!(
                "the header line is not UTF-8 (first invalid byte at offset {})",
                e.valid_up_to()
            ),
        )),
        _ => Ok(()),
    }
}

fn read_parquet(path: &Path, columns: &ColumnMap) -> Result<Vec<RawRow>, IngestError> {
    use polars::prelude::*;
    let perr = |e: PolarsError| IngestError::Parquet {
        path: path.to_owned(),
        message: e.to_string(),
    };
    let file = std::fs::File::open(path).map_err(|e| IngestError::io(path, e))?;
    let df = ParquetReader::new(file).finish().map_err(perr)?;
    let names: Vec<String> = df
        .get_column_names()
        .iter()
        .map(|s| s.to_string())
        .collect();
    let col_bytes = |name: &str, required: bool| -> Result<Option<Vec<RawField>>, IngestError> {
        let Ok(col) = df.column(name) else {
            if required {
                return Err(IngestError::Format {
                    path: path.to_owned(),
                    message: format!("no column {name:?} (columns: {names:?}); map it in pipeline/nightly.toml [columns]"),
                });
            }
            return Ok(None);
        };
        let values: Vec<RawField> = match col.dtype() {
            DataType::Binary => col
                .binary()
                .map_err(perr)?
                .iter()
                .map(|v| v.map(<[u8]>::to_vec))
                .collect(),
            DataType::String => col
                .str()
                .map_err(perr)?
                .iter()
                .map(|v| v.map(|s| s.as_bytes().to_vec()))
                .collect(),
            _ => {
                let s = col.cast(&DataType::String).map_err(perr)?;
                s.str()
                    .map_err(perr)?
                    .iter()
                    .map(|v| v.map(|s| s.as_bytes().to_vec()))
                    .collect()
            }
        };
        Ok(Some(values))
    };
    let ids = col_bytes(&columns.id, true)?.expect("required");
    let texts = col_bytes(&columns.text, true)?.expect("required");
    let opt = |c: &Option<String>| -> Result<Option<Vec<RawField>>, IngestError> {
        match c {
            Some(name) => col_bytes(name, false),
            None => Ok(None),
        }
    };
    let (pats, dates, deps) = (
        opt(&columns.patient)?,
        opt(&columns.date)?,
        opt(&columns.department)?,
    );
    let get = |v: &Option<Vec<RawField>>, i: usize| v.as_ref().and_then(|v| meta(v[i].as_deref()));
    Ok((0..df.height())
        .map(|i| RawRow {
            source: path.to_owned(),
            row: i + 1,
            id: ids[i].clone(),
            text: texts[i].clone(),
            patient: get(&pats, i),
            date: get(&dates, i),
            department: get(&deps, i),
            malformed: None,
            wrong_type: None,
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ingest::validate::validate;

    fn write(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
        let p = dir.join(name);
        std::fs::write(&p, bytes).unwrap();
        p
    }

    #[test]
    fn an_ndjson_text_that_is_not_a_string_is_quarantined_as_wrong_type() {
        let dir = tempfile::tempdir().unwrap();
        let lines = [
            r#"{"report_id": 1, "text": "前降支近段狭窄80%。"}"#,
            r#"{"report_id": "2", "text": 12345}"#,
            r#"{"report_id": "3", "text": {"body": "右冠通畅"}}"#,
            r#"{"report_id": "4", "text": ["右冠通畅"]}"#,
            r#"{"report_id": "5", "text": null}"#,
        ];
        let p = write(dir.path(), "d.ndjson", lines.join("\n").as_bytes());
        let rows = read_dump(&p, None, &ColumnMap::default()).unwrap();
        let v = validate(rows, 1000, crate::ingest::phi::PhiPolicy::Quarantine);
        assert_eq!(
            v.accepted.len() + v.quarantined.len(),
            5,
            "read = accepted + quarantined"
        );
        assert_eq!(v.accepted.len(), 1);
        assert_eq!(v.accepted[0].id_str(), Some("1"), "a numeric id is an id");
        let got: Vec<(usize, &str, String)> = v
            .quarantined
            .iter()
            .map(|q| (q.row.row, q.reason.code(), q.reason.detail()))
            .collect();
        assert_eq!(
            got,
            vec![
                (
                    2,
                    "wrong_type",
                    "text is a JSON number, not a string".to_owned()
                ),
                (
                    3,
                    "wrong_type",
                    "text is a JSON object, not a string".to_owned()
                ),
                (
                    4,
                    "wrong_type",
                    "text is a JSON array, not a string".to_owned()
                ),
                (5, "missing_text", "no text".to_owned()),
            ]
        );
    }

    #[test]
    fn a_dump_that_is_not_utf8_is_named_for_what_it_is() {
        let dir = tempfile::tempdir().unwrap();
        let csv = "report_id,text\n1,前降支狭窄\n";
        let utf16: Vec<u8> = [0xFF, 0xFE]
            .into_iter()
            .chain(csv.encode_utf16().flat_map(u16::to_le_bytes))
            .collect();
        for (name, bytes, expected) in [
            (
                "a.csv",
                utf16.clone(),
                "starts with a UTF-16 (little-endian) byte-order mark",
            ),
            (
                "a.ndjson",
                utf16,
                "starts with a UTF-16 (little-endian) byte-order mark",
            ),
            (
                "b.csv",
                b"report_id,t\xe9xt\n1,x\n".to_vec(),
                "header line is not UTF-8 (first invalid byte at offset 11)",
            ),
        ] {
            let p = write(dir.path(), name, &bytes);
            let err = read_dump(&p, None, &ColumnMap::default())
                .unwrap_err()
                .to_string();
            assert!(err.contains(expected), "{name}: {err}");
            assert!(err.contains("dumps must be UTF-8"), "{name}: {err}");
        }
        // A UTF-8 byte-order mark is fine (spreadsheet exports write one).
        let p = write(
            dir.path(),
            "c.csv",
            "\u{feff}report_id,text\n1,前降支狭窄\n".as_bytes(),
        );
        assert_eq!(read_dump(&p, None, &ColumnMap::default()).unwrap().len(), 1);
    }
}
