//! The nightly graph end to end on fixtures: dump → ingest → extract → load → SPARQL, with a
//! tiny model trained on two fixture reports (tests/model.rs). Also: quarantine accounting,
//! kill during extraction then resume, re-run idempotence, a changed report, UPDATE refused,
//! N-Quads export round trip.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Output;

use cbrrel::corpus::Record;
use cbrrel::graph::normalize;
use cbrrel::nightly::{run_load, DumpKind, NightlyConfig, NightlyError, NightlySummary};

use crate::model::trained;
use crate::util::{cbrrel, json, s, stderr, stdout};

/// Write records as an EMR dump (the fixtures' reports.csv shape).
fn write_dump(records: &[(String, String)], path: &Path) {
    let mut w = csv::Writer::from_path(path).unwrap();
    w.write_record(["report_id", "patient_id", "date", "department", "text"])
        .unwrap();
    for (i, (id, text)) in records.iter().enumerate() {
        w.write_record([
            id.as_str(),
            &format!("P{i:04}"),
            "2026-11-24",
            "心内科",
            text.as_str(),
        ])
        .unwrap();
    }
    w.flush().unwrap();
}

fn ids_texts(records: &[Record]) -> Vec<(String, String)> {
    records
        .iter()
        .map(|r| (r.id.clone(), r.text.clone()))
        .collect()
}

/// A nightly.toml in `dir` reading `input` with `model`, work and store inside `dir`.
fn nightly(dir: &Path, input: &Path, model: &Path, shard_size: usize) -> PathBuf {
    nightly_with(dir, input, model, shard_size, "")
}

/// `nightly`, with extra lines in its `[input]` table (`dump = "full"` …).
fn nightly_with(
    dir: &Path,
    input: &Path,
    model: &Path,
    shard_size: usize,
    input_extra: &str,
) -> PathBuf {
    let cfg = format!(
        "work_dir = {:?}\n[input]\npaths = [{:?}]\n{input_extra}\n[limits]\nmax_text_chars = 5000\n[model]\ndir = {:?}\n[extract]\nshard_size = {shard_size}\nbatch_size = 8\ndevice = \"cpu\"\n[store]\ndir = {:?}\n",
        dir.join("work"),
        input,
        model,
        dir.join("store")
    );
    let path = dir.join("nightly.toml");
    std::fs::write(&path, cfg).unwrap();
    path
}

fn ok(o: &Output) {
    assert!(
        o.status.success(),
        "exit {:?}\nstdout: {}\nstderr: {}",
        o.status,
        stdout(o),
        stderr(o)
    );
}

fn query_json(store: &Path, args: &[&str]) -> serde_json::Value {
    let mut a = vec!["query", "--store", s(store), "--format", "json"];
    a.extend_from_slice(args);
    let o = cbrrel(&a);
    ok(&o);
    json(&o)
}

/// Values of `var` in SPARQL JSON results.
fn column(results: &serde_json::Value, var: &str) -> Vec<String> {
    results["results"]["bindings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b[var]["value"].as_str().unwrap_or_default().to_owned())
        .collect()
}

/// (body part, finding) → reports, from the counts graph (the shipped query).
fn symptom_counts(store: &Path) -> std::collections::BTreeMap<(String, String), u64> {
    let r = query_json(
        store,
        &[
            "--file",
            &repo_file("ontology/queries/symptoms_per_body_part.rq"),
        ],
    );
    column(&r, "body_part")
        .into_iter()
        .zip(column(&r, "finding"))
        .zip(column(&r, "reports"))
        .map(|(pair, n)| (pair, n.parse().unwrap()))
        .collect()
}

/// Every quad of the store, as N-Quads lines.
fn all_quads(store: &Path) -> BTreeSet<String> {
    let o = cbrrel(&["export", "--store", s(store), "--format", "nq"]);
    ok(&o);
    stdout(&o).lines().map(str::to_owned).collect()
}

fn quad_count(store: &Path) -> usize {
    let r = query_json(
        store,
        &["SELECT (COUNT(*) AS ?n) WHERE { GRAPH ?g { ?s ?p ?o } }"],
    );
    column(&r, "n")[0].parse().unwrap()
}

/// Gold (body part, finding) pairs of records, normalised as the graph does.
fn gold_bpsy(records: &[Record]) -> BTreeSet<(String, String)> {
    records
        .iter()
        .flat_map(|r| {
            r.relations
                .iter()
                .filter(|x| x.code == "BpSy")
                .map(|x| (normalize(&x.subject.text), normalize(&x.object.text)))
        })
        .collect()
}

fn repo_file(rel: &str) -> String {
    crate::util::repo().join(rel).display().to_string()
}

#[test]
fn dump_to_store_to_sparql_then_rerun_change_update_and_export() {
    let t = trained();
    let dir = tempfile::tempdir().unwrap();
    let dump = dir.path().join("dump.csv");
    write_dump(&ids_texts(&t.records), &dump);
    let cfg = nightly(dir.path(), &dump, &t.dir, 5);
    let store = dir.path().join("store");

    // First night: everything is new.
    let o = cbrrel(&["graph", "--config", s(&cfg), "--format", "json"]);
    ok(&o);
    let j = json(&o);
    assert_eq!(
        (
            j["read"].as_u64(),
            j["accepted"].as_u64(),
            j["quarantined"].as_u64(),
            j["skipped"].as_u64()
        ),
        (Some(2), Some(2), Some(0), Some(0)),
        "{j}"
    );
    let gold_triples: usize = t
        .records
        .iter()
        .map(|r| r.span_triples().into_iter().collect::<BTreeSet<_>>().len())
        .sum();
    assert_eq!(
        j["triples"].as_u64(),
        Some(gold_triples as u64),
        "the model knows these reports by heart: {j}"
    );
    for key in ["sentences", "per_relation", "store_quads", "seconds"] {
        assert!(j.get(key).is_some(), "summary lacks {key}: {j}");
    }
    let quads = j["store_quads"].as_u64().unwrap() as usize;
    assert!(quads > 0);

    // A shipped query returns exactly the gold body-part/symptom links.
    let r = query_json(
        &store,
        &[
            "--file",
            &repo_file("ontology/queries/symptoms_per_body_part.rq"),
        ],
    );
    let got: BTreeSet<(String, String)> = column(&r, "body_part")
        .into_iter()
        .zip(column(&r, "finding"))
        .collect();
    assert_eq!(got, gold_bpsy(&t.records));
    // Every shipped query runs on the store.
    for entry in std::fs::read_dir(crate::util::repo().join("ontology/queries")).unwrap() {
        let path = entry.unwrap().path();
        let o = cbrrel(&[
            "query",
            "--store",
            s(&store),
            "--file",
            s(&path),
            "--format",
            "csv",
        ]);
        ok(&o);
    }

    // Second night, same dump: everything skipped, the store unchanged.
    let o = cbrrel(&["graph", "--config", s(&cfg), "--format", "json"]);
    ok(&o);
    let j = json(&o);
    assert_eq!(
        (j["skipped"].as_u64(), j["triples"].as_u64()),
        (Some(2), Some(0)),
        "{j}"
    );
    assert_eq!(quad_count(&store), quads, "a re-run changes nothing");

    // Third night: report 0 now has report 1's text. Its old links are gone from its graph,
    // the new ones are there; report 1 is skipped.
    let (id0, id1) = (t.records[0].id.clone(), t.records[1].id.clone());
    write_dump(
        &[
            (id0.clone(), t.records[1].text.clone()),
            (id1.clone(), t.records[1].text.clone()),
        ],
        &dump,
    );
    let o = cbrrel(&["graph", "--config", s(&cfg), "--format", "json"]);
    ok(&o);
    let j = json(&o);
    assert_eq!(
        (j["changed"].as_u64(), j["skipped"].as_u64()),
        (Some(1), Some(1)),
        "{j}"
    );
    let in_graph = |id: &str| -> BTreeSet<(String, String)> {
        let q = format!(
            "PREFIX cb: <https://w3id.org/cbrrel/ontology#> SELECT ?b ?f WHERE {{ GRAPH ?g {{ ?g cb:reportId \"{id}\" . ?bp cb:hasFinding ?sy }} GRAPH <https://w3id.org/cbrrel/graph/entities> {{ ?bp cb:normalizedText ?b . ?sy cb:normalizedText ?f }} }}"
        );
        let r = query_json(&store, &[&q]);
        column(&r, "b").into_iter().zip(column(&r, "f")).collect()
    };
    assert_eq!(
        in_graph(&id0),
        gold_bpsy(&t.records[1..]),
        "report {id0} now holds the links of its new text only"
    );
    assert_eq!(in_graph(&id1), gold_bpsy(&t.records[1..]));
    // The counts graph followed: report 0's old links are gone from it (no stale counts), and
    // every link of the shared text is now counted in both reports.
    assert_eq!(
        symptom_counts(&store),
        gold_bpsy(&t.records[1..])
            .into_iter()
            .map(|p| (p, 2))
            .collect(),
        "counts after the change"
    );

    // `load --rebuild` rewrites the store from its own report graphs: same quads.
    let before: BTreeSet<String> = all_quads(&store);
    let o = cbrrel(&["load", "--config", s(&cfg), "--rebuild", "--format", "json"]);
    ok(&o);
    let j = json(&o);
    assert_eq!(j["stages"], serde_json::json!(["rebuild"]), "{j}");
    assert_eq!(
        all_quads(&store),
        before,
        "a rebuild of a current store changes nothing"
    );

    // UPDATE is refused, and the store is unchanged.
    let before = quad_count(&store);
    let o = cbrrel(&[
        "query",
        "--store",
        s(&store),
        "DELETE WHERE { GRAPH ?g { ?s ?p ?o } }",
    ]);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("read-only"), "{}", stderr(&o));
    assert_eq!(quad_count(&store), before);

    // Export round trip: N-Quads re-loaded into a fresh store give the same number of quads.
    let nq = dir.path().join("all.nq");
    ok(&cbrrel(&[
        "export",
        "--store",
        s(&store),
        "--format",
        "nq",
        "--out",
        s(&nq),
    ]));
    let fresh = oxigraph::store::Store::new().unwrap();
    fresh
        .load_from_reader(
            oxigraph::io::RdfFormat::NQuads,
            std::fs::File::open(&nq).unwrap(),
        )
        .unwrap();
    let total = quad_count(&store)
        + {
            let r = query_json(&store, &["SELECT (COUNT(*) AS ?n) WHERE { ?s ?p ?o FILTER NOT EXISTS { GRAPH ?g { ?s ?p ?o } } }"]);
            column(&r, "n")[0].parse::<usize>().unwrap()
        };
    assert_eq!(fresh.len().unwrap(), total);
    // N-Triples: the union graph, distinct triples, parseable.
    let nt = dir.path().join("union.nt");
    ok(&cbrrel(&[
        "export",
        "--store",
        s(&store),
        "--format",
        "nt",
        "--out",
        s(&nt),
    ]));
    let g = oxigraph::store::Store::new().unwrap();
    g.load_from_reader(
        oxigraph::io::RdfFormat::NTriples,
        std::fs::File::open(&nt).unwrap(),
    )
    .unwrap();
    let lines = std::fs::read_to_string(&nt).unwrap().lines().count();
    assert_eq!(
        g.len().unwrap(),
        lines,
        "no duplicate triple in the N-Triples export"
    );
}

/// Report ids in the store.
fn stored_reports(store: &Path) -> BTreeSet<String> {
    let r = query_json(
        store,
        &["PREFIX cb: <https://w3id.org/cbrrel/ontology#> SELECT DISTINCT ?id WHERE { GRAPH ?g { ?g cb:reportId ?id } }"],
    );
    column(&r, "id").into_iter().collect()
}

#[test]
fn reports_missing_from_a_full_dump_are_retracted_and_a_truncated_dump_is_refused() {
    let t = trained();
    let dir = tempfile::tempdir().unwrap();
    let dump = dir.path().join("dump.csv");
    let store = dir.path().join("store");
    let both = ids_texts(&t.records);
    let (id0, id1) = (both[0].0.clone(), both[1].0.clone());
    let run = |extra: &str| {
        let cfg = nightly_with(dir.path(), &dump, &t.dir, 5, extra);
        cbrrel(&["graph", "--config", s(&cfg), "--format", "json"])
    };
    write_dump(&both, &dump);
    ok(&run(""));
    let all = BTreeSet::from([id0.clone(), id1.clone()]);
    assert_eq!(stored_reports(&store), all);
    let quads = quad_count(&store);

    // Tonight's dump has report 0 only. Incremental (the default): report 1 is listed as
    // missing, and kept.
    write_dump(&both[..1], &dump);
    let o = run("");
    ok(&o);
    let j = json(&o);
    assert_eq!(
        (
            j["in_store"].as_u64(),
            j["missing"].as_u64(),
            j["retracted"].as_u64()
        ),
        (Some(2), Some(1), Some(0)),
        "{j}"
    );
    let listed = std::fs::read_to_string(dir.path().join("work/ingest/missing.csv")).unwrap();
    assert_eq!(listed, format!("report_id\n{id1}\n"));
    assert_eq!(stored_reports(&store), all);

    // A stored report whose row is quarantined tonight is in the dump (unreadable, not
    // withdrawn): even a full dump with no tolerance does not retract it.
    write_dump(&[both[0].clone(), (id1.clone(), String::new())], &dump);
    let j = json(&run("dump = \"full\"\nmax_missing_share = 0.0"));
    assert_eq!(
        (
            j["quarantined"].as_u64(),
            j["missing"].as_u64(),
            j["retracted"].as_u64()
        ),
        (Some(1), Some(0), Some(0)),
        "{j}"
    );
    assert_eq!(stored_reports(&store), all);
    write_dump(&both[..1], &dump);

    // Full (here from the command line), with the default guard (20 %): losing 1 of 2 looks
    // like a truncated export, and nothing is written.
    let incremental = nightly(dir.path(), &dump, &t.dir, 5);
    let o = cbrrel(&[
        "graph",
        "--config",
        s(&incremental),
        "--dump",
        "full",
        "--format",
        "json",
    ]);
    assert!(!o.status.success(), "{}", stdout(&o));
    assert!(
        stderr(&o).contains("truncated export") && stderr(&o).contains("missing.csv"),
        "{}",
        stderr(&o)
    );
    assert_eq!(
        (stored_reports(&store), quad_count(&store)),
        (all.clone(), quads)
    );
    // The same refusal is a variant a caller matches on, not a sentence to grep.
    let mut cfg = NightlyConfig::load(&incremental).unwrap();
    cfg.input.dump = DumpKind::Full;
    let mut summary = NightlySummary::default();
    match run_load(&cfg, &mut summary) {
        Err(NightlyError::TruncatedDump {
            lacking: 1,
            in_store: 2,
            ..
        }) => {}
        other => panic!("expected TruncatedDump, got {other:?}"),
    }
    let mut stale = cfg.clone();
    stale.work_dir = dir.path().join("no-work-here");
    stale.input.dump = DumpKind::Incremental;
    assert!(
        matches!(
            run_load(&stale, &mut summary),
            Err(NightlyError::MissingStage {
                stage: "ingest",
                ..
            })
        ),
        "a load before any ingest names the stage to run"
    );
    let bad = dir.path().join("bad.toml");
    std::fs::write(&bad, "[input]\nmax_missing_share = 2.0\n").unwrap();
    assert!(matches!(
        NightlyConfig::load(&bad),
        Err(NightlyError::Config { .. })
    ));

    // Full, with a guard that allows it: report 1's graph goes, report 0's stays as it was.
    let o = run("dump = \"full\"\nmax_missing_share = 0.5");
    ok(&o);
    let j = json(&o);
    assert_eq!(
        (j["missing"].as_u64(), j["retracted"].as_u64()),
        (Some(1), Some(1)),
        "{j}"
    );
    assert_eq!(stored_reports(&store), BTreeSet::from([id0.clone()]));
    assert_eq!(
        symptom_counts(&store),
        gold_bpsy(&t.records[..1])
            .into_iter()
            .map(|p| (p, 1))
            .collect(),
        "the retracted report's counts are gone"
    );
    let only0 = quad_count(&store);
    assert!(only0 < quads);
    // The same full dump again: nothing missing, nothing retracted, the store unchanged.
    let j = json(&run("dump = \"full\"\nmax_missing_share = 0.5"));
    assert_eq!(
        (
            j["missing"].as_u64(),
            j["retracted"].as_u64(),
            j["skipped"].as_u64()
        ),
        (Some(0), Some(0), Some(1)),
        "{j}"
    );
    assert_eq!(quad_count(&store), only0);

    // By hand: `cbrrel retract` removes report 0; the next night loads it again as new.
    let cfg = nightly(dir.path(), &dump, &t.dir, 5);
    let o = cbrrel(&[
        "retract",
        "--config",
        s(&cfg),
        "--report",
        &id0,
        "--report",
        "no-such-report",
        "--format",
        "json",
    ]);
    ok(&o);
    let j = json(&o);
    assert_eq!(j["retracted"].as_u64(), Some(1), "{j}");
    assert!(
        stderr(&o).contains("1 of 2 ids had no graph"),
        "{}",
        stderr(&o)
    );
    assert!(stored_reports(&store).is_empty());
    let o = cbrrel(&["retract", "--config", s(&cfg)]);
    assert!(
        !o.status.success() && stderr(&o).contains("--report ID"),
        "{}",
        stderr(&o)
    );
    write_dump(&both[..1], &dump);
    let j = json(&run(""));
    assert_eq!(
        (j["new"].as_u64(), j["missing"].as_u64()),
        (Some(1), Some(0)),
        "{j}"
    );
    assert_eq!(stored_reports(&store), BTreeSet::from([id0]));
}

#[test]
fn every_bad_row_is_quarantined_and_counts_add_up() {
    let dir = tempfile::tempdir().unwrap();
    let csv_path = dir.path().join("dump.csv");
    let long = "狭窄".repeat(40);
    let mut bytes: Vec<u8> = Vec::new();
    bytes.extend_from_slice("report_id,patient_id,date,department,text\n".as_bytes());
    bytes.extend_from_slice("1,P1,2026-11-24,心内科,前降支近段狭窄80%。\n".as_bytes());
    bytes.extend_from_slice(",P2,2026-11-24,心内科,右冠通畅。\n".as_bytes()); // missing id
    bytes.extend_from_slice("3,P3,2026-11-24,心内科,\n".as_bytes()); // empty text
    bytes.extend_from_slice(b"4,P4,2026-11-24,x,\xe5\x89\x8d\xff\n"); // invalid UTF-8
    bytes.extend_from_slice(format!("5,P5,2026-11-24,心内科,{long}\n").as_bytes()); // too long
    bytes.extend_from_slice("6,P6,2026-11-24,心内科,回旋支狭窄50%。\n".as_bytes());
    bytes.extend_from_slice("6,P6,2026-11-24,心内科,回旋支狭窄70%。\n".as_bytes()); // conflicting
    bytes.extend_from_slice("1,P1,2026-11-24,心内科,前降支近段狭窄80%。\n".as_bytes()); // duplicate
    bytes.extend_from_slice("7,P7,2026-11-24\n".as_bytes()); // ragged
    bytes.extend_from_slice("8,P8,2026-11-24,心内科,\"   \"\n".as_bytes()); // whitespace only
    std::fs::write(&csv_path, &bytes).unwrap();
    let nd = dir.path().join("dump.ndjson");
    std::fs::write(
        &nd,
        "{\"report_id\": \"9\", \"text\": \"左主干未见狭窄。\"}\n{\"report_id\": 10, \"text\": null}\n{not json\n[1, 2]\n{\"text\": \"无编号\"}\n",
    )
    .unwrap();
    // Parquet dumps are typed: an integer id column, a null text.
    let pq = dir.path().join("dump.parquet");
    {
        use polars::prelude::*;
        let mut df = DataFrame::new(
            3,
            vec![
                Column::new("report_id".into(), vec![Some(11i64), Some(12), None]),
                Column::new(
                    "text".into(),
                    vec![Some("前降支中段狭窄60%。"), None, Some("右冠通畅。")],
                ),
            ],
        )
        .unwrap();
        ParquetWriter::new(std::fs::File::create(&pq).unwrap())
            .finish(&mut df)
            .unwrap();
    }
    let model = dir.path().join("no-model");
    let cfg = nightly(dir.path(), &csv_path, &model, 100);
    let o = cbrrel(&[
        "ingest",
        "--config",
        s(&cfg),
        "--input",
        s(&csv_path),
        "--input",
        s(&nd),
        "--input",
        s(&pq),
        "--max-text-chars",
        "50",
        "--format",
        "json",
    ]);
    ok(&o);
    let j = json(&o);
    let n = |k: &str| j[k].as_u64().unwrap();
    assert_eq!(n("read"), 18, "{j}");
    assert_eq!(n("read"), n("accepted") + n("quarantined"), "{j}");
    assert_eq!(n("accepted"), 3, "reports 1, 9 and 11: {j}");
    let reasons = &j["quarantine_reasons"];
    for (reason, count) in [
        ("missing_id", 3),
        ("empty_text", 2),
        ("invalid_utf8", 1),
        ("text_too_long", 1),
        ("conflicting_texts", 2),
        ("duplicate_row", 1),
        ("malformed", 3),
        ("missing_text", 2),
    ] {
        assert_eq!(reasons[reason].as_u64(), Some(count), "{reason}: {j}");
    }
    let q = std::fs::read_to_string(dir.path().join("work/ingest/quarantine.csv")).unwrap();
    assert_eq!(q.lines().count() as u64, n("quarantined") + 1, "{q}");
    // A missing input is a one-line error, not an empty night.
    let o = cbrrel(&[
        "ingest",
        "--config",
        s(&cfg),
        "--input",
        "/nonexistent/*.csv",
    ]);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("matches no file"), "{}", stderr(&o));
}

/// Every shard file of an extract directory, name → rows.
fn shards(dir: &Path) -> Vec<(String, Vec<cbrrel::extract::TripleRow>)> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("shard-"))
        .collect();
    names.sort();
    names
        .into_iter()
        .map(|n| {
            (
                n.clone(),
                cbrrel::extract::row::read_shard(&dir.join(&n)).unwrap(),
            )
        })
        .collect()
}

/// `cbrrel extract --config CFG --quiet --format json`.
fn extract_json(cfg: &Path) -> Output {
    cbrrel(&["extract", "--config", s(cfg), "--quiet", "--format", "json"])
}

/// A scratch folder holding `dump.csv`: the first `n` annotated fixture reports, ids and texts.
fn fixture_dump(n: usize) -> (tempfile::TempDir, PathBuf) {
    let fixtures = cbrrel::corpus::read_corpus(
        &crate::util::repo().join("fixtures/annotated.jsonl"),
        None,
        None,
    )
    .unwrap()
    .records;
    let dir = tempfile::tempdir().unwrap();
    let dump = dir.path().join("dump.csv");
    write_dump(&ids_texts(&fixtures[..n]), &dump);
    (dir, dump)
}

/// `--precision bf16` extracts other shards than f32 (their fingerprints name the precision), so
/// a run never resumes one precision's shards under the other; the summary and plan.json say
/// which; going back to f32 converges to the f32 run's files.
#[test]
fn extraction_in_bf16_makes_its_own_shards_and_f32_converges_back() {
    let t = trained();
    let (dir, dump) = fixture_dump(4);
    let cfg = nightly(dir.path(), &dump, &t.dir, 8);
    let extract_dir = dir.path().join("work/extract");
    ok(&cbrrel(&["ingest", "--config", s(&cfg)]));
    ok(&cbrrel(&["extract", "--config", s(&cfg), "--quiet"]));
    let f32_shards = shards(&extract_dir);
    let plan = |key: &str| -> serde_json::Value {
        let text = std::fs::read_to_string(extract_dir.join("plan.json")).unwrap();
        serde_json::from_str::<serde_json::Value>(&text).unwrap()[key].clone()
    };
    assert_eq!(plan("precision"), "f32");
    let o = cbrrel(&[
        "extract",
        "--config",
        s(&cfg),
        "--quiet",
        "--precision",
        "bf16",
    ]);
    ok(&o);
    assert!(
        stdout(&o).contains("predicted in bf16 on the CPU"),
        "{}",
        stdout(&o)
    );
    assert_eq!(plan("precision"), "bf16");
    let bf16_shards = shards(&extract_dir);
    assert_eq!(bf16_shards.len(), f32_shards.len());
    for ((a, rows_a), (b, rows_b)) in f32_shards.iter().zip(&bf16_shards) {
        assert_ne!(a, b, "a bf16 shard is not the f32 one");
        assert!(!rows_b.is_empty(), "{b} holds triples");
        // The tiny model is sure of its own reports: the same triples either way.
        let key = |r: &cbrrel::extract::TripleRow| {
            (
                r.report_id.clone(),
                r.relation.clone(),
                r.subject_start,
                r.object_start,
            )
        };
        let mut ka: Vec<_> = rows_a.iter().map(key).collect();
        let mut kb: Vec<_> = rows_b.iter().map(key).collect();
        ka.sort();
        kb.sort();
        assert_eq!(ka, kb, "{a} against {b}");
    }
    let o = extract_json(&cfg);
    ok(&o);
    assert_eq!(json(&o)["precision"], "f32");
    assert_eq!(
        shards(&extract_dir),
        f32_shards,
        "back to f32: the f32 run's files"
    );
}

#[test]
fn extraction_killed_midway_resumes_to_the_same_output() {
    let t = trained();
    let (dir, dump) = fixture_dump(6);
    // Clean run.
    let clean = dir.path().join("clean");
    std::fs::create_dir_all(&clean).unwrap();
    let cfg_clean = nightly(&clean, &dump, &t.dir, 8);
    ok(&cbrrel(&["ingest", "--config", s(&cfg_clean)]));
    ok(&cbrrel(&["extract", "--config", s(&cfg_clean), "--quiet"]));
    let expected = shards(&clean.join("work/extract"));
    assert!(expected.len() >= 4, "{} shards", expected.len());
    // Crashed run: aborts after 2 shards, then resumes.
    let crashed = dir.path().join("crashed");
    std::fs::create_dir_all(&crashed).unwrap();
    let cfg = nightly(&crashed, &dump, &t.dir, 8);
    ok(&cbrrel(&["ingest", "--config", s(&cfg)]));
    let o = std::process::Command::new(crate::util::bin())
        .args(["extract", "--config", s(&cfg), "--quiet"])
        .env("CBRREL_ABORT_AFTER_SHARDS", "2")
        .output()
        .unwrap();
    assert!(!o.status.success(), "the hook aborts");
    assert_eq!(shards(&crashed.join("work/extract")).len(), 2);
    let o = extract_json(&cfg);
    ok(&o);
    assert_eq!(
        shards(&crashed.join("work/extract")),
        expected,
        "resumed output = uninterrupted output"
    );
    // Two workers of a job array split the same dump into the same shards.
    let split = dir.path().join("split");
    std::fs::create_dir_all(&split).unwrap();
    let cfg = nightly(&split, &dump, &t.dir, 8);
    ok(&cbrrel(&["ingest", "--config", s(&cfg)]));
    ok(&cbrrel(&[
        "extract",
        "--config",
        s(&cfg),
        "--quiet",
        "--shard-index",
        "1",
        "--shard-count",
        "2",
    ]));
    let o = cbrrel(&["load", "--config", s(&cfg)]);
    assert!(
        !o.status.success() && stderr(&o).contains("not extracted yet"),
        "load refuses a half-done extraction: {}",
        stderr(&o)
    );
    ok(&cbrrel(&[
        "extract",
        "--config",
        s(&cfg),
        "--quiet",
        "--shard-index",
        "0",
        "--shard-count",
        "2",
    ]));
    assert_eq!(shards(&split.join("work/extract")), expected);
    ok(&cbrrel(&["load", "--config", s(&cfg)]));
}
