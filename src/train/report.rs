//! A finished training as `cbrrel train` reports it: the [`TrainSummary`] with where the run
//! went, on which device and how long it took — one line for people, one JSON object for
//! schedulers (`--format json`).

use std::fmt;
use std::path::PathBuf;
use std::time::Instant;

use serde::Serialize;
use serde_json::json;
use tch::Device;

use super::trainer::{train, TrainError, TrainJob, TrainSummary};

/// What `cbrrel train` prints.
#[derive(Debug, Clone)]
pub struct TrainReport {
    pub summary: TrainSummary,
    /// The run directory.
    pub out: PathBuf,
    pub device: Device,
    /// Wall time of the whole training, data preparation included.
    pub seconds: f64,
}

/// Train, timed: [`train`] and the report of it. With a dev set, the saved model's evaluation
/// report on it (the one `cbrrel eval --report` writes, with the training curves) goes into
/// `<run>/eval/`.
pub fn train_report(job: TrainJob<'_>) -> Result<TrainReport, TrainError> {
    let (out, device) = (job.out.clone(), job.device);
    let (dev, schema) = (job.dev, job.schema);
    let t0 = Instant::now();
    let summary = train(job)?;
    if let Some(dev) = dev.filter(|d| !d.is_empty()) {
        write_eval_report(&out, device, dev, schema)?;
    }
    Ok(TrainReport {
        summary,
        out,
        device,
        seconds: t0.elapsed().as_secs_f64(),
    })
}

/// The saved run scored on `dev`, written as an evaluation report into `<run>/eval/`.
fn write_eval_report(
    out: &std::path::Path,
    device: Device,
    dev: &[crate::corpus::Record],
    schema: &crate::corpus::Schema,
) -> Result<(), TrainError> {
    use crate::eval::{evaluate, figures, training_curve, EvalOptions, TitledReport};
    let loaded = crate::infer::LoadedModel::load(out, device)?;
    let (pred, _) = loaded.predict_corpus(dev, 32)?;
    let gold = crate::corpus::Corpus::in_memory(out.join("dev"), schema, dev.to_vec());
    let report = evaluate(&gold, &pred, &EvalOptions::default())?;
    let mut fig = figures(&gold, &pred);
    let metrics = out.join(crate::infer::run_dir::METRICS_FILE);
    let text = std::fs::read_to_string(&metrics).map_err(|source| TrainError::Io {
        path: metrics.clone(),
        source,
    })?;
    fig.training = Some(training_curve(&text).0);
    let titled = TitledReport {
        report,
        title: format!(
            "{} on its dev set (end of training)",
            loaded.config.model_id
        ),
        figures: fig,
    };
    titled
        .write_to(&out.join("eval"))
        .map_err(|e| TrainError::Io {
            path: e.path,
            source: e.source,
        })
}

impl Serialize for TrainReport {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let summary = &self.summary;
        json!({
            "out": self.out.display().to_string(),
            "model_id": summary.model_id,
            "device": format!("{:?}", self.device),
            "parameters": summary.parameters,
            "train_segments": summary.train_segments,
            "comma_list_copies": summary.comma_list_copies,
            "epochs_run": summary.epochs_run,
            "best_epoch": summary.best_epoch,
            "seconds_per_epoch": summary.seconds_per_epoch,
            "seconds": self.seconds,
            "dev": summary.best_dev.as_ref().map(|d| json!({"precision": d.precision, "recall": d.recall, "f1": d.f1})),
            "relations_not_labelled": summary.train_labels.lost(),
            "object_thresholds": summary.tuning.as_ref().and_then(|t| t.thresholds.as_ref()).map(|t| &t.chosen),
            "pair_scopes": summary.tuning.as_ref().and_then(|t| t.scopes.as_ref()).map(|t| &t.chosen),
            "pair_blocks": summary.tuning.as_ref().and_then(|t| t.blocks.as_ref()).map(|t| &t.chosen),
            "pair_directions": summary.tuning.as_ref().and_then(|t| t.directions.as_ref()).map(|t| &t.chosen),
        })
        .serialize(s)
    }
}

/// Model, size, device, epochs, mean epoch time, the best dev score and where it was saved.
impl fmt::Display for TrainReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let summary = &self.summary;
        let per_epoch = summary.seconds_per_epoch.iter().sum::<f64>()
            / summary.seconds_per_epoch.len().max(1) as f64;
        write!(
            f,
            "{} ({} parameters, {:?}): {} epochs on {} segments, {:.1}s/epoch",
            summary.model_id,
            summary.parameters,
            self.device,
            summary.epochs_run,
            summary.train_segments,
            per_epoch
        )?;
        if summary.comma_list_copies > 0 {
            write!(
                f,
                " (+{} training reports shown again with commas for ；)",
                summary.comma_list_copies
            )?;
        }
        if let Some(d) = &summary.best_dev {
            write!(
                f,
                "; best dev P/R/F1 {:.2}/{:.2}/{:.2} at epoch {}",
                100.0 * d.precision,
                100.0 * d.recall,
                100.0 * d.f1,
                summary.best_epoch.unwrap_or(0)
            )?;
        }
        if let Some(t) = &summary.tuning {
            write!(f, "; {t}")?;
        }
        writeln!(f, "; saved to {}", self.out.display())
    }
}
