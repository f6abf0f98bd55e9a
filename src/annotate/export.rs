//! `cbrrel annotate export`: the model's predictions on reports of a dump as doccano tasks.
//!
//! A task is one whole report, not a sentence: the corpus and its train/dev split are by
//! report (the reports are templated, so sentences of one report in both halves would leak),
//! and relations may cross a sentence boundary. Each task line is doccano's relation JSONL
//! (entities with offsets and the schema's 中文 labels, relations with `from_id`/`to_id`/`type`,
//! confidences) plus the fields the import checks: `report_id` and `content_hash` (SHA-256 of
//! the text, as ingest computes it), and why it was chosen (`selection`, `score`, `model_id`).
//! doccano keeps unknown top-level fields as the example's metadata and exports them again.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use serde::Serialize;
use serde_json::Value;

use super::select::{rank, Selection};
use super::AnnotateError;
use crate::corpus::{record_to_doccano, Record, Schema};
use crate::infer::LoadedModel;
use crate::ingest::{content_hash, QuarantinedRow};

/// A report to predict: id, text (as ingest accepted it: masked under `phi = "mask"`).
#[derive(Debug, Clone)]
pub struct ExportReport {
    pub report_id: String,
    pub text: String,
}

/// What to export.
pub struct ExportJob<'a> {
    pub reports: &'a [ExportReport],
    pub model: &'a LoadedModel,
    /// The second model of `--select disagreement`.
    pub against: Option<&'a LoadedModel>,
    pub selection: Selection,
    /// Tasks to write (at most; fewer when the dump has fewer reports).
    pub n: usize,
    pub seed: u64,
    pub batch_size: usize,
}

/// One doccano task: a report's prediction and why it was chosen.
#[derive(Debug, Clone)]
pub struct Task {
    pub predicted: Record,
    pub content_hash: String,
    pub score: Option<f64>,
}

/// The numbers of one export (`read = accepted + quarantined`).
#[derive(Debug, Clone, Default, Serialize)]
pub struct ExportSummary {
    pub inputs: Vec<PathBuf>,
    pub read: usize,
    pub accepted: usize,
    pub quarantined: usize,
    /// Quarantined rows per reason code (the rows: `<out>.quarantine.csv`).
    pub quarantine_reasons: BTreeMap<String, usize>,
    pub quarantine_file: Option<PathBuf>,
    /// Accepted reports predicted (all of them: every strategy ranks the whole dump).
    pub predicted: usize,
    pub exported: usize,
    pub entities: usize,
    pub relations: usize,
    pub selection: Option<Selection>,
    pub model_id: String,
    pub against_model_id: Option<String>,
    pub out: PathBuf,
    pub seconds: f64,
}

impl ExportSummary {
    pub fn adds_up(&self) -> bool {
        self.read == self.accepted + self.quarantined
            && self.quarantine_reasons.values().sum::<usize>() == self.quarantined
    }

    /// The summary's quarantine part from the validated dump.
    pub fn count_quarantine(&mut self, rows: &[QuarantinedRow]) {
        self.quarantined = rows.len();
        for q in rows {
            *self
                .quarantine_reasons
                .entry(q.reason.code().to_owned())
                .or_default() += 1;
        }
    }
}

impl std::fmt::Display for ExportSummary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(
            f,
            "read {} reports: {} accepted, {} quarantined {:?}{}",
            self.read,
            self.accepted,
            self.quarantined,
            self.quarantine_reasons,
            self.quarantine_file
                .as_ref()
                .map(|p| format!(" (rows: {})", p.display()))
                .unwrap_or_default()
        )?;
        writeln!(
            f,
            "predicted {} reports with {}{}; exported {} tasks ({} entities, {} relations), {} first, to {}",
            self.predicted,
            self.model_id,
            self.against_model_id
                .as_ref()
                .map(|m| format!(" and {m}"))
                .unwrap_or_default(),
            self.exported,
            self.entities,
            self.relations,
            self.selection.map_or("", |s| s.as_str()),
            self.out.display()
        )?;
        writeln!(f, "time: {:.2}s", self.seconds)
    }
}

/// Predict every report and choose the tasks, best first.
pub fn select_tasks(job: &ExportJob<'_>) -> Result<Vec<Task>, AnnotateError> {
    let records: Vec<Record> = job
        .reports
        .iter()
        .map(|r| Record::unannotated(&r.report_id, &r.text))
        .collect();
    let predicted = job.model.predictor(job.batch_size).predict(&records)?;
    let against = match (job.selection, job.against) {
        (Selection::Disagreement, Some(m)) => Some(m.predictor(job.batch_size).predict(&records)?),
        (Selection::Disagreement, None) => return Err(AnnotateError::DisagreementNeedsTwoModels),
        _ => None,
    };
    let order = rank(job.selection, &predicted, against.as_deref(), job.seed);
    Ok(order
        .into_iter()
        .take(job.n)
        .map(|(i, score)| Task {
            predicted: predicted[i].clone(),
            content_hash: content_hash(&job.reports[i].text),
            score,
        })
        .collect())
}

/// A task as one doccano JSON object.
pub fn task_json(task: &Task, schema: &Schema, selection: Selection, model_id: &str) -> Value {
    // doccano links relations to entities by integer ids: number them 1, 2, … per task.
    let mut record = task.predicted.clone();
    for (k, e) in record.entities.iter_mut().enumerate() {
        e.id = (k + 1).to_string();
    }
    for (k, r) in record.relations.iter_mut().enumerate() {
        r.id = (k + 1).to_string();
    }
    let (mut v, _) = record_to_doccano(&record, Some(schema));
    let obj = v.as_object_mut().expect("a record is an object");
    obj.insert("report_id".into(), task.predicted.id.clone().into());
    obj.insert("content_hash".into(), task.content_hash.clone().into());
    obj.insert("model_id".into(), model_id.into());
    obj.insert("selection".into(), selection.as_str().into());
    if let Some(s) = task.score {
        obj.insert("score".into(), serde_json::json!((s * 1e4).round() / 1e4));
    }
    v
}

/// Run an export: choose the tasks and write them to `out` atomically (JSON lines).
pub fn export(job: &ExportJob<'_>, out: &Path) -> Result<ExportSummary, AnnotateError> {
    let t0 = Instant::now();
    let tasks = select_tasks(job)?;
    let schema = &job.model.config.schema;
    let model_id = &job.model.config.model_id;
    let mut text = String::new();
    for t in &tasks {
        text.push_str(&task_json(t, schema, job.selection, model_id).to_string());
        text.push('\n');
    }
    crate::atomic::write(out, text.as_bytes())?;
    Ok(ExportSummary {
        accepted: job.reports.len(),
        predicted: job.reports.len(),
        exported: tasks.len(),
        entities: tasks.iter().map(|t| t.predicted.entities.len()).sum(),
        relations: tasks.iter().map(|t| t.predicted.relations.len()).sum(),
        selection: Some(job.selection),
        model_id: model_id.clone(),
        against_model_id: job.against.map(|m| m.config.model_id.clone()),
        out: out.to_owned(),
        seconds: t0.elapsed().as_secs_f64(),
        ..Default::default()
    })
}
