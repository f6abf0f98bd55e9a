//! Segment + tokenize + label throughput (segments/second) on the coronary corpus, all rayon
//! threads. Reads ../shared/data directly; falls back to 400 generated fixture reports when the
//! shared folder is absent. Run: `make bench`; numbers go into BENCHMARKS.md.

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

criterion_group!(benches, bench);
criterion_main!(benches);
