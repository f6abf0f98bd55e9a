//! `make bench-model` (issue 11 §4): the Rust model against the PyTorch reference
//! (`pipeline/torch_reference.py`) on the same machine, the same weights, the same batches and
//! the same thread count, in one run; inference segments/s and training steps/s for the full
//! model and for CasRel, each as a ratio, and a profile of where the time goes.
//!
//! Segments: generated fixture reports (CBRREL_BENCH_REPORTS, default 100), labelled with the
//! shipped segmenting. Encoder: the shape of ../shared/models/m3e-small (4 × 512, its
//! vocabulary) when present, else 2 × 128 over the reports' characters; the weights are random
//! (speed does not depend on them) except that the two taggers' biases are set so that as many
//! tokens pass the thresholds as the reports have gold subject and object tokens, so decoding
//! does a trained model's amount of work. Both implementations read the run directory and the
//! batch files this bench writes, so they compute the same probabilities (the golden test in
//! tests/torch_reference.rs holds them to 1e-4) and decode the same spans.
//! CBRREL_BENCH_SHAPE=LAYERSxHIDDEN (e.g. 2x128, the fixture model's) picks another size.
//!
//! Settings: CBRREL_BENCH_THREADS (default: all cores), CBRREL_BENCH_BATCH (inference batch,
//! default 32), CBRREL_BENCH_TRAIN_BATCH (default: the shipped train.toml's), CBRREL_BENCH_
//! TRAIN_STEPS (default 20), CBRREL_BENCH_REPEAT (passes over the inference batches, default 3).
//! Prediction is also timed with the weights in bf16 on both sides (`--precision bf16`; the
//! script's `--dtype bf16`), the lever a CPU with native bf16 dot products offers.
//! Training is timed with both AdamWs on both sides: fused (Rust's default, src/train/adamw.rs;
//! PyTorch's `fused=True`) and the per-weight loop (tch's optimizer; PyTorch's CPU default).
//! The Rust side's FGM perturbs only the batch's rows of the embedding matrix
//! (src/train/fgm.rs); PyTorch runs FGM as usually written (the whole matrix) next to its
//! default AdamW, and with the same lever (`--fgm rows`) next to `fused=True`.
//! Run nothing else beside it: both sides use every thread they are given.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::Instant;

use cbrrel::corpus::{Record, Schema};
use cbrrel::infer::batch::{bucket_batches, make_batch, write_batches, Batch};
use cbrrel::infer::{DecodeRules, Precision, Predictor, Settings};
use cbrrel::model::{checkpoint, BertConfig, Cbrrel, CbrrelConfig, Fusion, StageTimes};
use cbrrel::text::{label_records, BertTokenizer, SegmentConfig, SegmentExample};
use cbrrel::train::step::{StepOutcome, Stepper};
use cbrrel::train::torch_reference::{BenchMode, TorchReference};
use rand::SeedableRng;
use tch::nn::VarStore;
use tch::{Device, Kind, Tensor};

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// The tokenizer and encoder shape the bench runs, and its name for the table.
fn encoder(root: &Path, records: &[Record], scratch: &Path) -> (BertTokenizer, BertConfig, String) {
    let m3e = root.join("../shared/models/m3e-small");
    if m3e.join("config.json").is_file() && m3e.join("vocab.txt").is_file() {
        let cfg = checkpoint::hf_config(&m3e).expect("m3e-small config.json");
        let name = format!(
            "m3e-small shape ({} × {})",
            cfg.num_hidden_layers, cfg.hidden_size
        );
        let tokenizer = BertTokenizer::from_path(&m3e.join("vocab.txt")).expect("m3e vocab");
        return (tokenizer, cfg, name);
    }
    let vocab = cbrrel::text::vocab::char_vocab(records.iter().map(|r| r.text.as_str()));
    let path = scratch.join("vocab.txt");
    std::fs::write(&path, vocab.join("\n")).expect("vocab");
    let tokenizer = BertTokenizer::from_path(&path).expect("vocab");
    let cfg = BertConfig::sized(tokenizer.vocab_size() as i64, 128, 2, 4);
    (tokenizer, cfg, "2 × 128 (no ../shared)".into())
}

/// Shift `bias[k]` so that a share `q` of `logits` is ≥ 0 after the shift.
fn calibrate(bias: &Tensor, k: i64, logits: &Tensor, q: f64) {
    let cut = logits
        .flatten(0, -1)
        .to_kind(Kind::Double)
        .quantile_scalar(1.0 - q.clamp(1e-4, 1.0), None::<i64>, false, "linear")
        .double_value(&[]);
    tch::no_grad(|| {
        let mut b = bias.get(k);
        let _ = b.g_sub_scalar_(cut);
    });
}

/// Real-token values of a [B, L] or [N, L] tensor under a mask of the same shape.
fn at_tokens(values: &Tensor, mask: &Tensor) -> Tensor {
    values.masked_select(&mask.to_kind(Kind::Bool))
}

/// Set the taggers' biases, output by output, so that as many tokens pass 0 as `batch` has
/// gold subject starts (ends), and per relation gold object starts (ends): a trained model's
/// amount of decoding work.
fn calibrate_taggers(model: &Cbrrel, vs: &VarStore, batch: &Batch) {
    let share = |t: &Tensor, m: &Tensor| at_tokens(t, m).mean(Kind::Double).double_value(&[]);
    let vars = vs.variables();
    let object_bias = vars
        .get("head.object.output.bias")
        .or_else(|| vars.get("head.object.bias"))
        .expect("object tagger bias");
    tch::no_grad(|| {
        let e = model.encode(&batch.input_ids, &batch.mask, false);
        let (m, om) = (&batch.mask, &batch.object_mask);
        let subject_bias = &vars["head.subject.bias"];
        calibrate(
            subject_bias,
            0,
            &at_tokens(&e.subject.start, m),
            share(&batch.subject_start, m),
        );
        calibrate(
            subject_bias,
            1,
            &at_tokens(&e.subject.end, m),
            share(&batch.subject_end, m),
        );
        let o = model.objects(&e, &batch.subjects, false);
        // The object tagger's outputs are [R, 2]: 2r is relation r's start, 2r + 1 its end.
        for r in 0..o.start.size()[2] {
            let col = |t: &Tensor| t.select(2, r);
            let q_start = share(&col(&batch.object_start), om);
            let q_end = share(&col(&batch.object_end), om);
            calibrate(object_bias, 2 * r, &at_tokens(&col(&o.start), om), q_start);
            calibrate(object_bias, 2 * r + 1, &at_tokens(&col(&o.end), om), q_end);
        }
    });
}

/// What the bench measured for one model on one side.
#[derive(Debug, Default)]
struct Side {
    infer_per_second: f64,
    /// Prediction with the weights in bf16 (`--precision bf16`; the script's `--dtype bf16`).
    infer_bf16_per_second: f64,
    triples_bf16: usize,
    /// Training as each side runs by default: the fused AdamW (`train.fused_adamw`,
    /// src/train/adamw.rs) and row-wise FGM on the Rust side; PyTorch's per-weight AdamW loop
    /// (`fused=None` on the CPU) and FGM on the whole embedding matrix.
    train_per_second: f64,
    /// Training with the other AdamW: tch's (libtorch's C++ loop) on the Rust side,
    /// `AdamW(fused=True)` and row-wise FGM (the Rust side's two levers) in PyTorch.
    train_other_adamw_per_second: f64,
    triples: usize,
    /// Seconds per stage of one pass over the inference batches (gold subjects), by the stage
    /// names both implementations use.
    stages: BTreeMap<String, f64>,
    infer_seconds_per_pass: f64,
}

/// One pass over `batches` with every stage timed: encoder stack, then the object taggers on
/// the batch's gold subjects (the model's work without decoding).
fn rust_stages(model: &Cbrrel, batches: &[Batch]) -> StageTimes {
    let mut times = StageTimes::default();
    tch::no_grad(|| {
        for b in batches {
            let e = model.encode_timed(&b.input_ids, &b.mask, false, Some(&mut times));
            let t = Instant::now();
            let o = model.objects(&e, &b.subjects, false);
            let _ = (
                o.start.sigmoid().sum(Kind::Float),
                o.end.sigmoid().sum(Kind::Float),
            );
            times.add("object taggers", t.elapsed().as_secs_f64());
        }
    });
    times
}

/// Seconds of `repeat` predictions of every example (after one warm-up batch), and the triples
/// one pass predicts.
fn timed_prediction(
    predictor: &Predictor<'_>,
    records: &[Record],
    examples: &[SegmentExample],
    repeat: usize,
) -> (f64, usize) {
    let warm_up = &examples[..examples.len().min(predictor.batch_size)];
    let _ = predictor.predict_counted(records, warm_up);
    let started = Instant::now();
    let mut triples = 0;
    for _ in 0..repeat {
        let (predicted, _) = predictor.predict_counted(records, examples);
        triples = predicted.iter().map(|r| r.relations.len()).sum();
    }
    (started.elapsed().as_secs_f64(), triples)
}

#[allow(clippy::too_many_arguments)]
fn measure(
    name: &str,
    model_config: &CbrrelConfig,
    settings: &Settings,
    records: &[Record],
    examples: &[SegmentExample],
    tokenizer: &BertTokenizer,
    dir: &Path,
    threads: usize,
) -> (Side, Side) {
    let infer_batch: usize = env_or("CBRREL_BENCH_BATCH", 32);
    let train_batch: usize = env_or("CBRREL_BENCH_TRAIN_BATCH", settings.train.batch_size);
    let train_steps: usize = env_or("CBRREL_BENCH_TRAIN_STEPS", 20);
    let repeat: usize = env_or("CBRREL_BENCH_REPEAT", 3);
    let n_rel = model_config.relations.len();
    std::fs::create_dir_all(dir).expect("run dir");
    tch::manual_seed(5);
    let vs = VarStore::new(Device::Cpu);
    let model = Cbrrel::new(&vs.root(), model_config);
    let lengths: Vec<usize> = examples.iter().map(SegmentExample::len).collect();
    let infer: Vec<Batch> = bucket_batches(&lengths, infer_batch, None)
        .iter()
        .map(|idx| make_batch(examples, idx, n_rel, Device::Cpu))
        .collect();
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(3);
    let train: Vec<Batch> = bucket_batches(&lengths, train_batch, Some(&mut rng))
        .iter()
        .take(train_steps)
        .map(|idx| make_batch(examples, idx, n_rel, Device::Cpu))
        .collect();
    // Calibrate on all segments at once: the shares are the corpus's.
    let all: Vec<usize> = (0..examples.len()).collect();
    calibrate_taggers(&model, &vs, &make_batch(examples, &all, n_rel, Device::Cpu));
    checkpoint::save_weights(&vs, None, &dir.join("model.safetensors")).expect("weights");
    // What the reference reads of a run directory's config.json.
    let config = serde_json::json!({
        "model": model_config,
        "thresholds": settings.decode,
        "settings": settings,
    });
    std::fs::write(dir.join("config.json"), config.to_string()).expect("config");
    let infer_file = dir.join("infer.safetensors");
    let train_file = dir.join("train.safetensors");
    write_batches(&infer, &infer_file).expect("batches");
    write_batches(&train, &train_file).expect("batches");

    let mut rust = Side::default();
    let schema = Schema::casmed();
    let predictor = Predictor {
        model: &model,
        ensemble: Vec::new(),
        tokenizer,
        schema: &schema,
        thresholds: settings.decode,
        rules: DecodeRules::off(),
        segment: SegmentConfig {
            max_len: settings.train.max_len,
            merge: false,
            split_alnum: settings.train.split_alnum,
        },
        device: Device::Cpu,
        batch_size: infer_batch,
    };
    let (secs, triples) = timed_prediction(&predictor, records, examples, repeat);
    rust.triples = triples;
    rust.infer_per_second = (examples.len() * repeat) as f64 / secs;
    rust.infer_seconds_per_pass = secs / repeat as f64;
    // The same weights in bf16, in a store of their own (training below needs the f32 ones).
    let mut vs_bf16 = VarStore::new(Device::Cpu);
    let model_bf16 = Cbrrel::new(&vs_bf16.root(), model_config);
    checkpoint::load_weights(&mut vs_bf16, &dir.join("model.safetensors")).expect("weights");
    Precision::Bf16.apply(&mut vs_bf16, Precision::F32);
    let (secs, triples) = timed_prediction(
        &Predictor {
            model: &model_bf16,
            ..predictor.clone()
        },
        records,
        examples,
        repeat,
    );
    rust.triples_bf16 = triples;
    rust.infer_bf16_per_second = (examples.len() * repeat) as f64 / secs;
    rust.stages = rust_stages(&model, &infer)
        .0
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();

    let reference = TorchReference::in_repo(Path::new(env!("CARGO_MANIFEST_DIR")));
    let py_bench = |mode, repeat, profile| {
        reference
            .bench(dir, &infer_file, threads, mode, repeat, profile)
            .unwrap_or_else(|e| panic!("{name}: {e}"))
    };
    let py_infer = py_bench(BenchMode::Infer(Precision::F32), repeat, false);
    let py_infer_bf16 = py_bench(BenchMode::Infer(Precision::Bf16), repeat, false);
    let py_stages = py_bench(BenchMode::Stages(Precision::F32), 1, true);
    let mut py = Side {
        infer_per_second: py_infer.per_second,
        infer_bf16_per_second: py_infer_bf16.per_second,
        triples_bf16: py_infer_bf16.triples.unwrap_or(0),
        infer_seconds_per_pass: py_infer.seconds / repeat as f64,
        triples: py_infer.triples.unwrap_or(0),
        stages: py_stages.stages.into_iter().collect(),
        ..Default::default()
    };

    // Training last: it changes the weights (both sides start from the saved ones). Each side
    // with both AdamWs (the weights reloaded between the two), its default first.
    let mut vs = vs;
    let mut rust_train = |fused: bool| {
        checkpoint::load_weights(&mut vs, &dir.join("model.safetensors")).expect("weights");
        let mut train_settings = settings.train.clone();
        train_settings.fused_adamw = fused;
        let mut stepper = Stepper::new(&model, &vs, &train_settings).expect("optimizer");
        let _ = stepper.step(&train[0], 1.0).expect("step");
        let started = Instant::now();
        let mut steps = 0;
        for b in &train {
            if let StepOutcome::Skipped(why) = stepper.step(b, 1.0).expect("step") {
                panic!("{name}: a benchmark step was skipped: {why}");
            }
            steps += 1;
        }
        steps as f64 / started.elapsed().as_secs_f64()
    };
    rust.train_per_second = rust_train(true);
    rust.train_other_adamw_per_second = rust_train(false);
    let py_train = |fused| {
        reference
            .bench(dir, &train_file, threads, BenchMode::Train(fused), 1, false)
            .unwrap_or_else(|e| panic!("{name}: {e}"))
            .per_second
    };
    py.train_per_second = py_train(false);
    py.train_other_adamw_per_second = py_train(true);
    (rust, py)
}

fn main() {
    // `cargo bench` passes --bench; this harness takes no other arguments.
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let threads: usize = env_or(
        "CBRREL_BENCH_THREADS",
        std::thread::available_parallelism().map_or(1, |n| n.get()),
    );
    tch::set_num_threads(threads as i32);
    let n: usize = env_or("CBRREL_BENCH_REPORTS", 100);
    let scratch = tempfile::tempdir().expect("tempdir");
    let records: Vec<Record> = cbrrel::fixtures::generate(&cbrrel::fixtures::GeneratorConfig {
        reports: n,
        seed: 11,
        ..Default::default()
    })
    .into_iter()
    .map(|g| g.record)
    .collect();
    let (tokenizer, mut encoder_cfg, mut encoder_name) = encoder(&root, &records, scratch.path());
    // CBRREL_BENCH_SHAPE=LAYERSxHIDDEN: another encoder size over the same vocabulary (heads of
    // 64, feed-forward 4 × hidden), e.g. 2x128, the fixture model's.
    if let Ok(shape) = std::env::var("CBRREL_BENCH_SHAPE") {
        let (layers, hidden) = shape
            .split_once('x')
            .and_then(|(l, h)| Some((l.parse::<i64>().ok()?, h.parse::<i64>().ok()?)))
            .expect("CBRREL_BENCH_SHAPE=LAYERSxHIDDEN");
        encoder_cfg =
            BertConfig::sized(encoder_cfg.vocab_size, hidden, layers, (hidden / 64).max(1));
        encoder_name = format!("{layers} × {hidden}, random");
    }
    let settings = Settings::load(None, &[]).expect("shipped train.toml");
    let relations = Schema::casmed().relation_codes();
    let segment = SegmentConfig {
        max_len: settings.train.max_len,
        merge: false,
        split_alnum: settings.train.split_alnum,
    };
    let (mut examples, _) =
        label_records(&records, &tokenizer, &relations, &segment).expect("label");
    examples.retain(|e| e.len() > 2);
    let tokens: usize = examples.iter().map(SegmentExample::len).sum();
    println!(
        "model_speed: {n} generated reports, {} segments ({:.1} tokens each), encoder {encoder_name}, \
         {threads} threads, inference batch {}, training batch {}",
        examples.len(),
        tokens as f64 / examples.len() as f64,
        env_or("CBRREL_BENCH_BATCH", 32usize),
        env_or("CBRREL_BENCH_TRAIN_BATCH", settings.train.batch_size),
    );
    let full = CbrrelConfig {
        encoder: encoder_cfg.clone(),
        relations: relations.clone(),
        head: settings.model.clone(),
    };
    let mut casrel = full.clone();
    casrel.head.bilstm = false;
    casrel.head.attention = false;
    casrel.head.fusion = Fusion::None;
    casrel.head.object_hidden = 0;
    println!();
    println!("| model | inference seg/s Rust | PyTorch | Rust/PyTorch | training steps/s Rust | PyTorch | Rust/PyTorch | triples Rust / PyTorch |");
    println!("|---|---|---|---|---|---|---|---|");
    let mut bf16_rows = Vec::new();
    let mut adamw_rows = Vec::new();
    let mut profiles = Vec::new();
    for (name, cfg) in [
        ("CBRRel (full)", &full),
        ("CasRel (--encoder-only)", &casrel),
    ] {
        let dir = scratch.path().join(name.split(' ').next().unwrap());
        let (rust, py) = measure(
            name, cfg, &settings, &records, &examples, &tokenizer, &dir, threads,
        );
        println!(
            "| {name} | {:.1} | {:.1} | {:.2}× | {:.2} | {:.2} | {:.2}× | {} / {} |",
            rust.infer_per_second,
            py.infer_per_second,
            rust.infer_per_second / py.infer_per_second,
            rust.train_per_second,
            py.train_per_second,
            rust.train_per_second / py.train_per_second,
            rust.triples,
            py.triples,
        );
        bf16_rows.push(format!(
            "| {name} | {:.1} | {:.1} | {:.2}× | {:.2}× | {:.2}× | {} / {} |",
            rust.infer_bf16_per_second,
            py.infer_bf16_per_second,
            rust.infer_bf16_per_second / py.infer_bf16_per_second,
            rust.infer_bf16_per_second / py.infer_per_second,
            rust.infer_bf16_per_second / rust.infer_per_second,
            rust.triples_bf16,
            py.triples_bf16,
        ));
        adamw_rows.push(format!(
            "| {name} | {:.2} | {:.2} | {:.2} | {:.2} | {:.2}× | {:.2}× | {:.2}× |",
            rust.train_per_second,
            rust.train_other_adamw_per_second,
            py.train_per_second,
            py.train_other_adamw_per_second,
            rust.train_per_second / rust.train_other_adamw_per_second,
            rust.train_per_second / py.train_per_second,
            rust.train_per_second / py.train_other_adamw_per_second,
        ));
        profiles.push((name, rust, py));
    }
    // The weights in bf16 on both sides (`--precision bf16`), against each other, against
    // PyTorch in f32 (what a user of the reference runs by default) and against Rust in f32.
    println!();
    println!(
        "bf16 prediction (CPU native bf16: {})",
        cbrrel::infer::precision::cpu_has_native_bf16()
    );
    println!();
    println!("| model | bf16 inference seg/s Rust | PyTorch bf16 | Rust/PyTorch, both bf16 | Rust bf16 / PyTorch f32 | Rust bf16 / Rust f32 | triples Rust / PyTorch |");
    println!("|---|---|---|---|---|---|---|");
    for row in bf16_rows {
        println!("{row}");
    }
    // Training with each side's two AdamWs: the main table's training columns are each side's
    // default (Rust fused + row-wise FGM, PyTorch's per-weight loop + whole-matrix FGM);
    // fused=True with --fgm rows is the same pair of levers in PyTorch.
    println!();
    println!("| model | training steps/s Rust fused AdamW | Rust tch AdamW | PyTorch AdamW | PyTorch AdamW(fused=True) + row FGM | Rust fused / Rust tch | Rust fused / PyTorch | Rust fused / PyTorch, same levers |");
    println!("|---|---|---|---|---|---|---|---|");
    for row in adamw_rows {
        println!("{row}");
    }
    // Where the model's time goes, ms per pass over the inference batches, the object taggers
    // on the gold subjects (the same work on both sides); then a whole inference pass
    // (predicted subjects, decoding, host copies, batching; Rust decodes on another thread).
    println!();
    println!("| model | stage | Rust ms | PyTorch ms |");
    println!("|---|---|---|---|");
    for (name, rust, py) in &profiles {
        let stages: BTreeSet<&String> = rust.stages.keys().chain(py.stages.keys()).collect();
        let ms = |s: &Side, k: &str| s.stages.get(k).copied().unwrap_or(0.0) * 1e3;
        for k in stages {
            println!("| {name} | {k} | {:.0} | {:.0} |", ms(rust, k), ms(py, k));
        }
        println!(
            "| {name} | whole inference pass | {:.0} | {:.0} |",
            rust.infer_seconds_per_pass * 1e3,
            py.infer_seconds_per_pass * 1e3
        );
    }
}
