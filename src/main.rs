//! `cbrrel`: a thin binary. Each arm validates its arguments, calls the library stage and
//! reports; the work lives in the library (`cbrrel::…`). Errors print their whole chain on one
//! line and exit 2; `corpus check` exits 1 when it found problems.

mod cli;
mod graph_cmd;

use std::path::Path;
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{bail, Context, Result};
use clap::Parser;
use serde_json::json;

use cbrrel::corpus::{self, read_corpus, Action, Corpus, Schema};
use cli::{Cli, Command, CorpusCommand, CorpusInput, FixturesCommand, OutputFormat};

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
        Command::Info(a) => info(a.format),
        Command::Corpus(c) => match c {
            CorpusCommand::Check {
                input,
                format,
                max_lines,
            } => check(&input, format, max_lines),
            CorpusCommand::Split {
                input,
                by: _,
                ratios,
                seed,
                out,
                format,
            } => split(&input, &ratios, seed, &out, format),
            CorpusCommand::Vocab { input, out } => {
                let corpus = load(&input)?;
                let vocab =
                    cbrrel::text::vocab::char_vocab(corpus.records.iter().map(|r| r.text.as_str()));
                cbrrel::atomic::write(&out, (vocab.join("\n") + "\n").as_bytes())?;
                eprintln!(
                    "vocab: {} tokens from {} records → {}",
                    vocab.len(),
                    corpus.records.len(),
                    out.display()
                );
                Ok(ExitCode::SUCCESS)
            }
            CorpusCommand::Values { input, top, format } => {
                let corpus = load(&input)?;
                let c = cbrrel::graph::coverage::coverage(
                    &corpus.records,
                    &cbrrel::graph::SegmentTable::default_table(),
                    top,
                );
                print_out(format, &c, || {
                    let mut out = String::new();
                    let line = |name: &str, s: &cbrrel::graph::coverage::Share| {
                        format!(
                            "{name:<22} {:>6} of {:>6}  {:5.1} %\n",
                            s.parsed,
                            s.mentions,
                            s.percent()
                        )
                    };
                    out.push_str(&format!(
                        "{}: values parsed / mentions that call for one\n",
                        corpus.path.display()
                    ));
                    out.push_str(&line("stenosis percent", &c.stenosis));
                    out.push_str(&line("TIMI grade", &c.timi));
                    out.push_str(&line("device diameter", &c.device_size));
                    out.push_str(&line("dose", &c.dose));
                    out.push_str(&line("body part → vessel", &c.body_part_vessel));
                    out.push_str(&line("body part → segment", &c.body_part_segment));
                    for (kind, texts) in c.unparsed.iter().filter(|(_, t)| !t.is_empty()) {
                        out.push_str(&format!("most frequent unparsed, {kind}:"));
                        for (t, n) in texts {
                            out.push_str(&format!(" {t} ({n})"));
                        }
                        out.push('\n');
                    }
                    out
                })?;
                Ok(ExitCode::SUCCESS)
            }
            CorpusCommand::Stats {
                input,
                unit,
                format,
            } => {
                let corpus = load(&input)?;
                let s = corpus::stats::stats(&corpus, unit);
                print_out(format, &s, || corpus::stats::to_text(&s))?;
                Ok(ExitCode::SUCCESS)
            }
        },
        Command::Text(a) => text(a),
        Command::Train(a) => train(a),
        Command::Predict(a) => predict(a),
        Command::Eval(a) => eval(a),
        Command::Fixtures(FixturesCommand::Generate { reports, seed, out }) => {
            fixtures(reports, seed, &out)
        }
        Command::Ingest(a) => graph_cmd::ingest(a),
        Command::Extract(a) => graph_cmd::extract(a),
        Command::Load(a) => graph_cmd::load(a),
        Command::Graph(a) => graph_cmd::graph(a),
        Command::Retract(a) => graph_cmd::retract(a),
        Command::Query(a) => graph_cmd::query(a),
        Command::Export(a) => graph_cmd::export(a),
        Command::Serve(a) => {
            cbrrel::serve::Server::bind(a.config())?.run()?;
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn print_out<T: serde::Serialize>(
    format: OutputFormat,
    value: &T,
    human: impl FnOnce() -> String,
) -> Result<()> {
    use std::io::Write;
    let mut stdout = std::io::stdout().lock();
    match format {
        OutputFormat::Json => writeln!(stdout, "{}", serde_json::to_string(value)?)?,
        OutputFormat::Text => write!(stdout, "{}", human())?,
    }
    Ok(())
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

/// `cbrrel info`: the libtorch that was actually loaded, and what it sees.
fn info(format: OutputFormat) -> Result<ExitCode> {
    let cuda = tch::Cuda::is_available();
    let devices = tch::Cuda::device_count();
    let (version, lib) = loaded_libtorch();
    let v = json!({
        "cbrrel": env!("CARGO_PKG_VERSION"),
        "libtorch": version,
        "libtorch_lib": lib,
        "cuda_available": cuda,
        "cuda_devices": devices,
        "cudnn_available": tch::Cuda::cudnn_is_available(),
        "mkl": tch::utils::has_mkl(),
        "openmp": tch::utils::has_openmp(),
        "cpu_threads": tch::get_num_threads(),
    });
    print_out(format, &v, || {
        format!(
            "cbrrel {}\nlibtorch {} ({})\ncuda available: {cuda}\ncuda devices: {devices}\ncpu threads: {}\n",
            env!("CARGO_PKG_VERSION"),
            version,
            lib,
            tch::get_num_threads()
        )
    })?;
    Ok(ExitCode::SUCCESS)
}

/// Version and folder of the libtorch this process loaded: found through /proc/self/maps and
/// the `version.py` (pip torch) or `build-version` (libtorch zip) beside its lib folder.
fn loaded_libtorch() -> (String, String) {
    let maps = std::fs::read_to_string("/proc/self/maps").unwrap_or_default();
    let Some(lib) = maps
        .lines()
        .filter_map(|l| l.split_whitespace().nth(5))
        .find(|p| p.ends_with("libtorch_cpu.so"))
    else {
        return (
            "unknown".into(),
            "libtorch_cpu.so not found in /proc/self/maps".into(),
        );
    };
    let dir = Path::new(lib).parent().unwrap_or(Path::new("/"));
    let root = dir.parent().unwrap_or(dir);
    let from_py = std::fs::read_to_string(root.join("version.py"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("__version__"))
                .and_then(|l| l.split(['\'', '"']).nth(1).map(str::to_owned))
        });
    let from_zip = || {
        std::fs::read_to_string(root.join("build-version"))
            .ok()
            .map(|s| s.trim().to_owned())
    };
    (
        from_py
            .or_else(from_zip)
            .unwrap_or_else(|| "unknown".into()),
        dir.display().to_string(),
    )
}

fn check(input: &CorpusInput, format: OutputFormat, max_lines: usize) -> Result<ExitCode> {
    let corpus = load(input)?;
    let mut by_kind = std::collections::BTreeMap::<&str, usize>::new();
    for p in &corpus.problems {
        *by_kind.entry(p.kind.as_str()).or_default() += 1;
    }
    let rejected = corpus.rejected();
    let summary = json!({
        "file": corpus.path.display().to_string(),
        "format": corpus.format,
        "read": corpus.read,
        "accepted": corpus.records.len(),
        "rejected": rejected,
        "problems": corpus.problems.len(),
        "per_kind": by_kind,
        "details": corpus.problems,
    });
    print_out(format, &summary, || {
        let mut out = String::new();
        for p in corpus.problems.iter().take(max_lines) {
            out.push_str(&format!("{p}\n"));
        }
        if corpus.problems.len() > max_lines {
            out.push_str(&format!(
                "… {} more (use --max-lines or --format json)\n",
                corpus.problems.len() - max_lines
            ));
        }
        out.push_str(&format!(
            "{}: {} records read = {} accepted + {} rejected; {} problems\n",
            corpus.path.display(),
            corpus.read,
            corpus.records.len(),
            rejected,
            corpus.problems.len()
        ));
        for (k, n) in &by_kind {
            out.push_str(&format!("  {k:<24} {n}\n"));
        }
        out
    })?;
    Ok(if corpus.problems.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

fn split(
    input: &CorpusInput,
    ratios: &str,
    seed: u64,
    out: &Path,
    format: OutputFormat,
) -> Result<ExitCode> {
    let ratios: corpus::split::Ratios = ratios.parse()?;
    let corpus = load(input)?;
    let corpus::split::WrittenSplit { split: s, rejected } =
        corpus::split::write_split(&corpus, &ratios, seed, out)?;
    let counts = s.counts();
    print_out(
        format,
        &json!({"out": out.display().to_string(), "counts": counts, "rejected": rejected, "groups": s.groups}),
        || {
            let parts: Vec<String> = ratios
                .names
                .iter()
                .zip(&s.indices)
                .map(|(n, v)| format!("{n} {}", v.len()))
                .collect();
            format!(
            "{} records ({} groups of identical text) → {} in {}; {} rejected records left out (listed in split.json)\n",
            corpus.records.len(),
            s.groups,
            parts.join(", "),
            out.display(),
            rejected
        )
        },
    )?;
    Ok(ExitCode::SUCCESS)
}

fn text(a: cli::TextArgs) -> Result<ExitCode> {
    use cbrrel::text::{label_records, BertTokenizer, SegmentConfig};
    if a.max_len < 8 {
        bail!("--max-len {} is too small (at least 8)", a.max_len);
    }
    let corpus = load(&a.input)?;
    let tokenizer = BertTokenizer::from_path(&a.tokenizer)
        .with_context(|| format!("loading tokenizer {}", a.tokenizer.display()))?;
    let codes = match &corpus.schema {
        Some(s) => s.relation_codes(),
        None => {
            let mut c: Vec<String> = corpus
                .records
                .iter()
                .flat_map(|r| r.relations.iter().map(|x| x.code.clone()))
                .collect();
            c.sort();
            c.dedup();
            c
        }
    };
    let cfg = SegmentConfig {
        max_len: a.max_len,
        merge: a.merge,
    };
    let t0 = Instant::now();
    let (examples, report) = label_records(&corpus.records, &tokenizer, &codes, &cfg)?;
    let secs = t0.elapsed().as_secs_f64();
    if let Some(out) = &a.out {
        let mut buf = Vec::new();
        for ex in &examples {
            serde_json::to_writer(&mut buf, ex)?;
            buf.push(b'\n');
        }
        cbrrel::atomic::write(out, &buf)?;
    }
    let tokens: usize = examples.iter().map(|e| e.len()).sum();
    let max_tokens = examples.iter().map(|e| e.len()).max().unwrap_or(0);
    let v = json!({
        "records": report.records, "segments": report.segments, "windowed_sentences": report.windowed_sentences,
        "tokens": tokens, "max_segment_tokens": max_tokens,
        "relations": report.relations, "labelled": report.labelled, "cross_segment": report.cross_segment,
        "ungrounded": report.ungrounded, "untokenizable": report.untokenizable, "unknown_relation": report.unknown_relation,
        "seconds": secs, "segments_per_second": report.segments as f64 / secs.max(1e-9),
    });
    print_out(a.format, &v, || {
        let mut s = format!(
            "{} records → {} segments (max_len {}, merge {}; {} long sentences windowed), {} tokens, longest segment {}\n\
             relations {} = {} labelled + {} cross-segment + {} ungrounded + {} untokenizable + {} unknown type\n",
            report.records,
            report.segments,
            a.max_len,
            a.merge,
            report.windowed_sentences,
            tokens,
            max_tokens,
            report.relations,
            report.labelled,
            report.cross_segment.len(),
            report.ungrounded,
            report.untokenizable,
            report.unknown_relation.values().sum::<usize>()
        );
        for (rec, rel) in report.cross_segment.iter().take(20) {
            s.push_str(&format!("  cross-segment: record {rec} relation {rel}\n"));
        }
        s.push_str(&format!(
            "{:.0} segments/s on {} threads\n",
            report.segments as f64 / secs.max(1e-9),
            rayon::current_num_threads()
        ));
        s
    })?;
    Ok(ExitCode::SUCCESS)
}

fn eval(a: cli::EvalArgs) -> Result<ExitCode> {
    use cbrrel::eval::{evaluate, to_markdown, EvalOptions};
    let schema = load_schema(a.schema.as_deref())?;
    let (gold, pred, title) = match (&a.model, &a.data, &a.gold, &a.pred) {
        (Some(model_dir), Some(data), _, _) => {
            let gold = read_corpus(data, None, schema.as_ref())
                .with_context(|| format!("reading gold {}", data.display()))?;
            refuse_rejected("gold", &gold)?;
            let device = cbrrel::infer::parse_device(&a.device)?;
            let loaded = cbrrel::infer::LoadedModel::load(model_dir, device)
                .with_context(|| format!("loading model {}", model_dir.display()))?;
            let t0 = Instant::now();
            let (pred, segments) = loaded.predict_corpus(&gold.records, a.batch_size)?;
            let secs = t0.elapsed().as_secs_f64();
            eprintln!(
                "cbrrel: predicted {} records ({segments} segments) in {secs:.1}s on {device:?}: {:.1} segments/s",
                pred.records.len(),
                segments as f64 / secs.max(1e-9)
            );
            let title = format!(
                "{} ({}) on {}",
                loaded.config.model_id,
                model_dir.display(),
                data.display()
            );
            (gold, pred, title)
        }
        (_, _, Some(gold_path), Some(pred_path)) => {
            let gold = read_corpus(gold_path, None, schema.as_ref())
                .with_context(|| format!("reading gold {}", gold_path.display()))?;
            let pred = read_corpus(pred_path, None, schema.as_ref())
                .with_context(|| format!("reading predictions {}", pred_path.display()))?;
            refuse_rejected("gold", &gold)?;
            refuse_rejected("predictions", &pred)?;
            (
                gold,
                pred,
                format!("{} vs {}", pred_path.display(), gold_path.display()),
            )
        }
        _ => bail!("give --gold and --pred, or --model and --data"),
    };
    let report = evaluate(&gold, &pred, &EvalOptions { unit: a.unit })?;
    if let Some(dir) = &a.report {
        cbrrel::atomic::write(
            &dir.join("eval.md"),
            to_markdown(&report, &title).as_bytes(),
        )?;
        cbrrel::atomic::write(
            &dir.join("eval.json"),
            serde_json::to_string_pretty(&report)?.as_bytes(),
        )?;
    }
    print_out(a.format, &report, || to_markdown(&report, &title))?;
    Ok(ExitCode::SUCCESS)
}

/// Scores on a file with rejected records would be silently partial: refuse them.
fn refuse_rejected(what: &str, c: &Corpus) -> Result<()> {
    let rejected = c.rejected();
    if rejected > 0 {
        let first = c
            .problems
            .iter()
            .find(|p| p.action == Action::RecordRejected)
            .expect("counted");
        bail!("{what} file {}: {rejected} records rejected (first: {first}); run `cbrrel corpus check`", c.path.display());
    }
    if !c.problems.is_empty() {
        eprintln!(
            "cbrrel: warning: {what} file {}: {} record problems (scored as given; see `cbrrel corpus check`)",
            c.path.display(),
            c.problems.len()
        );
    }
    Ok(())
}

fn train(a: cli::TrainArgs) -> Result<ExitCode> {
    use cbrrel::infer::Settings;
    use cbrrel::text::BertTokenizer;
    use cbrrel::train::{EncoderSource, TrainJob};
    let config_path = a.config.is_file().then_some(a.config.as_path());
    if config_path.is_none() && a.config != Path::new("pipeline/train.toml") {
        bail!("--config {}: no such file", a.config.display());
    }
    let mut settings = Settings::load(config_path, &a.overrides).map_err(anyhow::Error::msg)?;
    settings.apply(&a.flags).map_err(anyhow::Error::msg)?;
    let schema = load_schema(a.schema.as_deref())?;
    let train = read_corpus(&a.train, None, schema.as_ref())
        .with_context(|| format!("reading {}", a.train.display()))?;
    refuse_rejected("training", &train)?;
    let dev = a
        .dev
        .as_ref()
        .map(|d| {
            read_corpus(d, None, schema.as_ref())
                .with_context(|| format!("reading {}", d.display()))
        })
        .transpose()?;
    if let Some(d) = &dev {
        refuse_rejected("dev", d)?;
    }
    let schema = match (schema, &train.schema) {
        (Some(s), _) => s,
        (None, Some(s)) => s.clone(),
        (None, None) => bail!(
            "{}: an spo file needs --schema for training (the relation classes)",
            a.train.display()
        ),
    };
    let tok_path = match (&a.tokenizer, &a.encoder) {
        (Some(t), _) => t.clone(),
        (None, Some(e)) => e.clone(),
        (None, None) => bail!("--tokenizer is needed with --encoder-config"),
    };
    let tokenizer = BertTokenizer::from_path(&tok_path)
        .with_context(|| format!("loading tokenizer {}", tok_path.display()))?;
    let encoder = match (&a.encoder, &a.encoder_config) {
        (Some(dir), _) => EncoderSource::Pretrained(dir.clone()),
        (None, Some(spec)) => EncoderSource::Random(cbrrel::model::BertConfig::from_spec(
            spec,
            tokenizer.vocab_size(),
        )?),
        (None, None) => bail!("give --encoder DIR (a HuggingFace BERT) or --encoder-config"),
    };
    let device = cbrrel::infer::parse_device(&a.device)?;
    let show =
        a.format == OutputFormat::Text && std::io::IsTerminal::is_terminal(&std::io::stderr());
    let t0 = Instant::now();
    let summary = cbrrel::train::train(TrainJob {
        train: &train.records,
        dev: dev.as_ref().map(|d| d.records.as_slice()),
        schema: &schema,
        tokenizer: &tokenizer,
        encoder,
        settings,
        device,
        out: a.out.clone(),
        progress: show,
    })?;
    let v = json!({
        "out": a.out.display().to_string(),
        "model_id": summary.model_id,
        "device": format!("{device:?}"),
        "parameters": summary.parameters,
        "train_segments": summary.train_segments,
        "epochs_run": summary.epochs_run,
        "best_epoch": summary.best_epoch,
        "seconds_per_epoch": summary.seconds_per_epoch,
        "seconds": t0.elapsed().as_secs_f64(),
        "dev": summary.best_dev.as_ref().map(|d| json!({"precision": d.precision, "recall": d.recall, "f1": d.f1})),
        "relations_not_labelled": summary.train_labels.lost(),
    });
    print_out(a.format, &v, || {
        format!(
            "{} ({} parameters, {:?}): {} epochs on {} segments, {:.1}s/epoch{}; saved to {}\n",
            summary.model_id,
            summary.parameters,
            device,
            summary.epochs_run,
            summary.train_segments,
            summary.seconds_per_epoch.iter().sum::<f64>()
                / summary.seconds_per_epoch.len().max(1) as f64,
            summary
                .best_dev
                .as_ref()
                .map(|d| format!(
                    "; best dev P/R/F1 {:.2}/{:.2}/{:.2} at epoch {}",
                    100.0 * d.precision,
                    100.0 * d.recall,
                    100.0 * d.f1,
                    summary.best_epoch.unwrap_or(0)
                ))
                .unwrap_or_default(),
            a.out.display()
        )
    })?;
    Ok(ExitCode::SUCCESS)
}

fn predict(a: cli::PredictArgs) -> Result<ExitCode> {
    let device = cbrrel::infer::parse_device(&a.device)?;
    let loaded = cbrrel::infer::LoadedModel::load(&a.model, device)
        .with_context(|| format!("loading model {}", a.model.display()))?;
    let records = match (&a.input, &a.text) {
        (Some(path), _) => {
            let c = read_corpus(path, None, Some(&loaded.config.schema))
                .with_context(|| format!("reading {}", path.display()))?;
            refuse_rejected("input", &c)?;
            c.records
        }
        (None, Some(text)) => {
            if text.trim().is_empty() {
                bail!("--text is empty");
            }
            vec![corpus::Record {
                id: "text".into(),
                text: text.clone(),
                entities: vec![],
                relations: vec![],
                line: 1,
                raw: String::new(),
            }]
        }
        (None, None) => bail!("give --input FILE or --text"),
    };
    let t0 = Instant::now();
    let predicted = loaded.predictor(a.batch_size).predict(&records)?;
    let mut buf = Vec::new();
    match a.output_format {
        corpus::Format::Doccano => {
            corpus::write_doccano(&predicted, Some(&loaded.config.schema), &mut buf)?;
        }
        corpus::Format::Spo => {
            corpus::write_spo(&predicted, Some(&loaded.config.schema), &mut buf)?
        }
    }
    match &a.out {
        Some(out) => cbrrel::atomic::write(out, &buf)?,
        None => std::io::Write::write_all(&mut std::io::stdout().lock(), &buf)?,
    }
    let triples: usize = predicted.iter().map(|r| r.relations.len()).sum();
    eprintln!(
        "cbrrel: {} records, {triples} triples in {:.2}s ({})",
        predicted.len(),
        t0.elapsed().as_secs_f64(),
        loaded.config.model_id
    );
    Ok(ExitCode::SUCCESS)
}

fn fixtures(reports: usize, seed: u64, out: &Path) -> Result<ExitCode> {
    let relations = cbrrel::fixtures::write_fixtures(reports, seed, out)?;
    println!(
        "{reports} reports (seed {seed}, {relations} relations) → {} and {}",
        out.join("reports.csv").display(),
        out.join("annotated.jsonl").display()
    );
    Ok(ExitCode::SUCCESS)
}
