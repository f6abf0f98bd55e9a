//! The nightly graph on a generated dump: reports/second of each stage, the store's load rate
//! next to Oxigraph's own bulk loader on the same N-Quads, and p50 latency of every shipped
//! query. Not a criterion benchmark: one pass over a large dump is the measurement.
//!
//! Run: `cargo bench --bench graph_pipeline` (after `make graph`, which trains the fixture
//! model), or `make bench-graph`. Settings: CBRREL_BENCH_REPORTS (default 10000),
//! CBRREL_BENCH_MODEL (default runs/fixtures-model), CBRREL_BENCH_DEVICE (default cpu).

use std::path::{Path, PathBuf};
use std::time::Instant;

use cbrrel::fixtures::{generate, write_reports_csv, GeneratorConfig};
use cbrrel::graph::{export, run_query, ExportFormat, ResultFormat};
use cbrrel::ingest::ColumnMap;
use cbrrel::nightly::config::{DumpKind, ExtractConfig, InputConfig, Limits, ModelConfig, StoreConfig};
use cbrrel::nightly::{run_extract, run_ingest, run_load, ExtractOptions, NightlyConfig, NightlySummary};

fn env_or<T: std::str::FromStr>(key: &str, default: T) -> T {
    std::env::var(key).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn main() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let n: usize = env_or("CBRREL_BENCH_REPORTS", 10_000);
    let model = std::env::var("CBRREL_BENCH_MODEL").map(PathBuf::from).unwrap_or_else(|_| root.join("runs/fixtures-model"));
    let device = match std::env::var("CBRREL_BENCH_DEVICE").as_deref() {
        Ok("cuda") => tch::Device::cuda_if_available(),
        _ => tch::Device::Cpu,
    };
    if !model.join("config.json").is_file() {
        eprintln!("graph_pipeline: no model at {} (run `make graph` first): skipped", model.display());
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let dump = dir.path().join("dump.csv");
    let reports = generate(&GeneratorConfig { reports: n, seed: 7, ..Default::default() });
    write_reports_csv(&reports, std::fs::File::create(&dump).expect("dump")).expect("write dump");
    drop(reports);
    let cfg = NightlyConfig {
        work_dir: dir.path().join("work"),
        input: InputConfig { paths: vec![dump.display().to_string()], format: None, dump: DumpKind::Incremental, max_missing_share: 0.2 },
        columns: ColumnMap::default(),
        limits: Limits::default(),
        model: ModelConfig { dir: model.clone() },
        extract: ExtractConfig { shard_size: 2000, batch_size: 32, device: "cpu".into() },
        store: StoreConfig { dir: dir.path().join("store") },
    };
    let mut s = NightlySummary::default();
    run_ingest(&cfg, &mut s).expect("ingest");
    let opts = ExtractOptions { device, worker: 0, workers: 1, progress: true, abort_after: None };
    run_extract(&cfg, &opts, &mut s).expect("extract");
    let load = run_load(&cfg, &mut s).expect("load");

    // The same quads through Oxigraph's own bulk loader, in this process.
    let nq = dir.path().join("all.nq");
    {
        let mut w = std::io::BufWriter::new(std::fs::File::create(&nq).expect("nq"));
        export(&cfg.store.dir, ExportFormat::Nq, &mut w).expect("export");
    }
    let t = Instant::now();
    let store2 = oxigraph::store::Store::open(dir.path().join("store2")).expect("store2");
    let mut loader = store2.bulk_loader();
    loader.load_from_reader(oxigraph::io::RdfFormat::NQuads, std::fs::File::open(&nq).expect("nq")).expect("bulk load");
    loader.commit().expect("commit");
    let oxi_secs = t.elapsed().as_secs_f64();
    let oxi_quads = store2.len().expect("len");
    drop(store2);

    let per_sec = |k: &str| n as f64 / s.seconds[k];
    println!("## graph pipeline, {n} generated reports ({} sentences), model {}, device {device:?}\n", s.sentences, model.display());
    println!("| stage | seconds | reports/s |\n|---|---:|---:|");
    for k in ["ingest", "extract", "load"] {
        println!("| {k} | {:.2} | {:.0} |", s.seconds[k], per_sec(k));
    }
    println!(
        "\nextract: {:.0} sentences/s; {} triples; store {} quads, {:.1} MiB",
        s.sentences as f64 / s.seconds["extract"],
        s.triples,
        s.store_quads,
        s.store_bytes as f64 / 1048576.0
    );
    let ours = load.quads_written as f64 / load.seconds;
    let theirs = oxi_quads as f64 / oxi_secs;
    println!(
        "load: `cbrrel load` {:.0} quads/s (RDF building + SHACL + bulk load, {} quads) vs Oxigraph bulk loader on the exported N-Quads {:.0} quads/s ({} quads): ratio {:.2}",
        ours,
        load.quads_written,
        theirs,
        oxi_quads,
        ours / theirs
    );
    println!("\n| query | p50 ms | rows |\n|---|---:|---:|");
    let mut queries: Vec<PathBuf> = std::fs::read_dir(root.join("ontology/queries")).expect("queries").map(|e| e.expect("entry").path()).collect();
    queries.sort();
    for q in queries {
        let text = std::fs::read_to_string(&q).expect("query");
        let mut times = Vec::new();
        let mut rows = 0;
        for _ in 0..11 {
            let t = Instant::now();
            rows = run_query(&cfg.store.dir, &text, ResultFormat::Csv, &mut std::io::sink()).expect("query");
            times.push(t.elapsed().as_secs_f64() * 1000.0);
        }
        times.sort_by(f64::total_cmp);
        println!("| {} | {:.1} | {rows} |", name(&q), times[times.len() / 2]);
    }
}

fn name(p: &Path) -> String {
    p.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default()
}
