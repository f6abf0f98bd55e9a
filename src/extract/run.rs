//! The extract stage: ingested reports → one Parquet file of triples per shard.
//!
//! Each shard's output is written to a temporary file and renamed into place, so a file named
//! after a shard is that shard finished; a run killed at any point and started again skips the
//! finished shards and ends with exactly the files of an uninterrupted run (prediction is
//! deterministic: same model, same shard, same batches). `worker`/`workers` split the shards of
//! one dump between processes (a Slurm job array, a Kubernetes Indexed Job); every worker
//! writes the same `plan.json`, and the load stage reads the shards the plan names.
//!
//! Inside a shard, segments go through the model in length-bucketed batches; the next shard
//! is segmented and tokenized (rayon) on another thread while the model runs on this one.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use serde::Serialize;

use super::error::ExtractError;
use super::row::{read_shard, write_shard, TripleRow};
use super::shard::{plan_shards, Shard, ShardInput, ShardPlan};
use crate::corpus::sentences::sentence_spans;
use crate::corpus::Record;
use crate::infer::{prepare_examples, LoadedModel, Precision};
use crate::ingest::IngestedReport;
use crate::text::SegmentExample;

pub const PLAN_FILE: &str = "plan.json";

fn io(path: &Path) -> impl Fn(std::io::Error) -> ExtractError + '_ {
    move |e| ExtractError::Io {
        path: path.to_owned(),
        source: e,
    }
}

/// What to extract and how.
pub struct ExtractJob<'a> {
    /// Reports needing extraction (new or changed), in ingest order.
    pub reports: &'a [IngestedReport],
    pub model: &'a LoadedModel,
    pub out_dir: PathBuf,
    /// Sentences per shard (at least; reports are never split).
    pub shard_size: usize,
    pub batch_size: usize,
    pub worker: usize,
    pub workers: usize,
    pub progress: bool,
    /// Test hook: abort the process (no clean-up, like a kill) after this many shards.
    pub abort_after: Option<usize>,
}

/// The numbers of one extract run.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct ExtractSummary {
    pub reports: usize,
    pub sentences: usize,
    pub shards: usize,
    /// Shards this worker extracted in this run.
    pub shards_extracted: usize,
    /// Shards of this worker already finished by an earlier (interrupted) run.
    pub shards_resumed: usize,
    /// Shards belonging to other workers.
    pub shards_other_workers: usize,
    /// Triples written by this run (finished shards from earlier runs not counted).
    pub triples: usize,
    pub per_relation: BTreeMap<String, usize>,
    /// Subjects the model decoded in this run, and those dropped by `decode.max_subjects`
    /// (the least confident of a segment that had more; issue 11 §2).
    pub subjects: usize,
    pub subjects_capped: usize,
    /// Decoded pairs the decoding rules left out (`PredictStats`): outside the relation's
    /// clause or sentence, on the other side of the subject, past another entity of its type.
    pub pairs_out_of_scope: usize,
    pub pairs_wrong_side: usize,
    pub pairs_blocked: usize,
    pub model_id: String,
    /// What the model predicted in (`[extract] precision`).
    pub precision: Precision,
    pub seconds: f64,
}

/// The plan for `reports` under `model_id` predicting in `precision`.
pub fn plan_for(
    reports: &[IngestedReport],
    shard_size: usize,
    model_id: &str,
    precision: Precision,
) -> ShardPlan {
    let inputs: Vec<ShardInput> = reports
        .iter()
        .map(|r| ShardInput {
            report_id: &r.report_id,
            content_hash: &r.content_hash,
            sentences: sentence_spans(&r.text).len(),
        })
        .collect();
    plan_shards(&inputs, shard_size, model_id, precision)
}

fn as_records(reports: &[IngestedReport]) -> Vec<Record> {
    reports
        .iter()
        .enumerate()
        .map(|(i, r)| Record {
            id: r.report_id.clone(),
            text: r.text.clone(),
            entities: vec![],
            relations: vec![],
            line: i + 1,
            raw: String::new(),
        })
        .collect()
}

/// Remove files of the extract directory that no plan shard names: shards of an older plan
/// and temporary files left by a killed run.
fn remove_stale(dir: &Path, plan: &ShardPlan) -> Result<(), ExtractError> {
    let keep: std::collections::HashSet<String> =
        plan.shards.iter().map(Shard::file_name).collect();
    for entry in std::fs::read_dir(dir).map_err(io(dir))? {
        let entry = entry.map_err(io(dir))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        let stale_shard =
            name.starts_with("shard-") && name.ends_with(".parquet") && !keep.contains(&name);
        if stale_shard || name.starts_with(".tmp") {
            let _ = std::fs::remove_file(entry.path());
        }
    }
    Ok(())
}

/// Run the extract stage.
pub fn extract(job: ExtractJob<'_>) -> Result<ExtractSummary, ExtractError> {
    let t0 = Instant::now();
    super::shard::check_worker(job.worker, job.workers)?;
    let model_id = job.model.config.model_id.clone();
    let plan = plan_for(job.reports, job.shard_size, &model_id, job.model.precision);
    std::fs::create_dir_all(&job.out_dir).map_err(io(&job.out_dir))?;
    remove_stale(&job.out_dir, &plan)?;
    let plan_json = serde_json::to_vec_pretty(&plan).expect("plan serialises");
    crate::atomic::write(&job.out_dir.join(PLAN_FILE), &plan_json)
        .map_err(|e| ExtractError::Invalid(e.to_string()))?;

    let mut summary = ExtractSummary {
        reports: plan.reports,
        sentences: plan.sentences,
        shards: plan.shards.len(),
        model_id: model_id.clone(),
        precision: job.model.precision,
        ..Default::default()
    };
    let mut todo: Vec<&Shard> = Vec::new();
    for s in &plan.shards {
        if !s.owned_by(job.worker, job.workers) {
            summary.shards_other_workers += 1;
        } else if job.out_dir.join(s.file_name()).is_file() {
            summary.shards_resumed += 1;
        } else {
            todo.push(s);
        }
    }
    let todo_sentences: u64 = todo.iter().map(|s| s.sentences as u64).sum();
    let bar = if job.progress {
        indicatif::ProgressBar::new(todo_sentences)
    } else {
        indicatif::ProgressBar::hidden()
    };
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "extract {bar:30} {pos}/{len} sentences {per_sec} eta {eta} {msg}",
        )
        .expect("template")
        .progress_chars("=> "),
    );

    let predictor = job.model.predictor(job.batch_size);
    let tokenizer = &job.model.tokenizer;
    let codes = job.model.config.model.relations.clone();
    let segment = job.model.config.segment;
    let prepare = |s: &Shard| -> Result<(Vec<Record>, Vec<SegmentExample>), ExtractError> {
        let records = as_records(&job.reports[s.first..s.end]);
        let examples = prepare_examples(&records, tokenizer, &codes, &segment)?;
        Ok((records, examples))
    };
    let mut next = todo.first().map(|s| prepare(s)).transpose()?;
    for (k, shard) in todo.iter().enumerate() {
        let (records, examples) = next.take().expect("prepared");
        // Tokenize shard k+1 on another thread while the model runs shard k.
        let (predicted, prepared_next) = std::thread::scope(|scope| {
            let handle = todo.get(k + 1).map(|s| scope.spawn(|| prepare(s)));
            let predicted = predictor.predict_counted(&records, &examples);
            (
                predicted,
                handle.map(|h| h.join().expect("tokenizer thread")),
            )
        });
        next = prepared_next.transpose()?;
        let (predicted, stats) = predicted;
        summary.subjects += stats.subjects;
        summary.subjects_capped += stats.subjects_capped;
        summary.pairs_out_of_scope += stats.pairs_out_of_scope;
        summary.pairs_wrong_side += stats.pairs_wrong_side;
        summary.pairs_blocked += stats.pairs_blocked;
        let triples = to_triples(&predicted, &model_id);
        for t in &triples {
            *summary.per_relation.entry(t.relation.clone()).or_default() += 1;
        }
        summary.triples += triples.len();
        write_shard(&job.out_dir.join(shard.file_name()), &triples)?;
        summary.shards_extracted += 1;
        bar.inc(shard.sentences as u64);
        if job.abort_after == Some(k + 1) {
            eprintln!(
                "extract: test hook CBRREL_ABORT_AFTER_SHARDS={}: aborting",
                k + 1
            );
            std::process::abort();
        }
    }
    bar.finish_and_clear();
    summary.seconds = t0.elapsed().as_secs_f64();
    Ok(summary)
}

fn to_triples(predicted: &[Record], model_id: &str) -> Vec<TripleRow> {
    let mut out = Vec::new();
    for r in predicted {
        for rel in &r.relations {
            let (Some(si), Some(oi)) = (rel.subject.entity, rel.object.entity) else {
                continue;
            };
            let (s, o) = (&r.entities[si], &r.entities[oi]);
            out.push(TripleRow {
                report_id: r.id.clone(),
                relation: rel.code.clone(),
                subject_text: s.text.clone(),
                subject_type: s.label.clone(),
                subject_start: s.start as u64,
                subject_end: s.end as u64,
                object_text: o.text.clone(),
                object_type: o.label.clone(),
                object_start: o.start as u64,
                object_end: o.end as u64,
                confidence: rel.confidence.unwrap_or(0.0) as f64,
                model_id: model_id.to_owned(),
            });
        }
    }
    out
}

/// Read the plan of an extract directory and every shard it names, failing if one is missing
/// (an extraction still running, or a worker of the job array that failed).
pub fn read_extraction(dir: &Path) -> Result<(ShardPlan, Vec<TripleRow>), ExtractError> {
    let plan_path = dir.join(PLAN_FILE);
    let text = std::fs::read_to_string(&plan_path).map_err(io(&plan_path))?;
    let plan: ShardPlan = serde_json::from_str(&text)
        .map_err(|e| ExtractError::Invalid(format!("{}: {e}", plan_path.display())))?;
    let missing: Vec<String> = plan
        .shards
        .iter()
        .map(Shard::file_name)
        .filter(|n| !dir.join(n).is_file())
        .collect();
    if !missing.is_empty() {
        return Err(ExtractError::Invalid(format!(
            "{} of {} shards not extracted yet in {} (first: {}); run `cbrrel extract` for every worker first",
            missing.len(),
            plan.shards.len(),
            dir.display(),
            missing[0]
        )));
    }
    let mut all = Vec::new();
    for s in &plan.shards {
        all.extend(read_shard(&dir.join(s.file_name()))?);
    }
    Ok((plan, all))
}
