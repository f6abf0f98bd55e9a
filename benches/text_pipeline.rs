//! Segment + tokenize + label throughput (segments/second) on the coronary corpus, all rayon
//! threads, and the PHI guard next to the ingest stage (reports/second). Reads ../shared/data
//! directly; falls back to 400 generated fixture reports when the shared folder is absent.
//! Run: `make bench` (or `cargo bench --bench text_pipeline -- phi_guard`); numbers go into
//! BENCHMARKS.md.

use std::path::Path;

use cbrrel::corpus::{read_corpus, Record, Schema};
use cbrrel::text::{label_records, BertTokenizer, SegmentConfig};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};

fn records() -> (Vec<Record>, &'static str) {
    let shared = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../shared/data/coronary_angiography/reports.jsonl");
    if shared.exists() {
        return (
            read_corpus(&shared, None, None)
                .expect("coronary corpus")
                .records,
            "coronary",
        );
    }
    let generated = cbrrel::fixtures::generate(&cbrrel::fixtures::GeneratorConfig {
        reports: 400,
        seed: 1,
        ..Default::default()
    });
    (
        generated.into_iter().map(|g| g.record).collect(),
        "generated",
    )
}

fn bench(c: &mut Criterion) {
    let tok_dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/models/m3e-small");
    let Ok(tokenizer) = BertTokenizer::from_path(&tok_dir) else {
        eprintln!("no tokenizer at {}: benchmark skipped", tok_dir.display());
        return;
    };
    let (records, name) = records();
    let codes = Schema::casmed().relation_codes();
    for merge in [false, true] {
        let cfg = SegmentConfig {
            max_len: 300,
            merge,
            split_alnum: false,
        };
        let (examples, _) = label_records(&records, &tokenizer, &codes, &cfg).unwrap();
        let mut group = c.benchmark_group(format!("text_pipeline/{name}"));
        group.throughput(Throughput::Elements(examples.len() as u64));
        group.sample_size(20);
        group.bench_function(
            if merge {
                "segments_merged"
            } else {
                "sentences"
            },
            |b| b.iter(|| label_records(&records, &tokenizer, &codes, &cfg).unwrap()),
        );
        group.finish();
    }
}

/// The PHI guard next to the ingest stage it runs in: reports/s of `phi::find` alone, and of
/// `ingest` (read the CSV dump, validate, hash, write Parquet) with the guard off and on, over
/// the same 400 texts written as a dump.
fn bench_phi(c: &mut Criterion) {
    use cbrrel::ingest::{ingest, phi, ColumnMap};
    let (records, name) = records();
    let dir = tempfile::tempdir().expect("tempdir");
    let dump = dir.path().join("dump.csv");
    let mut w = csv::Writer::from_path(&dump).expect("dump");
    w.write_record(["report_id", "text"]).expect("header");
    for r in &records {
        w.write_record([r.id.as_str(), r.text.as_str()])
            .expect("row");
    }
    w.flush().expect("flush");
    let mut group = c.benchmark_group(format!("phi_guard/{name}"));
    group.throughput(Throughput::Elements(records.len() as u64));
    group.sample_size(20);
    group.bench_function("find", |b| {
        b.iter(|| {
            records
                .iter()
                .map(|r| phi::find(&r.text).len())
                .sum::<usize>()
        })
    });
    for (label, policy) in [
        ("ingest_phi_off", phi::PhiPolicy::Off),
        ("ingest_phi_quarantine", phi::PhiPolicy::Quarantine),
    ] {
        group.bench_function(label, |b| {
            b.iter(|| {
                ingest(
                    std::slice::from_ref(&dump),
                    None,
                    &ColumnMap::default(),
                    20_000,
                    policy,
                    &Default::default(),
                    &dir.path().join("out"),
                )
                .expect("ingest")
            })
        });
    }
    group.finish();
}

criterion_group!(benches, bench, bench_phi);
criterion_main!(benches);
