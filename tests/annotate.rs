//! The annotation loop end to end with the tiny trained model: `annotate export` on an EMR dump
//! (read as ingest reads it: bad rows and PHI quarantined, counts adding up), then `annotate
//! import` of the unedited tasks gives back exactly the model's predictions.

use std::collections::BTreeSet;
use std::path::Path;

use cbrrel::corpus::{read_corpus, Action, ProblemKind, Record};
use cbrrel::infer::LoadedModel;

use crate::model::trained;
use crate::util::{cbrrel, json, repo, s, stderr, stdout};

/// The trained reports, two more fixture reports, a row with no text and one with a mobile
/// number in it: (id, text) rows of a CSV dump.
fn dump(dir: &Path, trained: &[Record]) -> (std::path::PathBuf, Vec<(String, String)>) {
    let fixtures = read_corpus(&repo().join("fixtures/annotated.jsonl"), None, None).unwrap();
    let known: BTreeSet<&str> = trained.iter().map(|r| r.id.as_str()).collect();
    let mut rows: Vec<(String, String)> = trained
        .iter()
        .chain(
            fixtures
                .records
                .iter()
                .filter(|r| !known.contains(r.id.as_str()))
                .take(2),
        )
        .map(|r| (format!("R-{}", r.id), r.text.clone()))
        .collect();
    let accepted = rows.clone();
    rows.push(("R-empty".into(), "  ".into()));
    rows.push((
        "R-phi".into(),
        "患者联系电话13912345678,前降支近段狭窄80%。".into(),
    ));
    let path = dir.join("dump.csv");
    let mut w = csv::Writer::from_path(&path).unwrap();
    w.write_record(["report_id", "text"]).unwrap();
    for (id, text) in &rows {
        w.write_record([id, text]).unwrap();
    }
    w.flush().unwrap();
    (path, accepted)
}

/// Run `cbrrel` with `args` (split on spaces; no argument here has one), expect success, and
/// return the JSON summary's `keys` as numbers, and the whole summary.
fn run_json(args: &str, keys: &[&str]) -> (Vec<Option<u64>>, serde_json::Value) {
    let args: Vec<&str> = args.split(' ').collect();
    let o = cbrrel(&args);
    assert!(o.status.success(), "{}\n{}", stdout(&o), stderr(&o));
    let j = json(&o);
    (keys.iter().map(|k| j[*k].as_u64()).collect(), j)
}

#[test]
fn export_then_unedited_import_gives_back_the_predictions() {
    let t = trained();
    let dir = tempfile::tempdir().unwrap();
    let (dump, accepted) = dump(dir.path(), &t.records);
    let tasks = dir.path().join("tasks.jsonl");
    let config = repo().join("pipeline/nightly.toml");
    let (counts, j) = run_json(
        &format!(
            "annotate export --config {} --input {} --model {} --device cpu --out {} --n 10 --format json",
            s(&config),
            s(&dump),
            s(&t.dir),
            s(&tasks)
        ),
        &["read", "accepted", "quarantined"],
    );
    assert_eq!(counts, [Some(6), Some(4), Some(2)], "{j}");
    assert_eq!(j["quarantine_reasons"]["empty_text"], 1, "{j}");
    assert_eq!(j["quarantine_reasons"]["phi_detected"], 1, "{j}");
    assert_eq!(j["exported"].as_u64(), Some(4), "{j}");
    let quarantine =
        std::fs::read_to_string(dir.path().join("tasks.jsonl.quarantine.csv")).unwrap();
    assert!(quarantine.contains("R-phi") && !quarantine.contains("13912345678"));

    // Each task: the report's id and the hash of its text; least sure first.
    let lines: Vec<serde_json::Value> = std::fs::read_to_string(&tasks)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 4);
    let by_id: std::collections::HashMap<&str, &str> = accepted
        .iter()
        .map(|(i, t)| (i.as_str(), t.as_str()))
        .collect();
    for l in &lines {
        let text = by_id[l["report_id"].as_str().unwrap()];
        assert_eq!(l["text"], text);
        assert_eq!(l["content_hash"], cbrrel::ingest::content_hash(text));
        assert_eq!(l["selection"], "low-confidence");
    }
    let scores: Vec<f64> = lines.iter().filter_map(|l| l["score"].as_f64()).collect();
    assert!(
        !scores.is_empty() && scores.windows(2).all(|w| w[0] <= w[1]),
        "{scores:?}"
    );

    // Imported unedited: exactly what the model predicts for those texts.
    let corpus = dir.path().join("corpus.jsonl");
    let (counts, j) = run_json(
        &format!(
            "annotate import --in {} --out {} --tasks {} --format json",
            s(&tasks),
            s(&corpus),
            s(&tasks)
        ),
        &["read", "imported", "rejected"],
    );
    assert_eq!(counts, [Some(4), Some(4), Some(0)], "{j}");
    assert_eq!(j["records_unchanged"].as_u64(), Some(4), "{j}");
    assert!(j["changes"].as_array().unwrap().is_empty(), "{j}");
    let imported = read_corpus(&corpus, None, None).unwrap();
    // A model may predict overlapping spans (one relation's object inside another's subject);
    // the reader keeps them and says so. Anything else reported is a fault of the round trip,
    // and the spans themselves are compared with the predictions below.
    assert!(
        imported
            .problems
            .iter()
            .all(|p| p.kind == ProblemKind::OverlappingSpans && p.action == Action::Kept),
        "{:?}",
        imported.problems
    );
    let _rng = crate::util::torch_rng();
    let model = LoadedModel::load(&t.dir, tch::Device::Cpu).unwrap();
    let records: Vec<Record> = accepted
        .iter()
        .map(|(id, text)| Record::unannotated(id, text))
        .collect();
    let predicted = model.predictor(8).predict(&records).unwrap();
    assert!(predicted.iter().map(|r| r.relations.len()).sum::<usize>() > 0);
    for p in &predicted {
        let r = imported.get(&p.id).expect("every report imported");
        assert_eq!(r.text, p.text);
        let spans = |r: &Record| -> Vec<(usize, usize, String)> {
            r.entities
                .iter()
                .map(|e| (e.start, e.end, e.label.clone()))
                .collect()
        };
        assert_eq!(spans(r), spans(p), "{}", p.id);
        assert_eq!(r.span_triples(), p.span_triples(), "{}", p.id);
    }
}
