//! The extraction's output row, [`TripleRow`], and its Parquet form (one file per shard): the
//! one type the shard writer, the shard reader and the graph's RDF builder share.

use std::path::Path;

use polars::prelude::*;
use serde::Serialize;

use super::error::ExtractError;
use crate::ingest::output::{write_parquet_atomic, ParquetWriteError};

/// One extracted relation: a row of a shard file, what the load reads back and what the RDF
/// builder turns into quads (spans are char offsets in the report's text, end exclusive).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TripleRow {
    pub report_id: String,
    pub relation: String,
    pub subject_text: String,
    pub subject_type: String,
    pub subject_start: u64,
    pub subject_end: u64,
    pub object_text: String,
    pub object_type: String,
    pub object_start: u64,
    pub object_end: u64,
    pub confidence: f64,
    pub model_id: String,
}

impl TripleRow {
    /// A relation between two mentions, each `(text, type, (start, end))`, for a
    /// `graph::ReportInput`, which names the report and the run itself (so `report_id` and
    /// `model_id` stay empty here).
    pub fn between(
        relation: &str,
        subject: (&str, &str, (u64, u64)),
        object: (&str, &str, (u64, u64)),
        confidence: f64,
    ) -> TripleRow {
        TripleRow {
            report_id: String::new(),
            relation: relation.to_owned(),
            subject_text: subject.0.to_owned(),
            subject_type: subject.1.to_owned(),
            subject_start: subject.2 .0,
            subject_end: subject.2 .1,
            object_text: object.0.to_owned(),
            object_type: object.1.to_owned(),
            object_start: object.2 .0,
            object_end: object.2 .1,
            confidence,
            model_id: String::new(),
        }
    }

    /// The subject's char span `(start, end)`.
    pub fn subject_span(&self) -> (u64, u64) {
        (self.subject_start, self.subject_end)
    }

    /// The object's char span `(start, end)`.
    pub fn object_span(&self) -> (u64, u64) {
        (self.object_start, self.object_end)
    }
}

/// Write one shard's triples atomically.
pub fn write_shard(path: &Path, triples: &[TripleRow]) -> Result<(), ExtractError> {
    let s = |f: fn(&TripleRow) -> &str| triples.iter().map(f).collect::<Vec<&str>>();
    let u = |f: fn(&TripleRow) -> u64| triples.iter().map(f).collect::<Vec<u64>>();
    let columns = vec![
        Column::new("report_id".into(), s(|t| &t.report_id)),
        Column::new("relation".into(), s(|t| &t.relation)),
        Column::new("subject_text".into(), s(|t| &t.subject_text)),
        Column::new("subject_type".into(), s(|t| &t.subject_type)),
        Column::new("subject_start".into(), u(|t| t.subject_start)),
        Column::new("subject_end".into(), u(|t| t.subject_end)),
        Column::new("object_text".into(), s(|t| &t.object_text)),
        Column::new("object_type".into(), s(|t| &t.object_type)),
        Column::new("object_start".into(), u(|t| t.object_start)),
        Column::new("object_end".into(), u(|t| t.object_end)),
        Column::new(
            "confidence".into(),
            triples.iter().map(|t| t.confidence).collect::<Vec<f64>>(),
        ),
        Column::new("model_id".into(), s(|t| &t.model_id)),
    ];
    let perr = |e: PolarsError| ExtractError::Parquet {
        path: path.to_owned(),
        message: e.to_string(),
    };
    let mut df = DataFrame::new(triples.len(), columns).map_err(perr)?;
    write_parquet_atomic(path, &mut df).map_err(|e| match e {
        ParquetWriteError::Io(e) => ExtractError::Io {
            path: path.to_owned(),
            source: e,
        },
        ParquetWriteError::Polars(e) => perr(e),
    })
}

/// Read one shard file.
pub fn read_shard(path: &Path) -> Result<Vec<TripleRow>, ExtractError> {
    let perr = |e: PolarsError| ExtractError::Parquet {
        path: path.to_owned(),
        message: e.to_string(),
    };
    let file = std::fs::File::open(path).map_err(|source| ExtractError::Io {
        path: path.to_owned(),
        source,
    })?;
    let df = ParquetReader::new(file).finish().map_err(perr)?;
    let s = |name: &str| -> Result<Vec<String>, ExtractError> {
        df.column(name)
            .map_err(perr)?
            .str()
            .map_err(perr)?
            .iter()
            .map(|v| {
                v.map(str::to_owned).ok_or_else(|| {
                    ExtractError::Invalid(format!("{}: null {name}", path.display()))
                })
            })
            .collect()
    };
    let u = |name: &str| -> Result<Vec<u64>, ExtractError> {
        df.column(name)
            .map_err(perr)?
            .u64()
            .map_err(perr)?
            .iter()
            .map(|v| {
                v.ok_or_else(|| ExtractError::Invalid(format!("{}: null {name}", path.display())))
            })
            .collect()
    };
    let (ids, rels, st, sty, ot, oty, models) = (
        s("report_id")?,
        s("relation")?,
        s("subject_text")?,
        s("subject_type")?,
        s("object_text")?,
        s("object_type")?,
        s("model_id")?,
    );
    let (ss, se, os, oe) = (
        u("subject_start")?,
        u("subject_end")?,
        u("object_start")?,
        u("object_end")?,
    );
    let conf: Vec<f64> = df
        .column("confidence")
        .map_err(perr)?
        .f64()
        .map_err(perr)?
        .iter()
        .map(|v| v.unwrap_or(0.0))
        .collect();
    Ok((0..df.height())
        .map(|i| TripleRow {
            report_id: ids[i].clone(),
            relation: rels[i].clone(),
            subject_text: st[i].clone(),
            subject_type: sty[i].clone(),
            subject_start: ss[i],
            subject_end: se[i],
            object_text: ot[i].clone(),
            object_type: oty[i].clone(),
            object_start: os[i],
            object_end: oe[i],
            confidence: conf[i],
            model_id: models[i].clone(),
        })
        .collect())
}
