//! `cbrrel`: a thin binary. Each arm parses, makes one library call and prints what it
//! returns (its `Display` for people, its JSON with `--format json`); the work lives in the
//! library (`cbrrel::…`). Errors print their whole chain on one line and exit 2; `corpus check`
//! exits 1 when it found problems.

mod cli;

use std::path::Path;
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{bail, Context, Result};
use clap::Parser;

use cbrrel::annotate::args::AnnotateCommand;
use cbrrel::corpus::{self, read_corpus, Corpus, CorpusInput, Schema};
use cbrrel::nightly::{run_command, NightlyCommand};
use cbrrel::output::{print, print_with, OutputFormat};
use cli::{Cli, Command, CorpusCommand, FixturesCommand};

/// mimalloc for the Rust side (libtorch and RocksDB keep their own C++ allocations): a
/// profile of `cbrrel load` at 100,000 reports spent a quarter of its CPU in glibc's malloc
/// and free (the RDF terms built per quad, Oxigraph's encoding of each bulk-load batch), with
/// its arena locks contended between the building thread and the loader's threads.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("CBRREL_LOG")
                // `cbrrel serve` logs each request at INFO (method, path, status, ms, rows).
                .unwrap_or_else(|_| "warn,cbrrel::serve=info".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    match run(Cli::parse()) {
        Ok(code) => code,
        Err(err) => {
            // A closed stdout (`cbrrel … | head`) is not an error worth a message.
            if err.chain().any(|c| {
                c.downcast_ref::<std::io::Error>()
                    .is_some_and(|e| e.kind() == std::io::ErrorKind::BrokenPipe)
            }) {
                return ExitCode::SUCCESS;
            }
            eprintln!("cbrrel: error: {}", one_line(&err));
            ExitCode::from(2)
        }
    }
}

/// The error and its causes on one line, each cause once: a typed error that already names
/// its source in its message (`store X: <RocksDB's message>`) is not followed by that message
/// again.
fn one_line(err: &anyhow::Error) -> String {
    let mut line = err.to_string();
    for cause in err.chain().skip(1) {
        let text = cause.to_string();
        if !line.contains(&text) {
            line.push_str(": ");
            line.push_str(&text);
        }
    }
    line
}

fn run(cli: Cli) -> Result<ExitCode> {
    match cli.command {
        Command::Info(a) => print_out(a.format, &cbrrel::infer::Machine::probe()),
        Command::Corpus(CorpusCommand::Check {
            input,
            format,
            max_lines,
        }) => {
            let corpus = load(&input)?;
            let report = corpus::CheckReport::new(&corpus, max_lines);
            print_out(format, &report)?;
            Ok(ExitCode::from(u8::from(!report.is_clean())))
        }
        Command::Corpus(CorpusCommand::Split {
            input,
            by: _,
            ratios,
            seed,
            out,
            format,
        }) => {
            let ratios: corpus::split::Ratios = ratios.parse()?;
            let corpus = load(&input)?;
            print_out(
                format,
                &corpus::split::write_split(&corpus, &ratios, seed, &out)?,
            )
        }
        Command::Corpus(CorpusCommand::Vocab { input, out }) => {
            let corpus = load(&input)?;
            let texts = corpus.records.iter().map(|r| r.text.as_str());
            let n = cbrrel::text::vocab::write_char_vocab(texts, &out)?;
            let records = corpus.records.len();
            eprintln!(
                "vocab: {n} tokens from {records} records → {}",
                out.display()
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::Corpus(CorpusCommand::Values { input, top, format }) => {
            values(&input, top, format)
        }
        Command::Corpus(CorpusCommand::Stats {
            input,
            unit,
            tokenizer: tok,
            split_alnum,
            format,
        }) => {
            let corpus = load(&input)?;
            let mut s = corpus::stats::stats(&corpus, unit);
            if let Some(path) = tok {
                let cfg = cbrrel::text::SegmentConfig {
                    split_alnum,
                    ..Default::default()
                };
                let run = cbrrel::text::label_corpus(&corpus, &tokenizer(&path)?, &cfg, None)?;
                s.tokens = Some(corpus::stats::TokenCounts {
                    tokenizer: path.display().to_string(),
                    split_alnum,
                    widened: run.report.widened,
                    undecodable_subjects: run.report.undecodable_subjects,
                    undecodable_objects: run.report.undecodable_objects,
                });
            }
            print_with(format, &s, || corpus::stats::to_text(&s))?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Text(a) => {
            if a.max_len < 8 {
                bail!("--max-len {} is too small (at least 8)", a.max_len);
            }
            let corpus = load(&a.input)?;
            let tokenizer = tokenizer(&a.tokenizer)?;
            let cfg = cbrrel::text::SegmentConfig {
                max_len: a.max_len,
                merge: a.merge,
                split_alnum: a.split_alnum,
            };
            let run = cbrrel::text::label_corpus(&corpus, &tokenizer, &cfg, a.out.as_deref())?;
            print_out(a.format, &run)
        }
        Command::Train(a) => train(a),
        Command::Predict(a) => predict(a),
        Command::Eval(a) => eval(a),
        Command::Cv(a) => cv(a),
        Command::Fixtures(FixturesCommand::Generate { reports, seed, out }) => {
            let relations = cbrrel::fixtures::write_fixtures(reports, seed, &out)?;
            println!(
                "{reports} reports (seed {seed}, {relations} relations) → {} and {}",
                out.join("reports.csv").display(),
                out.join("annotated.jsonl").display()
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::Ingest(a) => nightly(&a, NightlyCommand::Ingest),
        Command::Extract(a) => nightly(&a.stage, NightlyCommand::Extract(a.worker())),
        Command::Load(a) => nightly(&a.stage, a.command()),
        Command::Graph(a) => nightly(&a.stage, NightlyCommand::Graph(a.worker())),
        Command::Retract(a) => nightly(&a.stage, a.command()),
        Command::Query(a) => {
            a.run(&mut std::io::stdout().lock())?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Export(a) => {
            eprintln!("{}", a.run()?);
            Ok(ExitCode::SUCCESS)
        }
        Command::Serve(a) => {
            cbrrel::serve::Server::bind(a.config())?.run()?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Annotate(AnnotateCommand::Export(a)) => print_out(a.format, &a.run()?),
        Command::Annotate(AnnotateCommand::Import(a)) => {
            let summary = a.run()?;
            print(a.format, &summary)?;
            // 1 when a record, entity or relation was left out; problems kept as the file says
            // them (overlapping spans the model itself predicted, say) are listed only.
            Ok(if summary.dropped() == 0 {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            })
        }
    }
}

/// A summary on stdout ([`cbrrel::output::print`]).
fn print_out<T: serde::Serialize + std::fmt::Display>(
    format: OutputFormat,
    value: &T,
) -> Result<ExitCode> {
    print(format, value)?;
    Ok(ExitCode::SUCCESS)
}

/// A nightly command, run by the library from the configuration and the flags' overrides.
fn nightly(a: &cbrrel::nightly::args::StageArgs, command: NightlyCommand<'_>) -> Result<ExitCode> {
    print_out(a.format, &run_command(&a.config, &a.overrides, command)?)
}

fn load_schema(path: Option<&Path>) -> Result<Option<Schema>> {
    path.map(|p| Schema::load(p).with_context(|| format!("loading schema {}", p.display())))
        .transpose()
}

fn load(input: &CorpusInput) -> Result<Corpus> {
    let schema = load_schema(input.schema.as_deref())?;
    read_corpus(&input.file, input.input_format, schema.as_ref())
        .with_context(|| format!("reading corpus {}", input.file.display()))
}

fn tokenizer(path: &Path) -> Result<cbrrel::text::BertTokenizer> {
    cbrrel::text::BertTokenizer::from_path(path)
        .with_context(|| format!("loading tokenizer {}", path.display()))
}

fn model(
    dir: &Path,
    ensemble: &[std::path::PathBuf],
    device: &str,
    precision: cbrrel::infer::Precision,
) -> Result<cbrrel::infer::LoadedModel> {
    let device = cbrrel::infer::parse_device(device)?;
    let load = |dir: &Path| {
        cbrrel::infer::LoadedModel::load(dir, device)
            .with_context(|| format!("loading model {}", dir.display()))
    };
    let mut loaded = load(dir)?;
    for other in ensemble {
        loaded.join(load(other)?)?;
    }
    loaded.set_precision(precision);
    Ok(loaded)
}

/// How a loaded model's output names its ensemble: "" for a single model, else " with
/// cbrrel-…, cbrrel-…" (the other models' ids).
fn ensemble_note(loaded: &cbrrel::infer::LoadedModel) -> String {
    if loaded.ensemble.is_empty() {
        return String::new();
    }
    let ids: Vec<&str> = loaded
        .ensemble
        .iter()
        .map(|m| m.config.model_id.as_str())
        .collect();
    format!(" with {} (an ensemble)", ids.join(", "))
}

/// `corpus values`: the coverage is the graph layer's.
fn values(input: &CorpusInput, top: usize, format: OutputFormat) -> Result<ExitCode> {
    let corpus = load(input)?;
    let table = cbrrel::graph::SegmentTable::default_table();
    let c = cbrrel::graph::coverage::coverage(&corpus.records, &table, top);
    print_with(format, &c, || c.to_text(&corpus.path))?;
    Ok(ExitCode::SUCCESS)
}

fn eval(a: cbrrel::eval::EvalArgs) -> Result<ExitCode> {
    let schema = load_schema(a.schema.as_deref())?;
    let read = |what: &str, path: &Path| {
        read_corpus(path, None, schema.as_ref())
            .with_context(|| format!("reading {what}{}", path.display()))
    };
    let (gold, pred, title) = match (&a.model, &a.data, &a.gold, &a.pred) {
        (Some(model_dir), Some(data), _, _) => {
            let gold = read("gold ", data)?;
            gold.refuse_rejected("gold")?;
            let precision =
                <cbrrel::infer::Precision as clap::ValueEnum>::from_str(&a.precision, false)
                    .map_err(anyhow::Error::msg)?;
            let loaded = model(model_dir, &a.ensemble, &a.device, precision)?;
            let t0 = Instant::now();
            let (pred, segments) = loaded.predict_corpus(&gold.records, a.batch_size)?;
            let secs = t0.elapsed().as_secs_f64();
            eprintln!(
                "cbrrel: predicted {} records ({segments} segments) in {secs:.1}s on {:?}: {:.1} segments/s",
                pred.records.len(),
                loaded.device,
                segments as f64 / secs.max(1e-9)
            );
            let title = format!(
                "{}{} ({}) on {}",
                loaded.config.model_id,
                ensemble_note(&loaded),
                model_dir.display(),
                data.display()
            );
            (gold, pred, title)
        }
        (_, _, Some(gold_path), Some(pred_path)) => {
            let gold = read("gold ", gold_path)?;
            let pred = read("predictions ", pred_path)?;
            gold.refuse_rejected("gold")?;
            pred.refuse_rejected("predictions")?;
            let title = format!("{} vs {}", pred_path.display(), gold_path.display());
            (gold, pred, title)
        }
        _ => bail!("give --gold and --pred, or --model and --data"),
    };
    let titled = titled_report(&gold, &pred, a.unit, a.model.as_deref(), title)?;
    if let Some(dir) = &a.report {
        titled.write_to(dir)?;
    }
    print_out(a.format, &titled)
}

/// The scores of `pred` against `gold` with their pictures, as `cbrrel eval` reports them; a
/// run directory's metrics.jsonl adds its training curves.
fn titled_report(
    gold: &Corpus,
    pred: &Corpus,
    unit: Option<corpus::overlap::Unit>,
    model_dir: Option<&Path>,
    title: String,
) -> Result<cbrrel::eval::TitledReport> {
    use cbrrel::eval::{evaluate, EvalOptions};
    let report = evaluate(gold, pred, &EvalOptions { unit })?;
    let mut figures = cbrrel::eval::figures(gold, pred);
    if let Some(text) =
        model_dir.and_then(|m| std::fs::read_to_string(m.join("metrics.jsonl")).ok())
    {
        figures.training = Some(cbrrel::eval::training_curve(&text).0);
    }
    Ok(cbrrel::eval::TitledReport {
        report,
        title,
        figures,
    })
}

/// `cbrrel cv`: each fold trained as `cbrrel train` and scored as `cbrrel eval --model --data
/// --report` (with its predictions kept for the error analysis); src/train/cv.rs keeps the
/// books.
fn cv(a: cbrrel::train::args::CvArgs) -> Result<ExitCode> {
    use cbrrel::eval::EvalReport;
    use cbrrel::train::cv::{CvSetup, FoldPlan};
    use sha2::Digest;
    let r = &a.recipe;
    let schema = load_schema(r.schema.as_deref())?;
    let corpus = read_corpus(&a.data, None, schema.as_ref())
        .with_context(|| format!("reading {}", a.data.display()))?;
    corpus.refuse_rejected("cross-validation")?;
    // What makes two runs' folds comparable: the encoder and the settings as resolved (not the
    // device: it changes speed, not the recipe).
    let settings = recipe_settings(r)?;
    let recipe = cbrrel::train::recipe::Recipe::of(
        &[
            (
                "encoder",
                r.encoder.as_ref().map(|p| p.display().to_string()),
            ),
            ("encoder_config", r.encoder_config.clone()),
            (
                "tokenizer",
                r.tokenizer.as_ref().map(|p| p.display().to_string()),
            ),
        ],
        &settings,
    );
    // The form folders written before pinned (the settings file by SHA-256, overrides and
    // flags as given), to take such a folder when it matches (cv.rs rewrites it).
    let settings_file = std::fs::read(&r.config).unwrap_or_default();
    let recipe_of = |overrides: Vec<&String>| {
        vec![
            format!("encoder={:?}", r.encoder),
            format!("encoder_config={:?}", r.encoder_config),
            format!("tokenizer={:?}", r.tokenizer),
            format!(
                "settings={} sha256:{}",
                r.config.display(),
                hex::encode(sha2::Sha256::digest(&settings_file))
            ),
            format!("set={overrides:?}"),
            format!("flags={:?}", r.flags),
        ]
    };
    let legacy = cbrrel::train::cv::LegacyRecipe {
        recipe: recipe_of(r.overrides.iter().collect()),
        training_recipe: recipe_of(
            r.overrides
                .iter()
                .filter(|o| !o.trim_start().starts_with("decode."))
                .collect(),
        ),
    };
    let decode = settings.decode;
    let setup = CvSetup {
        k: a.folds,
        seed: a.fold_seed,
        out: a.out.clone(),
        recipe,
        legacy,
        max_folds: a.max_folds,
        only_folds: a.only_folds.clone(),
        models_from: a.models_from.clone(),
        ensemble_with: a.ensemble_with.clone(),
    };
    let run_fold = |plan: &FoldPlan| -> Result<EvalReport> {
        let model_dir = match &plan.reuse_model {
            Some(dir) => {
                eprintln!(
                    "cbrrel cv: fold {} of {}: scoring the model of {} under this run's [decode]",
                    plan.fold + 1,
                    a.folds,
                    dir.display()
                );
                dir
            }
            None => {
                eprintln!(
                    "cbrrel cv: fold {} of {}: training on {}, best epoch by {}",
                    plan.fold + 1,
                    a.folds,
                    plan.train.display(),
                    plan.dev.display()
                );
                let trained = train_run(cbrrel::train::args::TrainArgs {
                    train: plan.train.clone(),
                    dev: Some(plan.dev.clone()),
                    recipe: r.clone(),
                    out: plan.model.clone(),
                    format: OutputFormat::Text,
                })?;
                // stdout carries the summary only (it may be `--format json`).
                eprintln!("{trained}");
                &plan.model
            }
        };
        let mut loaded = model(
            model_dir,
            &plan.ensemble,
            &r.device,
            cbrrel::infer::Precision::F32,
        )?;
        if plan.reuse_model.is_some() || !loaded.ensemble.is_empty() {
            if !loaded.ensemble.is_empty() {
                eprintln!(
                    "cbrrel cv: fold {}: predicting{}",
                    plan.fold + 1,
                    ensemble_note(&loaded)
                );
            }
            // A reused model (or an ensemble: its mean is another model) decodes as this run
            // asks (a trained one already does), its pair scopes and object thresholds tuned
            // on this fold's dev set when asked, as training would have.
            loaded.config.thresholds = decode;
            loaded.config.object_thresholds.clear();
            loaded.config.pair_scopes.clear();
            loaded.config.pair_blocks.clear();
            loaded.config.pair_directions.clear();
            // The rules read this binary's measure of the fold's training reports (the one the
            // model was trained on), not the one saved with the model by whichever binary
            // trained it.
            let train = read_corpus(&plan.train, None, schema.as_ref())?;
            loaded.config.span_stats = Some(cbrrel::infer::SpanStats::from_records(&train.records));
            if cbrrel::infer::tune::DevTuning::asked(&decode) {
                let dev = read_corpus(&plan.dev, None, schema.as_ref())?;
                let tuning =
                    cbrrel::infer::tune::tune_on_dev(&mut loaded, &dev.records, a.eval_batch_size)?;
                cbrrel::atomic::write(
                    &plan.dir.join("tuning.json"),
                    serde_json::to_string_pretty(&tuning)?.as_bytes(),
                )?;
                eprintln!("cbrrel cv: fold {}: {tuning}", plan.fold + 1);
            }
            loaded.rules = loaded.config.rules()?;
        }
        let gold = read_corpus(&plan.test, None, schema.as_ref())?;
        let (pred, _) = loaded.predict_corpus(&gold.records, a.eval_batch_size)?;
        corpus::write_records(
            &pred.records,
            corpus::Format::Doccano,
            Some(&loaded.config.schema),
            Some(&plan.predictions),
        )?;
        let title = format!(
            "cross-validation fold {} ({})",
            plan.fold,
            plan.test.display()
        );
        let titled = titled_report(&gold, &pred, None, Some(model_dir), title)?;
        titled.write_to(&plan.report)?;
        eprintln!(
            "cbrrel cv: fold {}: P/R/F1 {:.2} / {:.2} / {:.2}",
            plan.fold + 1,
            100.0 * titled.report.precision,
            100.0 * titled.report.recall,
            100.0 * titled.report.f1
        );
        Ok(titled.report)
    };
    let summary = cbrrel::train::cv::run(&corpus, &setup, &mut |plan| {
        run_fold(plan).map_err(|e| format!("{e:#}"))
    })?;
    print_out(a.format, &summary)
}

fn train(a: cbrrel::train::args::TrainArgs) -> Result<ExitCode> {
    let format = a.format;
    print_out(format, &train_run(a)?)
}

/// The settings a recipe trains with: the settings file (the shipped defaults when the default
/// path is absent), its `--set` overrides, then the named flags.
fn recipe_settings(r: &cbrrel::train::args::RecipeArgs) -> Result<cbrrel::infer::Settings> {
    let config_path = r.config.is_file().then_some(r.config.as_path());
    if config_path.is_none() && r.config != Path::new("pipeline/train.toml") {
        bail!("--config {}: no such file", r.config.display());
    }
    let mut settings =
        cbrrel::infer::Settings::load(config_path, &r.overrides).map_err(anyhow::Error::msg)?;
    settings.apply(&r.flags).map_err(anyhow::Error::msg)?;
    Ok(settings)
}

/// `cbrrel train` without the printing (`cbrrel cv` trains its folds with it).
fn train_run(a: cbrrel::train::args::TrainArgs) -> Result<cbrrel::train::TrainReport> {
    use cbrrel::train::{EncoderSource, TrainJob};
    let r = &a.recipe;
    let settings = recipe_settings(r)?;
    let schema = load_schema(r.schema.as_deref())?;
    let read = |path: &Path| {
        read_corpus(path, None, schema.as_ref())
            .with_context(|| format!("reading {}", path.display()))
    };
    let train = read(&a.train)?;
    train.refuse_rejected("training")?;
    let dev = a.dev.as_deref().map(read).transpose()?;
    if let Some(d) = &dev {
        d.refuse_rejected("dev")?;
    }
    let schema = match (schema, &train.schema) {
        (Some(s), _) => s,
        (None, Some(s)) => s.clone(),
        (None, None) => bail!(
            "{}: an spo file needs --schema for training (the relation classes)",
            a.train.display()
        ),
    };
    let tokenizer = match (&r.tokenizer, &r.encoder) {
        (Some(t), _) | (None, Some(t)) => tokenizer(t)?,
        (None, None) => bail!("--tokenizer is needed with --encoder-config"),
    };
    let encoder = match (&r.encoder, &r.encoder_config) {
        (Some(dir), _) => EncoderSource::Pretrained(dir.clone()),
        (None, Some(spec)) => EncoderSource::Random(cbrrel::model::BertConfig::from_spec(
            spec,
            tokenizer.vocab_size(),
        )?),
        (None, None) => bail!("give --encoder DIR (a HuggingFace BERT) or --encoder-config"),
    };
    let report = cbrrel::train::train_report(TrainJob {
        train: &train.records,
        dev: dev.as_ref().map(|d| d.records.as_slice()),
        schema: &schema,
        tokenizer: &tokenizer,
        encoder,
        settings,
        device: cbrrel::infer::parse_device(&r.device)?,
        out: a.out.clone(),
        progress: a.format == OutputFormat::Text
            && std::io::IsTerminal::is_terminal(&std::io::stderr()),
    })?;
    Ok(report)
}

fn predict(a: cbrrel::infer::args::PredictArgs) -> Result<ExitCode> {
    let loaded = model(&a.model, &a.ensemble, &a.device, a.precision)?;
    let schema = &loaded.config.schema;
    let records = match (&a.input, &a.text) {
        (Some(path), _) => {
            let c = read_corpus(path, None, Some(schema))
                .with_context(|| format!("reading {}", path.display()))?;
            c.refuse_rejected("input")?;
            c.records
        }
        (None, Some(text)) if text.trim().is_empty() => bail!("--text is empty"),
        (None, Some(text)) => vec![corpus::Record::unannotated("text", text)],
        (None, None) => bail!("give --input FILE or --text"),
    };
    let t0 = Instant::now();
    let predicted = loaded.predictor(a.batch_size).predict(&records)?;
    corpus::write_records(&predicted, a.output_format, Some(schema), a.out.as_deref())?;
    let triples: usize = predicted.iter().map(|r| r.relations.len()).sum();
    eprintln!(
        "cbrrel: {} records, {triples} triples in {:.2}s ({}{})",
        predicted.len(),
        t0.elapsed().as_secs_f64(),
        loaded.config.model_id,
        ensemble_note(&loaded)
    );
    Ok(ExitCode::SUCCESS)
}
