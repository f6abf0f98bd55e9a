//! The nightly graph on a generated dump: reports/second of each stage, quads per extracted
//! relation and store size (the RDF 1.2 layout against the RDF 1.1 statement form), the store's
//! load rate next to Oxigraph's own bulk loader on the same N-Quads, the cost of re-loading a
//! few changed reports into the full store, and p50/p95 latency of every shipped query. Not a
//! criterion benchmark: one pass over a large dump is the measurement.
//!
//! Run: `cargo bench --bench graph_pipeline` (after `make graph`, which trains the fixture
//! model), or `make bench-graph`. Settings: CBRREL_BENCH_REPORTS (default 10000),
//! CBRREL_BENCH_MODEL (default runs/fixtures-model), CBRREL_BENCH_DEVICE (default cpu),
//! CBRREL_BENCH_QUERY_RUNS (default 21), CBRREL_BENCH_KEEP=DIR (keep the work directory and
//! stores there), CBRREL_BENCH_RESUME=DIR (a kept run's directory: load and what follows only,
//! from its finished extraction), CBRREL_BENCH_STATEMENT=0 (skip the RDF 1.1 statement-form
//! comparison load), CBRREL_BENCH_LOAD_PAIRS=K (K alternating pairs of the two loads, the
//! ratio's median), CBRREL_BENCH_STORE=DIR (only time the shipped queries on that
//! store), CBRREL_BENCH_QUERIES=DIR (time that folder's .rq files instead of the shipped ones).

use std::path::{Path, PathBuf};
use std::time::Instant;

/// The allocator of the `cbrrel` binary (src/main.rs), so the load is measured as it runs
/// there; Oxigraph's loader, timed in this process beside it, gets the same allocator.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use cbrrel::corpus::Schema;
use cbrrel::fixtures::{generate, write_reports_csv, GeneratorConfig};
use cbrrel::graph::query::query_store;
use cbrrel::graph::rebuild::{read_reports, StoredReport};
use cbrrel::graph::{
    export, load, ExportFormat, LoadContext, Provenance, ResultFormat, RunInfo, SegmentTable,
    Shapes, Vocabulary, ONTOLOGY_TTL, SHAPES_TTL,
};
use cbrrel::ingest::ColumnMap;
use cbrrel::nightly::config::{
    DumpKind, ExtractConfig, InputConfig, Limits, ModelConfig, StoreConfig,
};
use cbrrel::nightly::run::dir_bytes;
use cbrrel::nightly::{
    run_extract, run_ingest, run_load, ExtractOptions, NightlyConfig, NightlySummary,
};

fn env_or<T: std::str::FromStr>(key: &str, default: T) -> T {
    std::env::var(key)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn main() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    // CBRREL_BENCH_STORE=DIR: only the query timings, on an existing store (one kept by
    // CBRREL_BENCH_KEEP), to measure a query change without re-running the pipeline.
    if let Some(store) = std::env::var_os("CBRREL_BENCH_STORE") {
        time_queries(&root, Path::new(&store));
        return;
    }
    let n: usize = env_or("CBRREL_BENCH_REPORTS", 10_000);
    let model = std::env::var("CBRREL_BENCH_MODEL")
        .map(PathBuf::from)
        .unwrap_or_else(|_| root.join("runs/fixtures-model"));
    let device = match std::env::var("CBRREL_BENCH_DEVICE").as_deref() {
        Ok("cuda") => tch::Device::cuda_if_available(),
        _ => tch::Device::Cpu,
    };
    if !model.join("config.json").is_file() {
        eprintln!(
            "graph_pipeline: no model at {} (run `make graph` first): skipped",
            model.display()
        );
        return;
    }
    // CBRREL_BENCH_KEEP=DIR keeps the work directory and the stores there (to ask the store
    // questions afterwards: `cbrrel query --store DIR/store --explain …`).
    let kept = std::env::var_os("CBRREL_BENCH_KEEP").map(PathBuf::from);
    // CBRREL_BENCH_RESUME=DIR: a directory a kept run left (its dump.csv and work/ with the
    // finished ingest and extraction): only the load and what follows run again, on fresh
    // stores — to measure a graph-layout change without hours of extraction at 100,000 reports.
    let resume = std::env::var_os("CBRREL_BENCH_RESUME").map(PathBuf::from);
    let dir = match (&resume, &kept) {
        (Some(d), _) => {
            for old in ["store", "store2", "store-statement", "all.nq"] {
                let p = d.join(old);
                let _ = std::fs::remove_dir_all(&p).or_else(|_| std::fs::remove_file(&p));
            }
            Workdir::Given(d.clone())
        }
        (None, Some(d)) => {
            let _ = std::fs::remove_dir_all(d);
            std::fs::create_dir_all(d).expect("keep dir");
            Workdir::Temp(
                tempfile::Builder::new()
                    .prefix("bench")
                    .tempdir_in(d)
                    .expect("tempdir"),
            )
        }
        (None, None) => Workdir::Temp(tempfile::tempdir().expect("tempdir")),
    };
    let dump = dir.path().join("dump.csv");
    if resume.is_none() {
        let reports = generate(&GeneratorConfig {
            reports: n,
            seed: 7,
            ..Default::default()
        });
        write_reports_csv(&reports, std::fs::File::create(&dump).expect("dump"))
            .expect("write dump");
    }
    let cfg = NightlyConfig {
        work_dir: dir.path().join("work"),
        input: InputConfig {
            paths: vec![dump.display().to_string()],
            format: None,
            dump: DumpKind::Incremental,
            max_missing_share: 0.2,
            phi: Default::default(),
        },
        columns: ColumnMap::default(),
        limits: Limits::default(),
        model: ModelConfig { dir: model.clone() },
        extract: ExtractConfig {
            shard_size: 2000,
            batch_size: 32,
            device: "cpu".into(),
            ..ExtractConfig::default()
        },
        store: StoreConfig {
            dir: dir.path().join("store"),
        },
    };
    let mut s = NightlySummary::default();
    if resume.is_none() {
        run_ingest(&cfg, &mut s).expect("ingest");
        let opts = ExtractOptions {
            device,
            worker: 0,
            workers: 1,
            progress: true,
            abort_after: None,
        };
        run_extract(&cfg, &opts, &mut s).expect("extract");
    }
    let loaded = run_load(&cfg, &mut s).expect("load");
    // Resumed: the reports and relations of the kept extraction (what the load read).
    let n = if resume.is_some() { loaded.reports } else { n };

    // The same quads through Oxigraph's own bulk loader, in this process.
    let nq = dir.path().join("all.nq");
    {
        let mut w = std::io::BufWriter::new(std::fs::File::create(&nq).expect("nq"));
        export(&cfg.store.dir, ExportFormat::Nq, &mut w).expect("export");
    }
    let (oxi_secs, oxi_quads) = oxigraph_load(&nq, &dir.path().join("store2"));
    // CBRREL_BENCH_LOAD_PAIRS=K: K − 1 more pairs of loads on the same input, alternating
    // (`cbrrel load` into a fresh store, then Oxigraph's loader into a fresh store), for the
    // ratio's spread: on a shared box both loads move by ±15 % from run to run, together, so
    // one pair says little and the median of several says more.
    let mut pairs = vec![(loaded.seconds - loaded.optimize_seconds, oxi_secs)];
    for _ in 1..env_or("CBRREL_BENCH_LOAD_PAIRS", 1usize).max(1) {
        let _ = std::fs::remove_dir_all(&cfg.store.dir);
        let again = run_load(&cfg, &mut NightlySummary::default()).expect("load again");
        assert_eq!(again.quads_written, loaded.quads_written, "the same load");
        let _ = std::fs::remove_dir_all(dir.path().join("store2"));
        let (secs, quads) = oxigraph_load(&nq, &dir.path().join("store2"));
        assert_eq!(quads, oxi_quads, "the same N-Quads");
        pairs.push((again.seconds - again.optimize_seconds, secs));
    }

    // The same reports in the RDF 1.1 statement form (rdf:subject/predicate/object on the
    // provenance node), loaded into a fresh store the same way: the layout comparison.
    let vocab = Vocabulary::from_schema(&Schema::casmed()).expect("vocab");
    let shapes = Shapes::parse(SHAPES_TTL).expect("shapes");
    let table = SegmentTable::default_table();
    let stored: Vec<StoredReport> = {
        let st = oxigraph::store::Store::open_read_only(&cfg.store.dir).expect("store");
        read_reports(&st, &vocab).expect("read back")
    };
    let inputs: Vec<_> = stored.iter().map(StoredReport::as_input).collect();
    let run = RunInfo {
        model_id: "bench".into(),
        ended_at: "2026-12-01T00:00:00Z".into(),
    };
    let statement_dir = dir.path().join("store-statement");
    let cx = LoadContext {
        ontology_ttl: ONTOLOGY_TTL,
        shapes: &shapes,
        vocab: &vocab,
        table: &table,
        provenance: Provenance::Statement,
    };
    // CBRREL_BENCH_STATEMENT=0 skips the RDF 1.1 comparison (a second full load: its ratio to
    // the RDF 1.2 layout does not change with the size of the dump).
    let (statement_quads, statement_bytes) = if env_or("CBRREL_BENCH_STATEMENT", 1) == 0 {
        (0, 0)
    } else {
        let st = load(&statement_dir, &cx, &inputs, &run).expect("statement layout");
        (st.store_quads, dir_bytes(&statement_dir))
    };

    // A night with 20 changed reports against the full store (the transactional path): the
    // same reports re-loaded with their confidences nudged.
    let changed: Vec<StoredReport> = stored
        .iter()
        .take(20)
        .map(|r| {
            let mut r = r.clone();
            r.content_hash.push('x');
            for t in &mut r.triples {
                t.confidence *= 0.99;
            }
            r
        })
        .collect();
    let changed_inputs: Vec<_> = changed.iter().map(StoredReport::as_input).collect();
    let cx12 = LoadContext {
        provenance: Provenance::Rdf12,
        ..cx
    };
    let t = Instant::now();
    let update = load(&cfg.store.dir, &cx12, &changed_inputs, &run).expect("update");
    let update_secs = t.elapsed().as_secs_f64();

    let per_sec = |k: &str| n as f64 / s.seconds[k];
    println!(
        "## graph pipeline, {n} generated reports ({} sentences{}), model {}, device {device:?}\n",
        s.sentences,
        if resume.is_some() {
            ", extraction resumed"
        } else {
            ""
        },
        model.display()
    );
    println!("| stage | seconds | reports/s |\n|---|---:|---:|");
    for k in ["ingest", "extract", "load"] {
        if s.seconds.contains_key(k) {
            println!("| {k} | {:.2} | {:.0} |", s.seconds[k], per_sec(k));
        }
    }
    if let Some(secs) = s.seconds.get("extract") {
        println!("\nextract: {:.0} sentences/s", s.sentences as f64 / secs);
    }
    println!(
        "{} triples; store {} quads, {:.1} MiB",
        loaded.triples,
        s.store_quads,
        s.store_bytes as f64 / 1048576.0
    );
    println!(
        "layout: RDF 1.2 (rdf:reifies) {} quads = {:.2} per relation (report graphs alone {:.2}), {:.1} MiB; RDF 1.1 statements {} quads = {:.2} per relation, {:.1} MiB",
        s.store_quads,
        s.store_quads as f64 / loaded.triples.max(1) as f64,
        loaded.report_quads as f64 / loaded.triples.max(1) as f64,
        s.store_bytes as f64 / 1048576.0,
        statement_quads,
        statement_quads as f64 / loaded.triples.max(1) as f64,
        statement_bytes as f64 / 1048576.0
    );
    println!(
        "entities: {} nodes; typed values {} parsed, {:?} unparsed; body-part mentions linked {} of {} ({:.1} %)",
        loaded.entities_added,
        loaded.values_parsed,
        loaded.values_unparsed,
        loaded.bp_mentions_linked,
        loaded.bp_mentions,
        100.0 * loaded.bp_mentions_linked as f64 / loaded.bp_mentions.max(1) as f64
    );
    // Oxigraph's loader leaves the store uncompacted: the ratio compares like with like (the
    // load without its compaction), and the compaction is printed beside it.
    let written = loaded.seconds - loaded.optimize_seconds;
    let ours = loaded.quads_written as f64 / written;
    let theirs = oxi_quads as f64 / oxi_secs;
    println!(
        "load: `cbrrel load` {:.0} quads/s (RDF building + shape checks + entity values + counts + bulk load, {} quads in {:.1} s) vs Oxigraph bulk loader on the exported N-Quads {:.0} quads/s ({} quads in {:.1} s): ratio {:.2}; then the compaction {:.1} s",
        ours,
        loaded.quads_written,
        written,
        theirs,
        oxi_quads,
        oxi_secs,
        ours / theirs,
        loaded.optimize_seconds
    );
    if pairs.len() > 1 {
        // Same quads on both sides: the ratio of rates is the ratio of times.
        let mut ratios: Vec<f64> = pairs.iter().map(|(o, x)| x / o).collect();
        for (i, ((o, x), r)) in pairs.iter().zip(&ratios).enumerate() {
            println!(
                "load pair {}: `cbrrel load` {o:.1} s, Oxigraph {x:.1} s, ratio {r:.2}",
                i + 1
            );
        }
        ratios.sort_by(f64::total_cmp);
        println!(
            "load ratio over {} pairs: median {:.2}, min {:.2}, max {:.2}",
            ratios.len(),
            percentile(&ratios, 0.5),
            percentile(&ratios, 0.0),
            percentile(&ratios, 1.0)
        );
    }
    println!(
        "update: 20 changed reports re-loaded into the full store in {:.3} s ({} count nodes touched, {} replaced)",
        update_secs, update.count_keys_touched, update.replaced
    );
    time_queries(&root, &cfg.store.dir);
    if kept.is_some() || resume.is_some() {
        println!("\nkept {}", dir.keep().display());
    }
}

/// Oxigraph's own bulk loader on an N-Quads file into a fresh store at `dir`, as its CLI
/// loads: (seconds to the commit, quads in the store).
fn oxigraph_load(nq: &Path, dir: &Path) -> (f64, usize) {
    let t = Instant::now();
    let store = oxigraph::store::Store::open(dir).expect("store2");
    let mut loader = store.bulk_loader();
    loader
        .load_from_reader(
            oxigraph::io::RdfFormat::NQuads,
            std::fs::File::open(nq).expect("nq"),
        )
        .expect("bulk load");
    loader.commit().expect("commit");
    let secs = t.elapsed().as_secs_f64();
    (secs, store.len().expect("len"))
}

/// The bench's directory: a temporary one (removed at the end unless kept) or a resumed one.
enum Workdir {
    Temp(tempfile::TempDir),
    Given(PathBuf),
}

impl Workdir {
    fn path(&self) -> &Path {
        match self {
            Workdir::Temp(t) => t.path(),
            Workdir::Given(p) => p,
        }
    }

    fn keep(self) -> PathBuf {
        match self {
            Workdir::Temp(t) => t.keep(),
            Workdir::Given(p) => p,
        }
    }
}

/// p50 and p95 of every shipped query on an open store (as a server runs them; `cbrrel query`
/// adds the open, printed once).
fn time_queries(root: &Path, store_dir: &Path) {
    let runs: usize = env_or("CBRREL_BENCH_QUERY_RUNS", 21);
    // Queries on an open store (as a server runs them); `cbrrel query` adds the open.
    let t = Instant::now();
    let store = oxigraph::store::Store::open_read_only(store_dir).expect("store");
    println!(
        "\nopening the store read-only: {:.1} ms",
        t.elapsed().as_secs_f64() * 1000.0
    );
    println!("\n| query | p50 ms | p95 ms | rows |\n|---|---:|---:|---:|");
    // CBRREL_BENCH_QUERIES=DIR: time the .rq files of another folder (a query being rewritten)
    // instead of the shipped ones.
    let dir = std::env::var_os("CBRREL_BENCH_QUERIES")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("ontology/queries"));
    let mut queries: Vec<PathBuf> = std::fs::read_dir(dir)
        .expect("queries")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "rq"))
        .collect();
    queries.sort();
    for q in queries {
        let text = std::fs::read_to_string(&q).expect("query");
        let mut times = Vec::new();
        let mut rows = 0;
        for _ in 0..runs {
            let t = Instant::now();
            rows = query_store(&store, &text, ResultFormat::Csv, &mut std::io::sink(), None)
                .expect("query");
            times.push(t.elapsed().as_secs_f64() * 1000.0);
        }
        times.sort_by(f64::total_cmp);
        println!(
            "| {} | {:.1} | {:.1} | {rows} |",
            name(&q),
            percentile(&times, 0.5),
            percentile(&times, 0.95)
        );
    }
}

/// The nearest-rank percentile `p` (0–1) of sorted values (the median of an odd count).
fn percentile(sorted: &[f64], p: f64) -> f64 {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

fn name(p: &Path) -> String {
    p.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}
