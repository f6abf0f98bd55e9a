//! The stages of the nightly graph, as the CLI runs them one by one (`cbrrel ingest`,
//! `extract`, `load`) or in order (`cbrrel graph`).
//!
//! Each stage reads only the files of the stage before it in the work directory and writes its
//! own, with a `summary.json` a person (or the next command) can open. The one JSON summary
//! every command prints has the same keys whatever the stage, so a scheduler alerts on one
//! shape: numbers of stages that did not run in this command come from their summary.json, or
//! are zero.

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::time::Instant;

use serde::{Deserialize, Serialize};

use super::config::{DumpKind, NightlyConfig};
use super::error::NightlyError;
use crate::atomic;
use crate::corpus::Schema;
use crate::extract::{extract, read_extraction, ExtractJob, ExtractSummary, TripleRow};
use crate::graph::snapshot::publish_dir;
use crate::graph::{
    load, rebuild, retract, stored_hashes, GraphError, LoadSummary, RebuildSummary, ReportInput,
    RetractSummary, RunInfo, SegmentTable, Shipped, Vocabulary,
};
use crate::infer::{LoadedModel, Precision};
use crate::ingest::output::{MISSING_FILE, REPORTS_FILE};
use crate::ingest::{
    expand_inputs, ingest, read_missing, read_reports, IngestSummary, IngestedReport,
};

pub const SUMMARY_FILE: &str = "summary.json";

/// A stage of the nightly graph, as the summaries name it (`"ingest"`, …).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Stage {
    Ingest,
    Extract,
    Load,
    Retract,
    Rebuild,
}

impl Stage {
    pub fn name(self) -> &'static str {
        match self {
            Stage::Ingest => "ingest",
            Stage::Extract => "extract",
            Stage::Load => "load",
            Stage::Retract => "retract",
            Stage::Rebuild => "rebuild",
        }
    }
}

/// The one summary every stage command and `cbrrel graph` print with `--format json`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct NightlySummary {
    /// Stages this command ran.
    pub stages: Vec<Stage>,
    /// `read`, `accepted`, `quarantined`, `skipped` (unchanged since the last load), `new`,
    /// `changed`, `quarantine_reasons`, `files`: the ingest numbers, at the top level.
    #[serde(flatten)]
    pub ingest: IngestSummary,
    /// Reports extracted (new + changed).
    pub reports_extracted: usize,
    pub sentences: usize,
    pub shards: usize,
    /// Relations extracted (extract) or loaded (load).
    pub triples: usize,
    pub per_relation: BTreeMap<String, usize>,
    /// Subjects the model decoded in this command's extraction, and those dropped by
    /// `decode.max_subjects` (issue 11 §2: memory bounded on any input).
    pub subjects: usize,
    pub subjects_capped: usize,
    /// Decoded pairs this command's extraction left out by the decoding rules (out of the
    /// relation's scope, on the other side of the subject, blocked); absent from summaries
    /// written before they were counted.
    #[serde(default)]
    pub pairs_out_of_scope: usize,
    #[serde(default)]
    pub pairs_wrong_side: usize,
    #[serde(default)]
    pub pairs_blocked: usize,
    /// What this command's extraction predicted in (`[extract] precision`).
    #[serde(default)]
    pub precision: Precision,
    /// Report graphs removed: stored reports a full dump no longer lists (load), or the ids
    /// given to `cbrrel retract`.
    pub retracted: usize,
    /// Entity nodes the load added to / removed from the store's entities graph.
    pub entities_added: usize,
    pub entities_removed: usize,
    /// Typed values parsed on the entity nodes the load described, and value kinds an entity
    /// text called for that did not parse (kept as text).
    pub values_parsed: usize,
    pub values_unparsed: usize,
    /// Body-part mentions in the loaded relations, and those linked to a coronary vessel or
    /// segment (ontology/segments.toml).
    pub bp_mentions: usize,
    pub bp_mentions_linked: usize,
    /// Quads in the store after the load.
    pub store_quads: usize,
    /// Bytes of the store directory on disk.
    pub store_bytes: u64,
    /// Seconds per stage run by this command, and `total`.
    pub seconds: BTreeMap<String, f64>,
}

fn read_json<T: for<'de> Deserialize<'de>>(path: &Path) -> Option<T> {
    serde_json::from_str(&std::fs::read_to_string(path).ok()?).ok()
}

fn write_json<T: Serialize>(path: &Path, v: &T) -> Result<(), atomic::WriteError> {
    atomic::write(
        path,
        serde_json::to_string_pretty(v)
            .expect("serialises")
            .as_bytes(),
    )
}

impl NightlySummary {
    /// Whether this command ran any of `stages`.
    pub fn ran(&self, stages: &[Stage]) -> bool {
        self.stages.iter().any(|s| stages.contains(s))
    }

    /// Record that `stage` ran, started at `t0`.
    fn finished(&mut self, stage: Stage, t0: Instant) {
        self.stages.push(stage);
        self.seconds
            .insert(stage.name().into(), t0.elapsed().as_secs_f64());
    }
}

/// What a person reads after a stage command: the stages, each stage's counts, the store's
/// size and the time per stage (the JSON form is the struct itself).
impl std::fmt::Display for NightlySummary {
    fn fmt(&self, out: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let s = self;
        let names: Vec<&str> = s.stages.iter().map(|x| x.name()).collect();
        writeln!(out, "stages: {}", names.join(" → "))?;
        if s.ran(&[Stage::Ingest]) {
            writeln!(
            out,
            "ingest: read {} = accepted {} + quarantined {}; accepted = new {} + changed {} + skipped (unchanged) {}",
            s.ingest.read, s.ingest.accepted, s.ingest.quarantined, s.ingest.new, s.ingest.changed, s.ingest.skipped
        )?;
            if s.ingest.missing > 0 {
                writeln!(
                    out,
                    "  {} of {} stored reports are not in this dump (ingest/missing.csv)",
                    s.ingest.missing, s.ingest.in_store
                )?;
            }
            for (reason, n) in &s.ingest.quarantine_reasons {
                writeln!(out, "  quarantined {reason}: {n}")?;
            }
            if s.ingest.phi_masked > 0 {
                writeln!(
                    out,
                    "  PHI masked in {} accepted reports (ingest/phi_masked.csv)",
                    s.ingest.phi_masked
                )?;
            }
        }
        if s.ran(&[Stage::Extract, Stage::Load]) {
            writeln!(
                out,
                "extract: {} reports, {} sentences, {} shards, {} triples",
                s.reports_extracted, s.sentences, s.shards, s.triples
            )?;
            for (rel, n) in &s.per_relation {
                writeln!(out, "  {rel}: {n}")?;
            }
            if s.ran(&[Stage::Extract]) {
                writeln!(
                    out,
                    "  subjects decoded {}, of them capped by decode.max_subjects {}",
                    s.subjects, s.subjects_capped
                )?;
                writeln!(
                    out,
                    "  pairs left out by the decoding rules: {} out of scope, {} on the other side, {} blocked",
                    s.pairs_out_of_scope, s.pairs_wrong_side, s.pairs_blocked
                )?;
                if s.precision != Precision::F32 {
                    writeln!(out, "  predicted in {} on the CPU", s.precision.name())?;
                }
            }
        }
        if s.ran(&[Stage::Load, Stage::Rebuild]) {
            writeln!(
            out,
            "graph: entity nodes +{} −{}; typed values {} parsed, {} unparsed (kept as text); body-part mentions linked to a coronary vessel {} of {}",
            s.entities_added,
            s.entities_removed,
            s.values_parsed,
            s.values_unparsed,
            s.bp_mentions_linked,
            s.bp_mentions
        )?;
        }
        if s.ran(&[Stage::Load, Stage::Retract, Stage::Rebuild]) {
            if s.retracted > 0 || s.ran(&[Stage::Retract]) {
                writeln!(out, "retracted: {} report graphs", s.retracted)?;
            }
            writeln!(
                out,
                "store: {} quads, {:.1} MiB on disk",
                s.store_quads,
                s.store_bytes as f64 / 1048576.0
            )?;
        }
        let secs: Vec<String> = names
            .iter()
            .copied()
            .chain(["load compaction", "total"])
            .filter_map(|k| s.seconds.get(k).map(|v| format!("{k} {v:.2}s")))
            .collect();
        writeln!(out, "time: {}", secs.join(", "))?;
        Ok(())
    }
}

/// Bytes of a directory tree on disk (the store's size in summaries and benchmarks).
pub fn dir_bytes(dir: &Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    entries
        .flatten()
        .map(|e| match e.metadata() {
            Ok(m) if m.is_dir() => dir_bytes(&e.path()),
            Ok(m) => m.len(),
            Err(_) => 0,
        })
        .sum()
}

impl NightlySummary {
    fn add_extract(&mut self, s: &ExtractSummary) {
        self.reports_extracted = s.reports;
        self.sentences = s.sentences;
        self.shards = s.shards;
        self.triples = s.triples;
        self.per_relation = s.per_relation.clone();
        self.subjects = s.subjects;
        self.subjects_capped = s.subjects_capped;
        self.pairs_out_of_scope = s.pairs_out_of_scope;
        self.pairs_wrong_side = s.pairs_wrong_side;
        self.pairs_blocked = s.pairs_blocked;
        self.precision = s.precision;
    }

    /// Fill the numbers of stages this command did not run from their summary.json files.
    pub fn from_work_dir(cfg: &NightlyConfig) -> NightlySummary {
        let mut s = NightlySummary::default();
        if let Some(i) = read_json::<IngestReport>(&cfg.ingest_dir().join(SUMMARY_FILE)) {
            s.ingest = i.summary;
        }
        if let Some(e) = read_json::<ExtractReport>(&cfg.extract_dir().join(SUMMARY_FILE)) {
            s.reports_extracted = e.reports;
            s.sentences = e.sentences;
            s.shards = e.shards;
            s.triples = e.triples;
            s.per_relation = e.per_relation;
        }
        s.store_bytes = dir_bytes(&cfg.store.dir);
        s
    }

    fn add_load(&mut self, s: &LoadSummary) {
        self.store_quads = s.store_quads;
        self.entities_added += s.entities_added;
        self.entities_removed += s.entities_removed;
        self.values_parsed += s.values_parsed;
        self.values_unparsed += s.values_unparsed.values().sum::<usize>();
        self.bp_mentions += s.bp_mentions;
        self.bp_mentions_linked += s.bp_mentions_linked;
        if s.optimize_seconds > 0.0 {
            // Part of the load's time: the compaction after a bulk load.
            self.seconds
                .insert("load compaction".into(), s.optimize_seconds);
        }
    }

    /// `read = accepted + quarantined`, and accepted = new + changed + skipped.
    pub fn adds_up(&self) -> bool {
        self.ingest.adds_up()
    }
}

/// What the ingest stage reports: exactly its `ingest/summary.json` ([`run_ingest`] returns it
/// and writes it; a later command reads it back).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct IngestReport {
    pub inputs: Vec<PathBuf>,
    #[serde(flatten)]
    pub summary: IngestSummary,
}

/// What the extract stage reports: exactly its `extract/summary.json` — the whole plan,
/// whichever workers ran it ([`run_extract`] returns it once every shard exists).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ExtractReport {
    pub model_id: String,
    pub reports: usize,
    pub sentences: usize,
    pub shards: usize,
    pub triples: usize,
    pub per_relation: BTreeMap<String, usize>,
}

/// The class/property IRIs of the CASMeD schema (ontology/casmed.toml).
pub fn vocabulary(schema: &Schema) -> Result<Vocabulary, GraphError> {
    Vocabulary::from_schema(schema).map_err(GraphError::Ontology)
}

/// Stage 1: ingest the dump(s) into `{work}/ingest/`; returns what it wrote as summary.json.
pub fn run_ingest(
    cfg: &NightlyConfig,
    summary: &mut NightlySummary,
) -> Result<IngestReport, NightlyError> {
    let t0 = Instant::now();
    let vocab = vocabulary(&Schema::casmed())?;
    let previous = stored_hashes(&cfg.store.dir, &vocab)?;
    let inputs = expand_inputs(&cfg.input.paths)?;
    let s = ingest(
        &inputs,
        cfg.input.format,
        &cfg.columns,
        cfg.limits.max_text_chars,
        cfg.input.phi,
        &previous,
        &cfg.ingest_dir(),
    )?;
    summary.ingest = s.clone();
    let report = IngestReport { inputs, summary: s };
    write_json(&cfg.ingest_dir().join(SUMMARY_FILE), &report)?;
    summary.finished(Stage::Ingest, t0);
    Ok(report)
}

/// The reports of the last ingest that need extraction and loading (new or changed).
fn reports_to_process(cfg: &NightlyConfig) -> Result<Vec<IngestedReport>, NightlyError> {
    let path = cfg.ingest_dir().join(REPORTS_FILE);
    if !path.is_file() {
        return Err(NightlyError::MissingStage {
            path,
            stage: "ingest",
        });
    }
    let all = read_reports(&path)?;
    Ok(all
        .into_iter()
        .filter(|r| r.status.needs_processing())
        .collect())
}

/// How to run the extract stage.
pub struct ExtractOptions {
    pub device: tch::Device,
    pub worker: usize,
    pub workers: usize,
    pub progress: bool,
    pub abort_after: Option<usize>,
}

/// Stage 2: extract triples from the ingested reports into `{work}/extract/`. Returns the
/// stage's report (its summary.json) when this worker's shards completed the plan; None while
/// other workers still have shards to write.
pub fn run_extract(
    cfg: &NightlyConfig,
    opts: &ExtractOptions,
    summary: &mut NightlySummary,
) -> Result<Option<ExtractReport>, NightlyError> {
    let t0 = Instant::now();
    let reports = reports_to_process(cfg)?;
    let mut model =
        LoadedModel::load(&cfg.model.dir, opts.device).map_err(|source| NightlyError::Model {
            dir: cfg.model.dir.clone(),
            source,
        })?;
    model.set_precision(cfg.extract.precision);
    let s = extract(ExtractJob {
        reports: &reports,
        model: &model,
        out_dir: cfg.extract_dir(),
        shard_size: cfg.extract.shard_size,
        batch_size: cfg.extract.batch_size,
        worker: opts.worker,
        workers: opts.workers,
        progress: opts.progress,
        abort_after: opts.abort_after,
    })?;
    summary.add_extract(&s);
    // The summary file describes the whole plan: written when every shard exists (by the
    // last worker to finish), from the shard files themselves.
    let mut report = None;
    if let Ok((plan, triples)) = read_extraction(&cfg.extract_dir()) {
        let mut per_relation = BTreeMap::new();
        for t in &triples {
            *per_relation.entry(t.relation.clone()).or_default() += 1;
        }
        let file = ExtractReport {
            model_id: plan.model_id.clone(),
            reports: plan.reports,
            sentences: plan.sentences,
            shards: plan.shards.len(),
            triples: triples.len(),
            per_relation: per_relation.clone(),
        };
        write_json(&cfg.extract_dir().join(SUMMARY_FILE), &file)?;
        summary.triples = triples.len();
        summary.per_relation = per_relation;
        report = Some(file);
    }
    summary.finished(Stage::Extract, t0);
    Ok(report)
}

/// The stored reports a full dump withdraws (none for an incremental dump), checked against
/// `input.max_missing_share` before anything is written.
fn withdrawn_reports(cfg: &NightlyConfig) -> Result<Vec<String>, NightlyError> {
    if cfg.input.dump != DumpKind::Full {
        return Ok(Vec::new());
    }
    let path = cfg.ingest_dir().join(MISSING_FILE);
    let mut ids = read_missing(&path).map_err(|source| NightlyError::MissingList { source })?;
    if ids.is_empty() {
        return Ok(ids);
    }
    // Only those still stored: after `cbrrel retract` (or a load that stopped half-way through
    // its retraction) the rest are gone already.
    let stored = stored_hashes(&cfg.store.dir, &vocabulary(&Schema::casmed())?)?;
    ids.retain(|id| stored.contains_key(id));
    let in_store = read_json::<IngestReport>(&cfg.ingest_dir().join(SUMMARY_FILE))
        .map(|f| f.summary.in_store)
        .unwrap_or(ids.len());
    if !ids.is_empty() && ids.len() as f64 > cfg.input.max_missing_share * in_store as f64 {
        return Err(NightlyError::TruncatedDump {
            lacking: ids.len(),
            in_store,
            max_share: cfg.input.max_missing_share,
            missing_file: path,
        });
    }
    Ok(ids)
}

/// Remove report graphs from the store (`cbrrel retract`, and a full dump's withdrawals).
pub fn run_retract(
    cfg: &NightlyConfig,
    report_ids: &[String],
    summary: &mut NightlySummary,
) -> Result<RetractSummary, NightlyError> {
    let t0 = Instant::now();
    let vocab = vocabulary(&Schema::casmed())?;
    let s = retract(
        &cfg.store.dir,
        report_ids,
        &vocab,
        &SegmentTable::default_table(),
    )?;
    summary.retracted += s.retracted;
    summary.entities_removed += s.entities_removed;
    summary.store_quads = s.store_quads;
    publish_dir(&cfg.store.dir)?;
    summary.store_bytes = dir_bytes(&cfg.store.dir);
    summary.finished(Stage::Retract, t0);
    Ok(s)
}

/// Stage 3: load the extracted triples into the store; with a full dump, then retract the
/// stored reports it no longer lists.
pub fn run_load(
    cfg: &NightlyConfig,
    summary: &mut NightlySummary,
) -> Result<LoadSummary, NightlyError> {
    let t0 = Instant::now();
    let withdrawn = withdrawn_reports(cfg)?;
    let reports = reports_to_process(cfg)?;
    let (plan, triples) = read_extraction(&cfg.extract_dir())?;
    if plan.reports != reports.len() {
        return Err(NightlyError::StaleExtraction {
            dir: cfg.extract_dir(),
            planned: plan.reports,
            to_process: reports.len(),
        });
    }
    let mut by_report: HashMap<&str, Vec<Cow<'_, TripleRow>>> = HashMap::new();
    for t in &triples {
        by_report
            .entry(t.report_id.as_str())
            .or_default()
            .push(Cow::Borrowed(t));
    }
    let known: std::collections::HashSet<&str> =
        reports.iter().map(|r| r.report_id.as_str()).collect();
    if let Some(stray) = by_report.keys().find(|id| !known.contains(**id)) {
        return Err(NightlyError::StrayReport {
            report_id: (*stray).to_owned(),
        });
    }
    let inputs: Vec<ReportInput<'_>> = reports
        .iter()
        .map(|r| ReportInput {
            report_id: &r.report_id,
            content_hash: &r.content_hash,
            patient_id: r.patient_id.as_deref(),
            date: r.date.as_deref(),
            department: r.department.as_deref(),
            triples: by_report.remove(r.report_id.as_str()).unwrap_or_default(),
            run: None,
        })
        .collect();
    let g = Shipped::load()?;
    let cx = g.context();
    let run = RunInfo {
        model_id: plan.model_id.clone(),
        ended_at: chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ").to_string(),
    };
    let s = load(&cfg.store.dir, &cx, &inputs, &run)?;
    summary.add_load(&s);
    if !withdrawn.is_empty() {
        let r = retract(&cfg.store.dir, &withdrawn, &g.vocab, &g.table)?;
        summary.retracted += r.retracted;
        summary.entities_removed += r.entities_removed;
        summary.store_quads = r.store_quads;
    }
    // `cbrrel serve` reads the published snapshot, never the store a load writes.
    publish_dir(&cfg.store.dir)?;
    summary.store_bytes = dir_bytes(&cfg.store.dir);
    summary.finished(Stage::Load, t0);
    Ok(s)
}

/// `cbrrel load --rebuild`: rewrite the store in the current layout from its own report graphs
/// (a first-layout store, or one built with another segment table).
pub fn run_rebuild(
    cfg: &NightlyConfig,
    summary: &mut NightlySummary,
) -> Result<RebuildSummary, NightlyError> {
    let t0 = Instant::now();
    let g = Shipped::load()?;
    let cx = g.context();
    let run = RunInfo {
        model_id: "unknown".into(),
        ended_at: chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ").to_string(),
    };
    let s = rebuild(&cfg.store.dir, &cx, &run)?;
    summary.add_load(&s.load);
    summary.triples = s.triples;
    summary.per_relation = s.load.per_relation.clone();
    publish_dir(&cfg.store.dir)?;
    summary.store_bytes = dir_bytes(&cfg.store.dir);
    summary.finished(Stage::Rebuild, t0);
    Ok(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A stage's report is exactly its summary.json, and a later command's summary reads the
    /// same numbers back from it.
    #[test]
    fn the_ingest_report_is_its_summary_file() {
        let dir = tempfile::tempdir().unwrap();
        let dump = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/reports.csv");
        let toml = format!(
            "work_dir = {:?}\n[input]\npaths = [{:?}]\n[model]\ndir = {:?}\n[store]\ndir = {:?}\n",
            dir.path().join("work"),
            dump,
            dir.path().join("model"),
            dir.path().join("store")
        );
        let path = dir.path().join("nightly.toml");
        std::fs::write(&path, toml).unwrap();
        let cfg = NightlyConfig::load(&path).unwrap();
        let mut summary = NightlySummary::default();
        let report = run_ingest(&cfg, &mut summary).unwrap();
        let file: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(cfg.ingest_dir().join(SUMMARY_FILE)).unwrap(),
        )
        .unwrap();
        assert_eq!(serde_json::to_value(&report).unwrap(), file);
        assert_eq!((report.summary.read, report.summary.accepted), (60, 60));
        assert_eq!(summary.stages, [Stage::Ingest]);
        let later = NightlySummary::from_work_dir(&cfg);
        assert_eq!(
            serde_json::to_value(&later.ingest).unwrap(),
            serde_json::to_value(&report.summary).unwrap()
        );
    }
}
