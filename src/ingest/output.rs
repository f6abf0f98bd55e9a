//! Ingest outputs: `reports.parquet` (accepted reports, with content hash and status) and
//! `quarantine.csv` (every rejected row with its file, row, id, reason). Both are written to a
//! temporary file and renamed, so a crash never leaves a half-written stage output.

use std::path::Path;

use polars::prelude::*;
use serde::Serialize;

use super::{IngestError, QuarantinedRow};

pub const REPORTS_FILE: &str = "reports.parquet";
pub const QUARANTINE_FILE: &str = "quarantine.csv";
/// Reports in the store that tonight's dump does not mention (one `report_id` column).
pub const MISSING_FILE: &str = "missing.csv";
/// The spans the PHI guard masked (`phi = "mask"`): report id, kind, char start, char end.
pub const PHI_MASKED_FILE: &str = "phi_masked.csv";

/// Whether a report needs extraction tonight.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ReportStatus {
    /// Not in the store yet.
    New,
    /// In the store with another text: re-processed, its old triples replaced.
    Changed,
    /// In the store with this very text: skipped.
    Unchanged,
}

impl ReportStatus {
    pub fn as_str(&self) -> &'static str {
        match self {
            ReportStatus::New => "new",
            ReportStatus::Changed => "changed",
            ReportStatus::Unchanged => "unchanged",
        }
    }

    fn parse(s: &str) -> Option<ReportStatus> {
        match s {
            "new" => Some(ReportStatus::New),
            "changed" => Some(ReportStatus::Changed),
            "unchanged" => Some(ReportStatus::Unchanged),
            _ => None,
        }
    }

    /// Extraction and loading work on new and changed reports only.
    pub fn needs_processing(&self) -> bool {
        *self != ReportStatus::Unchanged
    }
}

/// One accepted report.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct IngestedReport {
    pub report_id: String,
    pub patient_id: Option<String>,
    pub date: Option<String>,
    pub department: Option<String>,
    pub text: String,
    /// SHA-256 of the text, hex.
    pub content_hash: String,
    pub status: ReportStatus,
    /// Dump file and row it came from.
    pub source: String,
    pub row: u64,
}

fn perr(path: &Path) -> impl Fn(PolarsError) -> IngestError + '_ {
    move |e| IngestError::Parquet {
        path: path.to_owned(),
        message: e.to_string(),
    }
}

/// Write the accepted reports as Parquet, atomically.
pub fn write_reports(path: &Path, reports: &[IngestedReport]) -> Result<(), IngestError> {
    let s = |f: fn(&IngestedReport) -> Option<&str>| {
        reports.iter().map(f).collect::<Vec<Option<&str>>>()
    };
    let columns = vec![
        Column::new("report_id".into(), s(|r| Some(&r.report_id))),
        Column::new("patient_id".into(), s(|r| r.patient_id.as_deref())),
        Column::new("date".into(), s(|r| r.date.as_deref())),
        Column::new("department".into(), s(|r| r.department.as_deref())),
        Column::new("text".into(), s(|r| Some(&r.text))),
        Column::new("content_hash".into(), s(|r| Some(&r.content_hash))),
        Column::new("status".into(), s(|r| Some(r.status.as_str()))),
        Column::new("source".into(), s(|r| Some(&r.source))),
        Column::new(
            "row".into(),
            reports.iter().map(|r| r.row).collect::<Vec<u64>>(),
        ),
    ];
    let mut df = DataFrame::new(reports.len(), columns).map_err(perr(path))?;
    write_parquet_atomic(path, &mut df).map_err(|e| match e {
        ParquetWriteError::Io(e) => IngestError::io(path, e),
        ParquetWriteError::Polars(e) => perr(path)(e),
    })
}

/// Why writing a Parquet file failed.
#[derive(Debug)]
pub enum ParquetWriteError {
    Io(std::io::Error),
    Polars(PolarsError),
}

impl From<std::io::Error> for ParquetWriteError {
    fn from(e: std::io::Error) -> Self {
        ParquetWriteError::Io(e)
    }
}

/// Write a DataFrame as Parquet, atomically ([`crate::atomic::write_with`]).
pub fn write_parquet_atomic(path: &Path, df: &mut DataFrame) -> Result<(), ParquetWriteError> {
    crate::atomic::write_with(path, |file| {
        ParquetWriter::new(file)
            .finish(df)
            .map(drop)
            .map_err(ParquetWriteError::Polars)
    })
}

/// Read `reports.parquet` back (the extract and load stages' input).
pub fn read_reports(path: &Path) -> Result<Vec<IngestedReport>, IngestError> {
    let file = std::fs::File::open(path).map_err(|e| IngestError::io(path, e))?;
    let df = ParquetReader::new(file).finish().map_err(perr(path))?;
    let col = |name: &str| -> Result<Vec<Option<String>>, IngestError> {
        Ok(df
            .column(name)
            .map_err(perr(path))?
            .str()
            .map_err(perr(path))?
            .iter()
            .map(|v| v.map(str::to_owned))
            .collect())
    };
    let (ids, pats, dates, deps, texts, hashes, statuses, sources) = (
        col("report_id")?,
        col("patient_id")?,
        col("date")?,
        col("department")?,
        col("text")?,
        col("content_hash")?,
        col("status")?,
        col("source")?,
    );
    let rows: Vec<Option<u64>> = df
        .column("row")
        .map_err(perr(path))?
        .u64()
        .map_err(perr(path))?
        .iter()
        .collect();
    let bad = |what: &str, i: usize| IngestError::Format {
        path: path.to_owned(),
        message: format!("row {}: {what} missing or invalid", i + 1),
    };
    (0..df.height())
        .map(|i| {
            Ok(IngestedReport {
                report_id: ids[i].clone().ok_or_else(|| bad("report_id", i))?,
                patient_id: pats[i].clone(),
                date: dates[i].clone(),
                department: deps[i].clone(),
                text: texts[i].clone().ok_or_else(|| bad("text", i))?,
                content_hash: hashes[i].clone().ok_or_else(|| bad("content_hash", i))?,
                status: statuses[i]
                    .as_deref()
                    .and_then(ReportStatus::parse)
                    .ok_or_else(|| bad("status", i))?,
                source: sources[i].clone().unwrap_or_default(),
                row: rows[i].unwrap_or(0),
            })
        })
        .collect()
}

/// Write quarantined rows as CSV: source, row, report_id, reason, detail, text_preview.
/// Bytes that are not UTF-8 are shown as U+FFFD in the preview (the reason says where).
pub fn write_quarantine(path: &Path, rows: &[QuarantinedRow]) -> Result<(), IngestError> {
    let mut w = csv::Writer::from_writer(Vec::new());
    let io = |e: csv::Error| IngestError::Format {
        path: path.to_owned(),
        message: e.to_string(),
    };
    w.write_record([
        "source",
        "row",
        "report_id",
        "reason",
        "detail",
        "text_preview",
    ])
    .map_err(io)?;
    for q in rows {
        let lossy = |b: &Option<Vec<u8>>| {
            b.as_deref()
                .map(|b| String::from_utf8_lossy(b).into_owned())
                .unwrap_or_default()
        };
        let preview: String = lossy(&q.row.text).chars().take(80).collect();
        w.write_record([
            q.row.source.display().to_string(),
            q.row.row.to_string(),
            lossy(&q.row.id),
            q.reason.code().to_owned(),
            q.reason.detail(),
            preview,
        ])
        .map_err(io)?;
    }
    let bytes = w.into_inner().map_err(|e| IngestError::Format {
        path: path.to_owned(),
        message: e.to_string(),
    })?;
    crate::atomic::write(path, &bytes).map_err(|e| IngestError::Format {
        path: path.to_owned(),
        message: e.to_string(),
    })
}

/// Write the ids of stored reports absent from the dump as a one-column CSV, atomically.
pub fn write_missing(path: &Path, ids: &[String]) -> Result<(), IngestError> {
    write_csv(path, &["report_id"], ids.iter().map(|id| vec![id.clone()]))
}

/// Write `phi_masked.csv`: one row per masked span (the kind and where, never the text).
pub fn write_phi_masked(
    path: &Path,
    masked: &[(String, Vec<super::phi::PhiHit>)],
) -> Result<(), IngestError> {
    let rows = masked.iter().flat_map(|(id, hits)| {
        hits.iter().map(move |h| {
            vec![
                id.clone(),
                h.kind.code().to_owned(),
                h.start.to_string(),
                h.end.to_string(),
            ]
        })
    });
    write_csv(path, &["report_id", "kind", "start", "end"], rows)
}

/// A small CSV written atomically (missing.csv, phi_masked.csv).
fn write_csv(
    path: &Path,
    header: &[&str],
    rows: impl IntoIterator<Item = Vec<String>>,
) -> Result<(), IngestError> {
    let err = |e: String| IngestError::Format {
        path: path.to_owned(),
        message: e,
    };
    let mut w = csv::Writer::from_writer(Vec::new());
    w.write_record(header).map_err(|e| err(e.to_string()))?;
    for row in rows {
        w.write_record(&row).map_err(|e| err(e.to_string()))?;
    }
    let bytes = w.into_inner().map_err(|e| err(e.to_string()))?;
    crate::atomic::write(path, &bytes).map_err(|e| err(e.to_string()))
}

/// Read `missing.csv` (or any CSV whose first column is `report_id`, e.g. a hand-made list for
/// `cbrrel retract --ids`).
pub fn read_missing(path: &Path) -> Result<Vec<String>, IngestError> {
    let err = |e: String| IngestError::Format {
        path: path.to_owned(),
        message: e,
    };
    let mut r = csv::Reader::from_path(path).map_err(|e| err(e.to_string()))?;
    let headers = r.headers().map_err(|e| err(e.to_string()))?;
    if headers.get(0).map(str::trim) != Some("report_id") {
        return Err(err(format!(
            "the first column must be `report_id`, not {:?}",
            headers.get(0).unwrap_or("")
        )));
    }
    let mut ids = Vec::new();
    for (i, rec) in r.records().enumerate() {
        let rec = rec.map_err(|e| err(e.to_string()))?;
        match rec.get(0).map(str::trim) {
            Some(id) if !id.is_empty() => ids.push(id.to_owned()),
            _ => return Err(err(format!("row {}: empty report_id", i + 2))),
        }
    }
    Ok(ids)
}
