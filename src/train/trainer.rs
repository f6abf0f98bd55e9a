//! `cbrrel train`: the training loop.
//!
//! Every gold subject of a segment trains in the same step (batched object taggers), not
//! CasRel's one random subject. The step itself (loss, FGM, clipping, AdamW, EMA) is step.rs;
//! here: batches, warm-up and linear decay of the learning rates, skipped-step accounting.
//! After each epoch the EMA weights are scored on dev; the best are saved; training stops
//! when dev F1 has not improved for `patience` epochs. Seeds make a CPU run repeatable.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;

use rand::SeedableRng;
use serde_json::json;
use tch::nn::VarStore;
use tch::Device;

use super::augment;
use super::ema::Ema;
use super::schedule::lr_factor;
use super::step::{StepOutcome, Stepper};
use super::step_guard::SkipCount;
use crate::corpus::{Corpus, Record, Schema};
use crate::eval::{evaluate, EvalOptions, EvalReport};
use crate::infer::batch::{bucket_batches, make_batch};
use crate::infer::run_dir::{copy_tokenizer, write_config, METRICS_FILE, WEIGHTS_FILE};
use crate::infer::tune::{tune_on_dev, DevTuning};
use crate::infer::{DecodeRules, LoadedModel, Predictor, RunConfig, Settings, SpanStats};
use crate::model::{checkpoint, BertConfig, Cbrrel, CbrrelConfig};
use crate::text::{label_records, BertTokenizer, LabelReport, SegmentConfig, SegmentExample};

/// Where the encoder comes from.
#[derive(Debug, Clone)]
pub enum EncoderSource {
    /// A HuggingFace BERT folder (config.json + weights).
    Pretrained(PathBuf),
    /// Random initialisation of this shape.
    Random(BertConfig),
}

/// Everything a training run needs.
pub struct TrainJob<'a> {
    pub train: &'a [Record],
    pub dev: Option<&'a [Record]>,
    pub schema: &'a Schema,
    pub tokenizer: &'a BertTokenizer,
    pub encoder: EncoderSource,
    pub settings: Settings,
    pub device: Device,
    pub out: PathBuf,
    /// Show a progress bar (off in tests and when stderr is not a terminal).
    pub progress: bool,
}

/// What a run did.
#[derive(Debug, Clone)]
pub struct TrainSummary {
    pub epochs_run: usize,
    pub best_epoch: Option<usize>,
    pub best_dev: Option<EvalReport>,
    pub train_labels: LabelReport,
    pub seconds_per_epoch: Vec<f64>,
    pub train_segments: usize,
    /// Training reports shown a second time with their lists written with commas
    /// (`train.comma_lists`).
    pub comma_list_copies: usize,
    pub parameters: i64,
    pub model_id: String,
    /// The pair scopes and object thresholds tuned on dev (`decode.pair_scope = "tuned"`,
    /// `decode.tune_thresholds`).
    pub tuning: Option<DevTuning>,
}

/// Errors that stop training.
#[derive(Debug, thiserror::Error)]
pub enum TrainError {
    #[error(transparent)]
    Model(#[from] crate::model::ModelError),
    #[error(transparent)]
    Tokenize(#[from] crate::text::TokenizeError),
    #[error(transparent)]
    Torch(#[from] tch::TchError),
    #[error(transparent)]
    Eval(#[from] crate::eval::EvalError),
    #[error(transparent)]
    Tune(#[from] crate::infer::tune::TuneError),
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{0}")]
    Invalid(String),
}

/// Number of scalar parameters in a var store.
pub fn parameter_count(vs: &VarStore) -> i64 {
    vs.variables().values().map(|t| t.numel() as i64).sum()
}

/// Score `records` with the model as it is now.
pub fn dev_scores(
    predictor: &Predictor<'_>,
    gold: &[Record],
    schema: &Schema,
) -> Result<EvalReport, TrainError> {
    let predicted = predictor.predict(gold)?;
    let as_corpus = |records| Corpus::in_memory(PathBuf::from("<memory>"), schema, records);
    Ok(evaluate(
        &as_corpus(gold.to_vec()),
        &as_corpus(predicted),
        &EvalOptions::default(),
    )?)
}

/// Build the model for `settings` around `encoder` (weights loaded for a pretrained one).
pub fn build_model(
    vs: &mut VarStore,
    encoder: &EncoderSource,
    settings: &Settings,
    relations: Vec<String>,
) -> Result<(Cbrrel, String), TrainError> {
    let (bert, source) = match encoder {
        EncoderSource::Pretrained(dir) => (checkpoint::hf_config(dir)?, dir.display().to_string()),
        EncoderSource::Random(cfg) => (cfg.clone(), "random".to_owned()),
    };
    let config = CbrrelConfig {
        encoder: bert,
        relations,
        head: settings.model.clone(),
    };
    config.validate()?;
    let model = Cbrrel::new(&vs.root(), &config);
    if let EncoderSource::Pretrained(dir) = encoder {
        checkpoint::load_hf_encoder(vs, dir)?;
    }
    Ok((model, source))
}

pub fn train(job: TrainJob<'_>) -> Result<TrainSummary, TrainError> {
    let s = &job.settings;
    let t = &s.train;
    tch::manual_seed(t.seed as i64);
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(t.seed);
    std::fs::create_dir_all(&job.out).map_err(|e| TrainError::Io {
        path: job.out.clone(),
        source: e,
    })?;
    let relations = job.schema.relation_codes();
    let segment = SegmentConfig {
        max_len: t.max_len,
        merge: t.merge,
        split_alnum: t.split_alnum,
    };
    // The training reports, and a share of them again with their lists written with commas
    // (augment.rs).
    let (shown, comma_list_copies) = augment::comma_lists(job.train, t.comma_lists, t.seed);
    let (examples, train_labels) = label_records(&shown, job.tokenizer, &relations, &segment)?;
    let examples: Vec<SegmentExample> = examples.into_iter().filter(|e| e.len() > 2).collect();
    if examples.is_empty() {
        return Err(TrainError::Invalid("no training segments".into()));
    }
    let mut vs = VarStore::new(job.device);
    let (model, encoder_source) = build_model(&mut vs, &job.encoder, s, relations.clone())?;
    if model.config.encoder.vocab_size < job.tokenizer.vocab_size() as i64 {
        return Err(TrainError::Invalid(format!(
            "tokenizer has {} tokens, the encoder's vocabulary {}",
            job.tokenizer.vocab_size(),
            model.config.encoder.vocab_size
        )));
    }
    let parameters = parameter_count(&vs);
    let mut stepper = Stepper::new(&model, &vs, t)?;
    let lengths: Vec<usize> = examples.iter().map(SegmentExample::len).collect();
    let batches_per_epoch = lengths.len().div_ceil(t.batch_size);
    let total_steps = batches_per_epoch * t.epochs;
    let warmup = (total_steps as f64 * t.warmup_ratio).round() as usize;
    let thresholds = s.decode;
    // Measured on every run so that any model can later be decoded under the learned rules.
    let span_stats = SpanStats::from_records(job.train);
    let rules = DecodeRules::new(
        thresholds.span_rule,
        (thresholds.pair_scope, thresholds.scope_coverage),
        [thresholds.pair_block, thresholds.pair_direction],
        thresholds.order_coverage,
        Some(&span_stats),
        &relations,
    )
    .expect("span stats given");
    let tokenizer_file = copy_tokenizer(job.tokenizer, &job.out)?;
    let model_id = model_id(&s.train.seed, &encoder_source, &relations, job.train.len());
    let mut run_config = RunConfig {
        model_id: model_id.clone(),
        created_unix: std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0),
        model: model.config.clone(),
        schema: job.schema.clone(),
        thresholds,
        segment,
        tokenizer_file,
        settings: s.clone(),
        encoder_source,
        dev: None,
        span_stats: Some(span_stats),
        object_thresholds: Default::default(),
        pair_scopes: Default::default(),
        pair_blocks: Default::default(),
        pair_directions: Default::default(),
    };
    let metrics_path = job.out.join(METRICS_FILE);
    let mut metrics = std::fs::File::create(&metrics_path).map_err(|e| TrainError::Io {
        path: metrics_path.clone(),
        source: e,
    })?;
    let n_rel = relations.len();
    let mut step = 0usize;
    let mut best: Option<(usize, EvalReport)> = None;
    let mut since_best = 0usize;
    let mut seconds_per_epoch = Vec::new();
    let mut epochs_run = 0;
    for epoch in 1..=t.epochs {
        epochs_run = epoch;
        let started = Instant::now();
        let batches = bucket_batches(&lengths, t.batch_size, Some(&mut rng));
        let bar = progress_bar(job.progress, batches.len() as u64, epoch, t.epochs);
        let (mut loss_sum, mut segments_seen, mut applied) = (0.0, 0usize, 0usize);
        let mut skips = SkipCount::new(t.max_skipped_share);
        for idx in &batches {
            let batch = make_batch(&examples, idx, n_rel, job.device);
            let outcome = stepper.step(&batch, lr_factor(step, warmup, total_steps))?;
            step += 1;
            segments_seen += idx.len();
            bar.inc(1);
            // No non-finite step reaches the weights (step.rs, step_guard.rs).
            let l = match outcome {
                StepOutcome::Applied(l) => l,
                StepOutcome::Skipped(why) => {
                    skips
                        .skip(epoch, batches.len(), &why)
                        .map_err(TrainError::Invalid)?;
                    continue;
                }
            };
            loss_sum += l;
            applied += 1;
            bar.set_message(format!(
                "loss {:.4} · {:.1} seg/s",
                l,
                segments_seen as f64 / started.elapsed().as_secs_f64().max(1e-9)
            ));
        }
        bar.finish_and_clear();
        let train_seconds = started.elapsed().as_secs_f64();
        seconds_per_epoch.push(train_seconds);
        // Score (and save) the EMA weights.
        let live = stepper.ema().map(|e| e.swap_in(&vs));
        let predictor = Predictor {
            model: &model,
            ensemble: Vec::new(),
            tokenizer: job.tokenizer,
            schema: job.schema,
            thresholds,
            rules: rules.clone(),
            segment,
            device: job.device,
            batch_size: t.eval_batch_size,
        };
        let dev = match job.dev {
            Some(dev) => Some(dev_scores(&predictor, dev, job.schema)?),
            None => None,
        };
        let improved = match (&dev, &best) {
            (None, _) => true,
            (Some(d), None) => d.f1 >= 0.0,
            (Some(d), Some((_, b))) => d.f1 > b.f1,
        };
        if improved {
            run_config.dev = dev.as_ref().map(|d| json!({"epoch": epoch, "precision": d.precision, "recall": d.recall, "f1": d.f1}));
            checkpoint::save_weights(&vs, None, &job.out.join(WEIGHTS_FILE))?;
            write_config(&job.out, &run_config)?;
            if let Some(d) = &dev {
                best = Some((epoch, d.clone()));
            }
            since_best = 0;
        } else {
            since_best += 1;
        }
        if let Some(live) = live {
            Ema::restore(&vs, live);
        }
        let line = json!({
            "epoch": epoch,
            "steps": step,
            "train_loss": loss_sum / applied.max(1) as f64,
            "skipped_steps": skips.skipped,
            "train_seconds": train_seconds,
            "train_segments_per_second": segments_seen as f64 / train_seconds.max(1e-9),
            "dev_precision": dev.as_ref().map(|d| d.precision),
            "dev_recall": dev.as_ref().map(|d| d.recall),
            "dev_f1": dev.as_ref().map(|d| d.f1),
            "saved": improved,
        });
        writeln!(metrics, "{line}").map_err(|e| TrainError::Io {
            path: metrics_path.clone(),
            source: e,
        })?;
        if job.progress {
            eprintln!(
                "epoch {epoch}/{}: loss {:.4}, {:.1}s{}",
                t.epochs,
                loss_sum / applied.max(1) as f64,
                train_seconds,
                dev.as_ref()
                    .map(|d| format!(
                        ", dev P/R/F1 {:.2}/{:.2}/{:.2}",
                        100.0 * d.precision,
                        100.0 * d.recall,
                        100.0 * d.f1
                    ))
                    .unwrap_or_default()
            );
        }
        if job.dev.is_some() && since_best >= t.patience {
            break;
        }
    }
    // Scopes and thresholds per relation, tuned on dev with the saved (best) weights.
    let tuning = match job.dev {
        Some(dev) if DevTuning::asked(&thresholds) => {
            let mut saved = LoadedModel::load(&job.out, job.device)?;
            let tuning = tune_on_dev(&mut saved, dev, t.eval_batch_size)?;
            write_config(&job.out, &saved.config)?;
            Some(tuning)
        }
        _ => None,
    };
    Ok(TrainSummary {
        tuning,
        epochs_run,
        best_epoch: best.as_ref().map(|b| b.0),
        best_dev: best.map(|b| b.1),
        train_labels,
        seconds_per_epoch,
        train_segments: examples.len(),
        comma_list_copies,
        parameters,
        model_id,
    })
}

fn progress_bar(show: bool, len: u64, epoch: usize, epochs: usize) -> indicatif::ProgressBar {
    if !show {
        return indicatif::ProgressBar::hidden();
    }
    let bar = indicatif::ProgressBar::new(len);
    bar.set_style(
        indicatif::ProgressStyle::with_template(&format!("epoch {epoch}/{epochs} {{bar:30}} {{pos}}/{{len}} batches {{msg}} [{{elapsed}}<{{eta}}]"))
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    bar
}

/// A short stable id for the run's recipe.
fn model_id(seed: &u64, encoder: &str, relations: &[String], n_train: usize) -> String {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    h.update(
        format!(
            "{seed}|{encoder}|{}|{n_train}|{}",
            relations.join(","),
            std::process::id()
        )
        .as_bytes(),
    );
    h.update(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0)
            .to_le_bytes(),
    );
    format!("cbrrel-{}", &hex::encode(h.finalize())[..12])
}

/// Where the run's files are.
pub fn weights_path(dir: &Path) -> PathBuf {
    dir.join(WEIGHTS_FILE)
}
