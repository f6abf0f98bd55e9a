//! The corpus and evaluation layers on the public corpora (read from ../shared/data).

use crate::util::{cbrrel, json, s, shared, stderr, stdout};
use cbrrel::corpus::{read_corpus, write_doccano, write_spo, Record};

const CORONARY: &str = "data/coronary_angiography/reports.jsonl";
const CMEIE_DEV: &str = "data/cmeie/CMeIE_dev.jsonl";

#[test]
fn coronary_stats_report_400_reports_and_9637_relations() {
    let Some(file) = shared(CORONARY) else { return };
    let o = cbrrel(&["corpus", "stats", s(&file), "--format", "json"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let v = json(&o);
    assert_eq!(v["reports"], 400);
    assert_eq!(v["relations"], 9637);
    let per: u64 = v["per_relation"]
        .as_object()
        .unwrap()
        .values()
        .map(|x| x.as_u64().unwrap())
        .sum();
    assert_eq!(per, 9637);
    assert_eq!(v["per_relation"]["BpSy"], 4320);
    assert_eq!(v["per_relation"]["BpIn"], 56);
    assert_eq!(v["per_entity_type"]["Sy"], 4987);
    let o_ = &v["overlap"];
    assert!(o_["normal"].as_u64().unwrap() > 0 && o_["seo"].as_u64().unwrap() > 0);
    assert!(v["sentences"].as_u64().unwrap() > 400);
    // The human format says the same.
    let o = cbrrel(&["corpus", "stats", s(&file)]);
    assert!(stdout(&o).contains("relations    9637"), "{}", stdout(&o));
}

#[test]
fn coronary_check_reports_the_known_reversed_and_mismatched_relations() {
    let Some(file) = shared(CORONARY) else { return };
    let o = cbrrel(&["corpus", "check", s(&file), "--format", "json"]);
    assert_eq!(
        o.status.code(),
        Some(1),
        "problems exist in this corpus: {}",
        stderr(&o)
    );
    let v = json(&o);
    assert_eq!(v["read"], 400);
    assert_eq!(v["accepted"], 400);
    assert!(v["per_kind"]["reversed_relation"].as_u64().unwrap() > 0);
    assert!(v["per_kind"]["label_mismatch"].as_u64().unwrap() > 0);
    for d in v["details"].as_array().unwrap() {
        assert!(
            d["record"].is_string() && d["line"].as_u64().unwrap() >= 1,
            "{d}"
        );
    }
}

#[test]
fn eval_gold_against_itself_is_one_and_a_tenth_removed_gives_recall_point_nine() {
    let Some(file) = shared(CORONARY) else { return };
    let o = cbrrel(&[
        "eval",
        "--gold",
        s(&file),
        "--pred",
        s(&file),
        "--format",
        "json",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let v = json(&o);
    for k in ["precision", "recall", "f1"] {
        assert_eq!(v[k], 1.0, "{k}");
    }
    let corpus = read_corpus(&file, None, None).unwrap();
    let (pred, removed, total) = drop_every_tenth_triple(&corpus.records);
    assert!(removed * 10 >= total - 9 && removed * 10 <= total + 9);
    let dir = tempfile::tempdir().unwrap();
    let pred_path = dir.path().join("pred.jsonl");
    write_doccano(
        &pred,
        corpus.schema.as_ref(),
        std::fs::File::create(&pred_path).unwrap(),
    )
    .unwrap();
    let report = dir.path().join("report");
    let o = cbrrel(&[
        "eval",
        "--gold",
        s(&file),
        "--pred",
        s(&pred_path),
        "--format",
        "json",
        "--report",
        s(&report),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let v = json(&o);
    assert_eq!(v["precision"], 1.0);
    let recall = v["recall"].as_f64().unwrap();
    assert!((recall - 0.9).abs() < 0.001, "recall {recall}");
    assert!(std::fs::read_to_string(report.join("eval.md"))
        .unwrap()
        .contains("BpSy"));
    // spo predictions score against doccano gold by text.
    let spo_path = dir.path().join("pred_spo.jsonl");
    write_spo(
        &pred,
        corpus.schema.as_ref(),
        std::fs::File::create(&spo_path).unwrap(),
    )
    .unwrap();
    let o = cbrrel(&[
        "eval",
        "--gold",
        s(&file),
        "--pred",
        s(&spo_path),
        "--format",
        "json",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!((json(&o)["recall"].as_f64().unwrap() - recall).abs() < 1e-9);
}

/// Remove every tenth distinct text triple (counting over the whole corpus), with all the
/// relations that express it. Returns the records, triples removed and triples in all.
fn drop_every_tenth_triple(records: &[Record]) -> (Vec<Record>, usize, usize) {
    let mut out = Vec::new();
    let (mut k, mut removed) = (0usize, 0usize);
    for r in records {
        let triples = r.text_triples();
        let mut drop = Vec::new();
        for t in triples {
            k += 1;
            if k % 10 == 0 {
                drop.push(t);
                removed += 1;
            }
        }
        let mut r2 = r.clone();
        r2.relations.retain(|x| {
            !drop.contains(&(
                x.subject.text.clone(),
                x.code.clone(),
                x.object.text.clone(),
            ))
        });
        out.push(r2);
    }
    (out, removed, k)
}

#[test]
fn cmeie_dev_stats_and_eval() {
    let Some(file) = shared(CMEIE_DEV) else {
        return;
    };
    let schema = shared("data/cmeie/53_schemas.jsonl").unwrap();
    let o = cbrrel(&[
        "corpus",
        "stats",
        s(&file),
        "--schema",
        s(&schema),
        "--format",
        "json",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let v = json(&o);
    assert_eq!(v["reports"], 3585);
    assert_eq!(v["relations"], 10626);
    // CMeIE's SOURCE.md counts by record and by string: Normal 1,425, SEO 2,150, EPO 30.
    assert_eq!(v["unit"], "record");
    assert_eq!(v["overlap_by_string"]["normal"], 1425);
    assert_eq!(v["overlap_by_string"]["seo"], 2150);
    assert_eq!(v["overlap_by_string"]["epo"], 30);
    let o = cbrrel(&[
        "eval",
        "--gold",
        s(&file),
        "--pred",
        s(&file),
        "--format",
        "json",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(json(&o)["f1"], 1.0);
    // DuIE 1.0 plain-string objects read too.
    if let Some(duie) = shared("data/duie/v1_lic2019_partial/dev_data.json") {
        let o = cbrrel(&["corpus", "stats", s(&duie), "--format", "json"]);
        assert!(o.status.success(), "{}", stderr(&o));
        assert_eq!(json(&o)["reports"], 1000);
        assert_eq!(json(&o)["relations"], 2073);
    }
}

#[test]
fn coronary_split_is_by_report_and_deterministic() {
    let Some(file) = shared(CORONARY) else { return };
    let dir = tempfile::tempdir().unwrap();
    let run = |out: &str, seed: &str| {
        let o = cbrrel(&[
            "corpus",
            "split",
            s(&file),
            "--by",
            "report",
            "--ratios",
            "8:1:1",
            "--seed",
            seed,
            "--out",
            s(&dir.path().join(out)),
            "--format",
            "json",
        ]);
        assert!(o.status.success(), "{}", stderr(&o));
        json(&o)
    };
    let a = run("a", "13");
    run("b", "13");
    run("c", "14");
    let read = |d: &str, n: &str| {
        std::fs::read_to_string(dir.path().join(d).join(format!("{n}.jsonl"))).unwrap()
    };
    for n in ["train", "dev", "test"] {
        assert_eq!(read("a", n), read("b", n), "same seed, same {n}");
    }
    assert_ne!(read("a", "test"), read("c", "test"));
    let counts = &a["counts"];
    let total: u64 = ["train", "dev", "test"]
        .iter()
        .map(|n| counts[n].as_u64().unwrap())
        .sum();
    assert_eq!(total, 400);
    assert!(
        (counts["test"].as_u64().unwrap() as i64 - 40).abs() <= 3,
        "{counts}"
    );
    // No text on two sides.
    let texts = |n: &str| -> std::collections::HashSet<String> {
        read("a", n)
            .lines()
            .map(|l| {
                serde_json::from_str::<serde_json::Value>(l).unwrap()["text"]
                    .as_str()
                    .unwrap()
                    .trim()
                    .to_owned()
            })
            .collect()
    };
    let (tr, dv, te) = (texts("train"), texts("dev"), texts("test"));
    assert!(tr.is_disjoint(&te) && tr.is_disjoint(&dv) && dv.is_disjoint(&te));
}

#[test]
fn coronary_text_stage_accounts_for_every_relation() {
    let (Some(file), Some(tok)) = (shared(CORONARY), shared("models/m3e-small")) else {
        return;
    };
    let o = cbrrel(&[
        "text",
        s(&file),
        "--tokenizer",
        s(&tok),
        "--max-len",
        "300",
        "--format",
        "json",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let v = json(&o);
    let lost = v["cross_segment"].as_array().unwrap().len() as u64
        + v["ungrounded"].as_u64().unwrap()
        + v["untokenizable"].as_u64().unwrap();
    assert_eq!(
        v["relations"].as_u64().unwrap(),
        v["labelled"].as_u64().unwrap() + lost
    );
    assert!(v["max_segment_tokens"].as_u64().unwrap() <= 300);
    assert!(v["labelled"].as_u64().unwrap() > 9000);
    // Merging sentences keeps more relations inside one segment.
    let o = cbrrel(&[
        "text",
        s(&file),
        "--tokenizer",
        s(&tok),
        "--max-len",
        "300",
        "--merge",
        "--format",
        "json",
    ]);
    let merged = json(&o);
    assert!(
        merged["cross_segment"].as_array().unwrap().len()
            <= v["cross_segment"].as_array().unwrap().len()
    );
}

/// Issue 11 §3 at the command line, on the corpus the README quotes: `cbrrel text` and `corpus
/// stats --tokenizer` count, per relation, the gold spans WordPiece widens (one McBp relation
/// with m3e-small's vocabulary) and the spans the decoder cannot return (none); under
/// `--split-alnum` the widened count is 0 in both, and no relation is lost on the way.
#[test]
fn coronary_widened_spans_are_counted_and_split_alnum_removes_them() {
    let (Some(file), Some(tok)) = (shared(CORONARY), shared("models/m3e-small")) else {
        return;
    };
    let sum = |v: &serde_json::Value| -> u64 {
        v.as_object()
            .unwrap()
            .values()
            .map(|n| n.as_u64().unwrap())
            .sum()
    };
    for split in [false, true] {
        let mut args = vec!["text", s(&file), "--tokenizer", s(&tok), "--format", "json"];
        if split {
            args.push("--split-alnum");
        }
        let o = cbrrel(&args);
        assert!(o.status.success(), "{}", stderr(&o));
        let text = json(&o);
        let mut args = vec![
            "corpus",
            "stats",
            s(&file),
            "--tokenizer",
            s(&tok),
            "--format",
            "json",
        ];
        if split {
            args.push("--split-alnum");
        }
        let o = cbrrel(&args);
        assert!(o.status.success(), "{}", stderr(&o));
        let stats = json(&o);
        let tokens = &stats["tokens"];
        if split {
            assert_eq!(sum(&text["widened"]), 0, "{}", text["widened"]);
            assert_eq!(sum(&tokens["widened"]), 0, "{tokens}");
        } else {
            assert_eq!(text["widened"], serde_json::json!({"McBp": 1}));
            assert_eq!(tokens["widened"], serde_json::json!({"McBp": 1}));
        }
        assert_eq!(text["undecodable_subjects"], 0);
        assert_eq!(sum(&text["undecodable_objects"]), 0);
        assert_eq!(tokens["undecodable_subjects"], 0);
        assert_eq!(sum(&tokens["undecodable_objects"]), 0);
        // The split changes the tokens, not which relations are labelled.
        assert_eq!(text["labelled"], 9631, "split_alnum {split}");
    }
}

#[test]
fn m3e_tokenizer_maps_spans_through_latin_digits_and_full_width() {
    let Some(dir) = shared("models/m3e-small") else {
        return;
    };
    use cbrrel::text::BertTokenizer;
    for source in ["tokenizer.json", "vocab.txt"] {
        let tok = BertTokenizer::from_path(&dir.join(source)).unwrap();
        assert_eq!(tok.vocab_size(), 21128);
        let text = "置入6F动脉鞘，送入2.5*15mm球囊，TIMI 3级；ＬＡＤ狭窄８０％。😀";
        let t = tok.encode(text).unwrap();
        let chars: Vec<char> = text.chars().collect();
        let span_of = |needle: &str| {
            let b = text.find(needle).unwrap();
            let s = text[..b].chars().count();
            (s, s + needle.chars().count())
        };
        for needle in ["6F", "2.5*15mm", "TIMI 3级", "ＬＡＤ", "８０％", "😀"] {
            let (s, e) = span_of(needle);
            let (a, b) = t
                .token_span(s, e)
                .unwrap_or_else(|| panic!("{source}: no tokens for {needle}"));
            // The tokens cover exactly the span: first starts at s, last ends at e.
            assert_eq!(
                (t.offsets[a].0, t.offsets[b].1),
                (s, e),
                "{source}: {needle}"
            );
            let covered: String = chars[t.offsets[a].0..t.offsets[b].1].iter().collect();
            assert_eq!(covered, needle);
        }
        // The emoji is not in the vocabulary.
        let (s, e) = span_of("😀");
        let (a, _) = t.token_span(s, e).unwrap();
        assert_eq!(t.ids[a], tok.unk_id, "{source}");
    }
}

/// The graph's typed-value parser and segment linker on the coronary corpus's gold entities
/// (issue 8's coverage numbers; BENCHMARKS.md has the measured shares).
#[test]
fn coronary_values_and_segments_are_understood() {
    let Some(file) = shared(CORONARY) else { return };
    let o = cbrrel(&["corpus", "values", s(&file), "--format", "json"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let v = json(&o);
    let share = |k: &str| {
        let (p, m) = (
            v[k]["parsed"].as_f64().unwrap(),
            v[k]["mentions"].as_f64().unwrap(),
        );
        assert!(m > 0.0, "{k}: no mentions");
        p / m
    };
    assert!(share("stenosis") >= 0.90, "{v}");
    assert!(share("timi") >= 0.95, "{v}");
    assert!(share("device_size") >= 0.95, "{v}");
    assert!(share("dose") >= 0.95, "{v}");
    // Every unlinked body part is an access artery or a generic word: ≈ 80 % link.
    assert!(share("body_part_vessel") >= 0.78, "{v}");
    for (text, _) in v["unparsed"]["body_part"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| (x[0].as_str().unwrap(), x[1].as_u64()))
    {
        for vessel in ["前降", "回旋", "对角", "钝缘", "主干"] {
            assert!(
                !text.contains(vessel),
                "a coronary vessel left unlinked: {text}"
            );
        }
    }
}

/// The PHI guard on the 400 coronary reports, which are anonymized: it must find nothing
/// (each hit would be a false positive that quarantines a clean report). Its speed next to
/// ingest's is in BENCHMARKS.md (`cargo bench --bench text_pipeline`).
#[test]
fn the_phi_guard_finds_no_identifier_in_the_anonymized_coronary_reports() {
    let Some(file) = shared(CORONARY) else { return };
    let corpus = read_corpus(&file, None, None).unwrap();
    assert_eq!(corpus.records.len(), 400);
    let hits: Vec<String> = corpus
        .records
        .iter()
        .flat_map(|r| {
            cbrrel::ingest::phi::find(&r.text).into_iter().map(|h| {
                let around: String = r
                    .text
                    .chars()
                    .skip(h.start.saturating_sub(8))
                    .take(h.end - h.start.saturating_sub(8) + 8)
                    .collect();
                format!("{} {:?} {around}", r.id, h.kind)
            })
        })
        .collect();
    assert_eq!(hits, Vec::<String>::new(), "false positives");
}

/// pipeline/mcbp_consistency.py measures how the corpus annotates devices sent to a place
/// (BENCHMARKS.md, McBp): guide wires and catheters mostly as McBp, balloons and stents almost
/// never, and the reports that send a wire or catheter somewhere split into all, some, none.
#[test]
fn mcbp_consistency_counts_the_devices_sent_to_a_place() {
    let Some(file) = shared(CORONARY) else { return };
    let o = std::process::Command::new("python3")
        .arg(crate::util::repo().join("pipeline/mcbp_consistency.py"))
        .arg(&file)
        .output()
        .expect("python3 runs");
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o);
    for row in [
        "| guide wire | 185 | 153 | 82.7 % |",
        "| catheter | 160 | 124 | 77.5 % |",
        "| balloon | 259 | 7 | 2.7 % |",
        "| stent | 51 | 2 | 3.9 % |",
    ] {
        assert!(out.contains(row), "{row} in\n{out}");
    }
    assert!(
        out.contains("somewhere: 131; McBp annotated for all of those devices in 76, some in 39, none in 16."),
        "{out}"
    );
}
