//! Golden test against PyTorch (issue 11 §4): `pipeline/torch_reference.py` builds CBRRel in
//! plain PyTorch from a run directory's config.json and weights; on the same batches of
//! fixture segments its subject and object probabilities must equal the Rust model's to 1e-4.
//! The trained tiny model of tests/model.rs (every module on), and untrained variants that
//! take the other code paths (CasRel, CNN fusion, no object hidden layer, no BiLSTM).

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use cbrrel::infer::batch::{make_batch, write_batches, Batch};
use cbrrel::infer::LoadedModel;
use cbrrel::model::{checkpoint, Cbrrel, CbrrelConfig, Fusion};
use cbrrel::text::label_records;
use cbrrel::train::torch_reference::TorchReference;
use tch::nn::VarStore;
use tch::{Device, Kind, Tensor};

use crate::model::trained;

/// Largest |Rust − PyTorch| allowed on a probability (float32 on CPU).
const TOLERANCE: f64 = 1e-4;

const NAMES: [&str; 4] = ["subject_start", "subject_end", "object_start", "object_end"];

/// The four probability tensors of a batch as the Rust model computes them.
fn rust_probs(model: &Cbrrel, batch: &Batch) -> [Tensor; 4] {
    tch::no_grad(|| {
        let encoded = model.encode(&batch.input_ids, &batch.mask, false);
        let objects = model.objects(&encoded, &batch.subjects, false);
        [
            encoded.subject.start.sigmoid(),
            encoded.subject.end.sigmoid(),
            objects.start.sigmoid(),
            objects.end.sigmoid(),
        ]
    })
}

/// max |a − b| over the real tokens (padding rows are whatever each side computes there).
fn diff_at_tokens(a: &Tensor, b: &Tensor, mask: &Tensor) -> f64 {
    assert_eq!(a.size(), b.size(), "shapes of Rust and PyTorch tensors");
    let mut keep = mask.to_kind(Kind::Bool);
    while keep.dim() < a.dim() {
        keep = keep.unsqueeze(-1);
    }
    (a.masked_select(&keep) - b.masked_select(&keep))
        .abs()
        .max()
        .double_value(&[])
}

/// The largest difference per tensor name over `batches`, and the Rust probabilities.
fn compare(
    model: &Cbrrel,
    batches: &[Batch],
    reference: &HashMap<String, Tensor>,
) -> (HashMap<&'static str, f64>, Vec<[Tensor; 4]>) {
    let mut worst: HashMap<&'static str, f64> = HashMap::new();
    let mut all = Vec::new();
    for (i, b) in batches.iter().enumerate() {
        let rust = rust_probs(model, b);
        let masks = [&b.mask, &b.mask, &b.object_mask, &b.object_mask];
        for ((name, r), m) in NAMES.iter().zip(&rust).zip(masks) {
            let py = reference
                .get(&format!("b{i}.{name}"))
                .unwrap_or_else(|| panic!("the reference wrote no b{i}.{name}"));
            let d = diff_at_tokens(r, py, m);
            let w = worst.entry(name).or_insert(0.0);
            *w = w.max(d);
        }
        all.push(rust);
    }
    (worst, all)
}

fn scratch(name: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join("torch-reference")
        .join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// Batches of the trained model's fixture segments: all of them padded together (real
/// padding), and the first segment with a gold subject alone.
fn fixture_batches(loaded: &LoadedModel) -> Vec<Batch> {
    let t = trained();
    let (examples, _) = label_records(
        &t.records,
        &loaded.tokenizer,
        &loaded.model.config.relations,
        &loaded.config.segment,
    )
    .unwrap();
    let n_rel = loaded.model.config.relations.len();
    let all: Vec<usize> = (0..examples.len()).collect();
    let first = examples
        .iter()
        .position(|e| !e.subjects.is_empty())
        .expect("a segment with a subject");
    let batches = vec![
        make_batch(&examples, &all, n_rel, Device::Cpu),
        make_batch(&examples, &[first], n_rel, Device::Cpu),
    ];
    let lengths: Vec<i64> =
        Vec::try_from(batches[0].mask.sum_dim_intlist(1, false, Kind::Int64)).unwrap();
    assert!(
        lengths.iter().min() < lengths.iter().max(),
        "the batch has padding: {lengths:?}"
    );
    assert!(batches.iter().all(|b| !b.subjects.is_empty()));
    batches
}

#[test]
fn the_trained_model_gives_the_pytorch_references_probabilities() {
    let t = trained();
    let _rng = crate::util::torch_rng();
    let loaded = LoadedModel::load(&t.dir, Device::Cpu).unwrap();
    let batches = fixture_batches(&loaded);
    let dir = scratch("trained");
    let file = dir.join("batches.safetensors");
    write_batches(&batches, &file).unwrap();
    let reference = TorchReference::in_repo(repo())
        .probs(&t.dir, &file, &dir)
        .unwrap();
    let (worst, rust) = compare(&loaded.model, &batches, &reference);
    eprintln!("max |rust - pytorch| per tensor: {worst:?}");
    for (name, d) in &worst {
        assert!(*d <= TOLERANCE, "{name}: max |rust - pytorch| = {d:e}");
    }
    // Not vacuous: a trained model is confident both ways on subjects and on objects.
    for (name, p) in NAMES.iter().zip(&rust[0]) {
        let (lo, hi) = (p.min().double_value(&[]), p.max().double_value(&[]));
        assert!(lo < 0.05 && hi > 0.95, "{name} in [{lo}, {hi}]");
    }
    // And it can fail: the relative-position key table redrawn a little (N(0, 0.5) added; a
    // constant shift would change every score of a row alike, which softmax ignores) is told
    // apart.
    tch::no_grad(|| {
        let vars = loaded.vs.variables();
        let mut rel_key = vars["head.attention.rel_key"].shallow_clone();
        let noise = rel_key.randn_like() * 0.5;
        let _ = rel_key.g_add_(&noise);
    });
    let (moved, _) = compare(&loaded.model, &batches, &reference);
    assert!(
        moved.values().cloned().fold(0.0, f64::max) > 100.0 * TOLERANCE,
        "a changed model is within {moved:?}"
    );
}

/// A change of the trained model's head switches.
type HeadEdit = fn(&mut CbrrelConfig);

/// An untrained model of `head` switches, its weights spread (N(0, 0.3) added) so that the
/// probabilities are far from 0.5, saved as a run directory next to the trained one's config.
fn variant_run(name: &str, edit: HeadEdit) -> (PathBuf, VarStore, Cbrrel) {
    let t = trained();
    let dir = scratch(name);
    let mut config: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(t.dir.join("config.json")).unwrap()).unwrap();
    let mut model_config: CbrrelConfig = serde_json::from_value(config["model"].clone()).unwrap();
    edit(&mut model_config);
    config["model"] = serde_json::to_value(&model_config).unwrap();
    std::fs::write(dir.join("config.json"), config.to_string()).unwrap();
    let vs = VarStore::new(Device::Cpu);
    let model = Cbrrel::new(&vs.root(), &model_config);
    // Perturbed without the global RNG: other tests running beside this one draw from it, so
    // randn noise differed from run to run and a variant could come out nearly flat. A fixed
    // pattern (a sine over the element index, offset per variable in name order) spreads the
    // weights the same way every run.
    tch::no_grad(|| {
        let mut vars: Vec<(String, Tensor)> = vs.variables().into_iter().collect();
        vars.sort_by(|a, b| a.0.cmp(&b.0));
        for (i, (_, mut v)) in vars.into_iter().enumerate() {
            let n = v.numel() as i64;
            let noise = (Tensor::arange(n, (Kind::Double, v.device())) * 0.618_034 + i as f64)
                .sin()
                .reshape(v.size())
                .to_kind(v.kind())
                * 0.3;
            let _ = v.g_add_(&noise);
        }
    });
    checkpoint::save_weights(&vs, None, &dir.join("model.safetensors")).unwrap();
    (dir, vs, model)
}

#[test]
fn every_ablation_gives_the_pytorch_references_probabilities() {
    let t = trained();
    let _rng = crate::util::torch_rng();
    tch::manual_seed(29);
    let loaded = LoadedModel::load(&t.dir, Device::Cpu).unwrap();
    let batches = fixture_batches(&loaded);
    let variants: Vec<(&str, HeadEdit)> = vec![
        ("casrel", |c: &mut CbrrelConfig| {
            c.head.bilstm = false;
            c.head.attention = false;
            c.head.fusion = Fusion::None;
            c.head.object_hidden = 0;
        }),
        ("cnn", |c: &mut CbrrelConfig| c.head.fusion = Fusion::Cnn),
        ("object-distance", |c: &mut CbrrelConfig| {
            c.head.object_distance = 3
        }),
        ("no-bilstm-no-object-hidden", |c: &mut CbrrelConfig| {
            c.head.bilstm = false;
            c.head.object_hidden = 0;
            c.head.max_relative_position = 2;
        }),
    ];
    for (name, edit) in variants {
        let (dir, _vs, model) = variant_run(name, edit);
        let file = dir.join("batches.safetensors");
        write_batches(&batches, &file).unwrap();
        let reference = TorchReference::in_repo(repo())
            .probs(&dir, &file, &dir)
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        let (worst, rust) = compare(&model, &batches, &reference);
        eprintln!("{name}: max |rust - pytorch| per tensor: {worst:?}");
        for (tensor, d) in &worst {
            assert!(
                *d <= TOLERANCE,
                "{name} {tensor}: max |rust - pytorch| = {d:e}"
            );
        }
        let spread = rust[0][0].std(true).double_value(&[]);
        assert!(
            spread > 0.05,
            "{name}: subject probabilities all alike ({spread})"
        );
    }
}
