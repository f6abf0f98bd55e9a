//! The binary on the project's own fixtures and on hand-made bad inputs.

use crate::util::{cbrrel, json, repo, s, stderr, stdout};

#[test]
fn info_reports_libtorch_and_cuda_without_ld_library_path() {
    // Run from another directory, with no LD_LIBRARY_PATH: the rpath must find libtorch.
    let o = std::process::Command::new(crate::util::bin())
        .args(["info", "--format", "json"])
        .current_dir(std::env::temp_dir())
        .env_remove("LD_LIBRARY_PATH")
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let v = json(&o);
    assert!(v["libtorch"].as_str().unwrap().starts_with("2.11.0"), "{v}");
    assert!(v["cuda_available"].is_boolean());
    assert!(v["cuda_devices"].is_i64());
}

#[test]
fn committed_fixtures_are_what_the_generator_writes_and_pass_check() {
    let dir = tempfile::tempdir().unwrap();
    let o = cbrrel(&[
        "fixtures",
        "generate",
        "--reports",
        "60",
        "--seed",
        "42",
        "--out",
        s(dir.path()),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    for f in ["annotated.jsonl", "reports.csv"] {
        let fresh = std::fs::read(dir.path().join(f)).unwrap();
        let committed = std::fs::read(repo().join("fixtures").join(f)).unwrap();
        assert!(
            fresh == committed,
            "fixtures/{f} differs from the generator's output: run `make fixtures`"
        );
    }
    let o = cbrrel(&[
        "corpus",
        "check",
        "fixtures/annotated.jsonl",
        "--format",
        "json",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stdout(&o));
    assert_eq!(json(&o)["accepted"], 60);
    let o = cbrrel(&[
        "corpus",
        "stats",
        "fixtures/annotated.jsonl",
        "--format",
        "json",
    ]);
    let v = json(&o);
    assert_eq!(v["reports"], 60);
    assert_eq!(
        v["per_relation"].as_object().unwrap().len(),
        8,
        "all eight relation types: {v}"
    );
    assert!(v["overlap"]["seo"].as_u64().unwrap() > 0);
    let o = cbrrel(&[
        "eval",
        "--gold",
        "fixtures/annotated.jsonl",
        "--pred",
        "fixtures/annotated.jsonl",
        "--format",
        "json",
    ]);
    assert_eq!(json(&o)["f1"], 1.0);
}

/// A doccano file with one record per problem kind, plus bad lines.
fn bad_corpus() -> String {
    let ents = r#"[{"id": 1, "label": "身体部位", "start_offset": 0, "end_offset": 4}, {"id": 2, "label": "症状体征", "start_offset": 4, "end_offset": 6}]"#;
    let rel = |from: u32, to: u32, ty: &str| {
        format!(r#"[{{"id": 9, "from_id": {from}, "to_id": {to}, "type": "{ty}"}}]"#)
    };
    let line = |id: u32, text: &str, ents: &str, rels: &str| {
        format!(r#"{{"id": {id}, "text": "{text}", "entities": {ents}, "relations": {rels}}}"#)
    };
    [
        line(1, "右冠远段闭塞", ents, &rel(1, 2, "身体部位_症状体征")),
        line(2, "右冠远段闭塞", ents, &rel(2, 1, "身体部位_症状体征")),
        line(3, "右冠远段闭塞", ents, &rel(1, 2, "身体部位_治疗方式")),
        line(4, "右冠", ents, "[]"),
        line(5, "右冠远段闭塞", ents, &rel(1, 7, "身体部位_症状体征")),
        line(6, "右冠远段闭塞", r#"[{"id": 1, "label": "身体部位", "start_offset": 0, "end_offset": 4}, {"id": 2, "label": "身体部位", "start_offset": 2, "end_offset": 6}]"#, "[]"),
        line(7, "右冠远段闭塞", r#"[{"id": 1, "label": "血管", "start_offset": 0, "end_offset": 4}]"#, "[]"),
        line(8, "", "[]", "[]"),
        r#"{"id": 9, "text": "右冠"#.to_string(),
        line(1, "重复的编号", "[]", "[]"),
    ]
    .join("\n")
}

#[test]
fn check_reports_every_problem_with_record_and_reason() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.jsonl");
    let mut bytes = bad_corpus().into_bytes();
    bytes.extend_from_slice(b"\n{\"id\": 11, \"text\": \"\xff\"}\n");
    std::fs::write(&path, bytes).unwrap();
    let o = cbrrel(&["corpus", "check", s(&path), "--format", "json"]);
    assert_eq!(o.status.code(), Some(1));
    let v = json(&o);
    assert_eq!(v["read"], 11);
    assert_eq!(
        v["accepted"].as_u64().unwrap() + v["rejected"].as_u64().unwrap(),
        11
    );
    for kind in [
        "reversed_relation",
        "label_mismatch",
        "offset_out_of_range",
        "dangling_relation",
        "overlapping_spans",
        "unknown_entity_label",
        "empty_text",
        "malformed_json",
        "duplicate_id",
        "invalid_utf8",
    ] {
        assert!(
            v["per_kind"][kind].as_u64().unwrap_or(0) >= 1,
            "{kind} not reported: {}",
            v["per_kind"]
        );
    }
    // The human format names record and reason on each line.
    let o = cbrrel(&["corpus", "check", s(&path)]);
    let out = stdout(&o);
    assert!(out.contains("line 2 record 2: reversed_relation"), "{out}");
    assert!(
        out.contains("11 records read = 7 accepted + 4 rejected"),
        "{out}"
    );
    // A clean file exits 0.
    let clean = dir.path().join("clean.jsonl");
    std::fs::write(&clean, bad_corpus().lines().next().unwrap()).unwrap();
    assert_eq!(
        cbrrel(&["corpus", "check", s(&clean)]).status.code(),
        Some(0)
    );
}

#[test]
fn eval_edge_cases() {
    let dir = tempfile::tempdir().unwrap();
    let gold = repo().join("fixtures/annotated.jsonl");
    // Empty prediction: zero everywhere, every gold triple a false negative.
    let empty = dir.path().join("empty.jsonl");
    std::fs::write(&empty, "").unwrap();
    let o = cbrrel(&[
        "eval",
        "--gold",
        s(&gold),
        "--pred",
        s(&empty),
        "--format",
        "json",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let v = json(&o);
    assert_eq!(
        (
            v["precision"].as_f64(),
            v["recall"].as_f64(),
            v["f1"].as_f64()
        ),
        (Some(0.0), Some(0.0), Some(0.0))
    );
    assert!(v["fn"].as_u64().unwrap() > 0);
    // Duplicated predictions count once.
    let text = std::fs::read_to_string(&gold).unwrap();
    let first = text.lines().next().unwrap();
    let v0: serde_json::Value = serde_json::from_str(first).unwrap();
    let mut dup = v0.clone();
    let rels = dup["relations"].as_array().unwrap().clone();
    let mut doubled = rels.clone();
    for (i, r) in rels.iter().enumerate() {
        let mut r = r.clone();
        r["id"] = serde_json::json!(100_000 + i);
        doubled.push(r);
    }
    dup["relations"] = serde_json::Value::Array(doubled);
    let dup_path = dir.path().join("dup.jsonl");
    std::fs::write(&dup_path, format!("{dup}\n")).unwrap();
    let o = cbrrel(&[
        "eval",
        "--gold",
        s(&gold),
        "--pred",
        s(&dup_path),
        "--format",
        "json",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let v = json(&o);
    assert_eq!(v["precision"], 1.0);
    assert_eq!(v["fp"], 0);
    // A prediction for an id the gold file does not have is an error.
    let mut stranger = v0.clone();
    stranger["id"] = serde_json::json!(999_999_999u64);
    let unk = dir.path().join("unknown.jsonl");
    std::fs::write(&unk, format!("{stranger}\n")).unwrap();
    let o = cbrrel(&["eval", "--gold", s(&gold), "--pred", s(&unk)]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("999999999"), "{}", stderr(&o));
}

/// pipeline/comma_lists.py (BENCHMARKS.md, "Vessel lists written with commas") writes a corpus
/// whose `；` are `，`, one character for one: every other field as read, every annotation's
/// text the same, and `cbrrel corpus check` finds nothing new in it.
#[test]
fn comma_lists_rewrites_the_lists_and_keeps_every_annotation() {
    let dir = tempfile::tempdir().unwrap();
    let input = repo().join("fixtures/annotated.jsonl");
    let out = dir.path().join("commas.jsonl");
    let o = std::process::Command::new("python3")
        .arg(repo().join("pipeline/comma_lists.py"))
        .args([&input, &out])
        .output()
        .expect("python3 runs");
    assert!(o.status.success(), "{}", stderr(&o));
    let read = |p: &std::path::Path| -> Vec<serde_json::Value> {
        std::fs::read_to_string(p)
            .unwrap()
            .lines()
            .filter(|l| !l.trim().is_empty())
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    };
    let (before, after) = (read(&input), read(&out));
    assert_eq!(before.len(), after.len());
    let changed = before
        .iter()
        .filter(|r| r["text"].as_str().unwrap().contains('；'))
        .count();
    assert!(changed > 0, "the fixtures hold lists with ；");
    assert_eq!(
        stdout(&o).trim(),
        format!("{} records, {changed} with ； written as ，", before.len())
    );
    for (a, b) in before.iter().zip(&after) {
        let (ta, tb) = (a["text"].as_str().unwrap(), b["text"].as_str().unwrap());
        assert_eq!(tb, ta.replace('；', "，"));
        assert_eq!(a["entities"], b["entities"]);
        assert_eq!(a["relations"], b["relations"]);
        let chars: Vec<char> = tb.chars().collect();
        for e in a["entities"].as_array().unwrap() {
            let (s, t) = (
                e["start_offset"].as_u64().unwrap() as usize,
                e["end_offset"].as_u64().unwrap() as usize,
            );
            let orig: String = ta.chars().skip(s).take(t - s).collect();
            let now: String = chars[s..t].iter().collect();
            assert_eq!(now, orig.replace('；', "，"), "entity {e}");
        }
    }
    let check = cbrrel(&["corpus", "check", s(&out)]);
    let base = cbrrel(&["corpus", "check", s(&input)]);
    assert_eq!(
        check.status.success(),
        base.status.success(),
        "{}",
        stderr(&check)
    );
}

/// pipeline/cv_by_order.py (BENCHMARKS.md, "Two phases of annotation") on a hand-made
/// cross-validation folder: four synthetic reports, two folds; the predictions differ from the
/// gold only in whether one treatment's span holds a leading affix. As written that costs the
/// first fold two triples; accepted both ways, every fold scores 100; the affix counts by
/// block of the file say where each way sits. A malformed convention is refused.
#[test]
fn cv_by_order_scores_by_block_and_accepts_a_convention_both_ways() {
    let dir = tempfile::tempdir().unwrap();
    let cv = dir.path().join("cv");
    // Report i: a vessel, then a dilation written "AFFIX + pressure + action".
    let report = |id: u64, with_affix: bool| {
        let text = "回旋支近段先远后近以9atm扩张2次。";
        let tm_start = if with_affix { 5 } else { 9 };
        serde_json::json!({
            "id": id, "text": text,
            "entities": [
                {"id": 1, "label": "身体部位", "start_offset": 0, "end_offset": 5},
                {"id": 2, "label": "治疗方式", "start_offset": tm_start, "end_offset": 18},
            ],
            "relations": [{"id": 3, "from_id": 1, "to_id": 2, "type": "身体部位_治疗方式"}],
        })
    };
    // The gold: the first two reports (the first block of the file) hold the affix, the last
    // two leave it outside; the model always leaves it outside.
    let gold: Vec<_> = (0..4).map(|i| report(100 + i, i < 2)).collect();
    let lines = |v: &[serde_json::Value]| v.iter().map(|r| format!("{r}\n")).collect::<String>();
    let corpus = dir.path().join("corpus.jsonl");
    std::fs::write(&corpus, lines(&gold)).unwrap();
    for fold in 0..2usize {
        let d = cv.join(format!("fold-{fold}"));
        std::fs::create_dir_all(&d).unwrap();
        // Fold 0 tests reports 0 and 2, fold 1 reports 1 and 3: each fold has one of each way.
        let test = [gold[fold].clone(), gold[fold + 2].clone()];
        let pred = [
            report(100 + fold as u64, false),
            report(102 + fold as u64, false),
        ];
        std::fs::write(d.join("test.jsonl"), lines(&test)).unwrap();
        std::fs::write(d.join("test.pred.jsonl"), lines(&pred)).unwrap();
        // A fold is finished once `cbrrel cv` has scored it; the script reads only those.
        std::fs::write(d.join("scores.json"), "{}").unwrap();
    }
    std::fs::write(
        cv.join("cv.json"),
        serde_json::json!({"source": corpus}).to_string(),
    )
    .unwrap();
    let run = |args: &[&str]| {
        std::process::Command::new("python3")
            .arg(repo().join("pipeline/cv_by_order.py"))
            .arg(&cv)
            .args(args)
            .output()
            .expect("python3 runs")
    };
    let o = run(&["--blocks", "2", "--both-ways", "Tm:start:先远后近"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o);
    // Each fold: one of its two gold triples missed, one wrong prediction: P = R = F1 = 50.
    assert!(
        out.contains("| as written | 50.00, 50.00 | 50.00 ± 0.00 |"),
        "{out}"
    );
    assert!(
        out.contains("| both ways: Tm:start:先远后近 | 100.00, 100.00 | 100.00 ± 0.00 |"),
        "{out}"
    );
    // By block: the first two reports lose their triple as written, the last two score 100.
    assert!(
        out.contains("| 0–1 | 2 | 2 | 0.00 / 0.00 / **0.00** | 100.00 / 100.00 / **100.00** |"),
        "{out}"
    );
    assert!(
        out.contains(
            "| 2–3 | 2 | 2 | 100.00 / 100.00 / **100.00** | 100.00 / 100.00 / **100.00** |"
        ),
        "{out}"
    );
    assert!(
        out.contains("| 0–1 | 2 | 0 |"),
        "the affix inside in block 0: {out}"
    );
    assert!(
        out.contains("| 2–3 | 0 | 2 |"),
        "the affix outside in block 1: {out}"
    );
    // More blocks than reports: a block per report, none empty.
    let o = run(&["--blocks", "9"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stdout(&o).contains("4 blocks of 1 in file order"),
        "{}",
        stdout(&o)
    );
    assert!(stdout(&o).contains("| 3–3 | 1 | 1 |"), "{}", stdout(&o));
    let bad = run(&["--both-ways", "Xx:start:先远后近"]);
    assert_eq!(bad.status.code(), Some(2), "{}", stderr(&bad));
    assert!(stderr(&bad).contains("TYPE:SIDE:AFFIX"), "{}", stderr(&bad));
}
