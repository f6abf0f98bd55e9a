//! The prepared GPU check (issue 11 §5) on the CPU: `pipeline/gpu_check.sh` is meant for one
//! call on a lent GPU machine, where a failing step costs scarce device time, so its `--device
//! cpu` path runs here with tiny sizes — every step, the summary it writes, and the FLOP count
//! its utilisation figure rests on.

use std::path::Path;
use std::process::Command;

use crate::util::{bin, cbrrel, repo, s, stderr};

fn read_json(path: &Path) -> serde_json::Value {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}: {text}", path.display()))
}

#[test]
fn the_gpu_check_runs_every_step_on_the_cpu() {
    let dir = tempfile::tempdir().unwrap();
    let pack = dir.path().join("pack");
    let out = dir.path().join("out");
    // The pack as pipeline/gpu_pack.sh lays it out, from the project's fixtures: a split by
    // report, xz-compressed, and (instead of m3e-small, which CI need not have) a char
    // vocabulary for a random encoder.
    let split = pack.join("split");
    let vocab = pack.join("vocab.txt");
    for args in [
        vec![
            "corpus",
            "split",
            "fixtures/annotated.jsonl",
            "--by",
            "report",
        ]
        .into_iter()
        .chain(["--ratios", "8:1:1", "--seed", "42", "--out", s(&split)])
        .collect::<Vec<_>>(),
        vec![
            "corpus",
            "vocab",
            "fixtures/annotated.jsonl",
            "--out",
            s(&vocab),
        ],
    ] {
        let o = cbrrel(&args);
        assert!(o.status.success(), "{args:?}: {}", stderr(&o));
    }
    // Compressed as the pack script leaves them.
    for part in ["train", "dev", "test"] {
        let st = Command::new("xz")
            .arg(split.join(format!("{part}.jsonl")))
            .status()
            .expect("xz");
        assert!(st.success());
    }
    let (hidden, layers, inter) = (32usize, 2usize, 64usize);
    let shape = format!("hidden={hidden},layers={layers},heads=2,intermediate={inter}");
    let o = Command::new("bash")
        .arg("pipeline/gpu_check.sh")
        .current_dir(repo())
        .env("DEVICE", "cpu")
        .env("PACK", &pack)
        .env("OUT", &out)
        .env("BIN", bin())
        .env("PYTHON", repo().join(".venv/bin/python"))
        .env("GPU_CHECK_REPORTS", "20")
        .env("GPU_CHECK_ENCODER_CONFIG", "hidden=32,layers=1,heads=2")
        .env("GPU_CHECK_TOKENIZER", &vocab)
        .env("GPU_CHECK_SHAPE", &shape)
        .env("GPU_CHECK_BIG_TRAIN", "8")
        .env("GPU_CHECK_BATCHES", "4 8")
        .env("OMP_NUM_THREADS", "1")
        .output()
        .expect("bash");
    let log = std::fs::read_to_string(out.join("log.txt")).unwrap_or_default();
    assert!(
        o.status.success(),
        "gpu_check.sh failed:\n{log}\n{}\n{}",
        String::from_utf8_lossy(&o.stdout),
        stderr(&o)
    );

    let summary = read_json(&out.join("summary.json"));
    // 1. One epoch, scored on dev.
    let epochs = summary["train_m3e"]["epochs"].as_array().unwrap();
    assert_eq!(epochs.len(), 1, "{summary}");
    assert!(epochs[0]["dev_f1"].is_number() && epochs[0]["train_loss"].as_f64().unwrap() > 0.0);
    // 2. The extraction of the generated reports, with its rate.
    let x = &summary["extract"];
    assert_eq!(x["reports"], 20, "{x}");
    assert!(
        x["sentences"].as_u64().unwrap() > 20 && x["sentences_per_second"].as_f64().unwrap() > 0.0
    );
    // 3. A rate and a utilisation per batch size.
    let rows = summary["big"]["eval"].as_array().unwrap();
    assert_eq!(
        rows.iter()
            .map(|r| r["batch"].as_u64().unwrap())
            .collect::<Vec<_>>(),
        [4, 8]
    );
    for r in rows {
        assert!(r["segments_per_second"].as_f64().unwrap() > 0.0, "{r}");
        assert!(r["mfu"].as_f64().unwrap() > 0.0, "{r}");
    }
    // The encoder's FLOPs are the textbook count: per layer the four H×H projections and the
    // two feed-forward maps on every token (2·L·(4H² + 2HI)), and the two L×L attention
    // products (2·2·L²·H); embeddings, softmax and norms are not matrix products.
    let flops = &summary["big"]["flops"];
    let l = flops["len"].as_u64().unwrap() as usize;
    let expected =
        layers * (2 * l * (4 * hidden * hidden + 2 * hidden * inter) + 4 * l * l * hidden);
    assert_eq!(
        flops["stages"]["encoder"].as_u64().unwrap() as usize,
        expected,
        "{flops}"
    );
    // The BiLSTM by its formula: per token, direction and gate, input and recurrent products.
    let d = hidden / 2;
    assert_eq!(
        flops["stages"]["bilstm"].as_u64().unwrap() as usize,
        2 * 2 * 4 * d * (hidden + d) * l,
        "{flops}"
    );
    let total: u64 = flops["stages"]
        .as_object()
        .unwrap()
        .values()
        .map(|v| v.as_u64().unwrap())
        .sum();
    assert_eq!(flops["flops_per_segment"].as_u64().unwrap(), total);
    let md = std::fs::read_to_string(out.join("summary.md")).unwrap();
    assert!(
        md.contains("| batch | segments | segments/s | MFU |"),
        "{md}"
    );
    assert!(!md.contains("Failed steps"), "{md}");
}
