//! Golden test of the encoder: the Rust `BertModel`, loaded from a HuggingFace folder the way
//! `cbrrel train --encoder <HF folder>` loads one (`checkpoint::hf_config` +
//! `checkpoint::load_hf_encoder`), must give the last hidden states transformers' `BertModel`
//! gives for the same weights and inputs. The folder `tests/golden/encoder/` and its reference
//! outputs are made by `tests/golden/make_encoder_golden.py` (its header says how to rerun it).
//!
//! No lock on libtorch's RNG is needed: `BertModel::new` draws its initial weights from it, but
//! every variable is then overwritten from the file, and no unit test depends on the stream.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use tch::nn::VarStore;
use tch::{Device, Kind, Tensor};

use super::checkpoint;
use super::config::HiddenAct;
use super::encoder::BertModel;

/// Largest absolute difference allowed between Rust and HF states (float32 on CPU).
const TOLERANCE: f64 = 1e-5;

fn golden_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden/encoder")
}

fn golden_tensors() -> HashMap<String, Tensor> {
    checkpoint::read_tensors(&golden_dir().join("golden.safetensors")).expect("golden outputs")
}

fn max_abs(a: &Tensor) -> f64 {
    a.abs().max().double_value(&[])
}

/// The largest |rust − hf| over the positions where `mask` is 1.
fn max_diff_at_tokens(rust: &Tensor, hf: &Tensor, mask: &Tensor) -> f64 {
    assert_eq!(rust.size(), hf.size(), "shapes of Rust and HF states");
    let keep = mask.to_kind(Kind::Bool).unsqueeze(-1);
    max_abs(&(rust.masked_select(&keep) - hf.masked_select(&keep)))
}

/// The encoder of the golden folder, loaded as training loads a pretrained one.
fn load_encoder(dir: &Path) -> (VarStore, BertModel) {
    let cfg = checkpoint::hf_config(dir).expect("config.json");
    let mut vs = VarStore::new(Device::Cpu);
    let model = BertModel::new(vs.root() / "bert", &cfg);
    let loaded = checkpoint::load_hf_encoder(&mut vs, dir).expect("model.safetensors");
    assert_eq!(
        loaded,
        vs.variables().len(),
        "every encoder variable filled from the file"
    );
    (vs, model)
}

#[test]
fn encoder_matches_huggingface_bert() {
    let dir = golden_dir();
    let cfg = checkpoint::hf_config(&dir).expect("config.json");
    assert_eq!(
        (
            cfg.vocab_size,
            cfg.hidden_size,
            cfg.num_hidden_layers,
            cfg.num_attention_heads,
            cfg.intermediate_size,
            cfg.max_position_embeddings,
            cfg.hidden_act,
        ),
        (100, 32, 2, 4, 64, 64, HiddenAct::Gelu),
        "the golden config.json as the script writes it"
    );
    let (_vs, model) = load_encoder(&dir);
    let g = golden_tensors();
    let ids = &g["padded.input_ids"];
    let mask = &g["padded.attention_mask"];
    let hf = &g["padded.last_hidden_state"];
    let full_ids = &g["unpadded.input_ids"];
    let hf_full = &g["unpadded.last_hidden_state"];

    // The reference cannot make the comparison vacuous: the padded batch really has padding,
    // and HF's states are far from zero and differ between sequences and positions.
    let lengths: Vec<i64> = Vec::try_from(mask.sum_dim_intlist(1, false, Kind::Int64)).unwrap();
    assert_eq!(lengths, vec![11, 7, 3]);
    assert_eq!(full_ids.size(), vec![1, cfg.max_position_embeddings]);
    assert!(
        max_abs(hf) > 0.5 && max_abs(hf_full) > 0.5,
        "HF states are ~0"
    );
    assert!(
        max_abs(&(hf.get(0).get(0) - hf.get(1).get(0))) > 0.1,
        "HF states are the same for different inputs"
    );
    assert!(
        max_abs(&(hf.get(0).get(0) - hf.get(0).get(1))) > 0.1,
        "HF states are the same at different positions"
    );

    let (padded, full) = tch::no_grad(|| {
        (
            model.forward_t(ids, mask, false),
            model.forward_t(full_ids, &full_ids.ones_like(), false),
        )
    });
    let diff_padded = max_diff_at_tokens(&padded, hf, mask);
    let diff_full = max_abs(&(&full - hf_full));
    eprintln!("max |rust - hf|: padded batch {diff_padded:.3e}, unpadded {diff_full:.3e}");
    assert!(
        diff_padded <= TOLERANCE,
        "padded batch: max |rust - hf| = {diff_padded:e} > {TOLERANCE:e}"
    );
    assert!(
        diff_full <= TOLERANCE,
        "unpadded sequence: max |rust - hf| = {diff_full:e} > {TOLERANCE:e}"
    );

    // Padding is masked: the 7-token sequence alone, without padding, gives the same states.
    let alone_ids = ids.get(1).narrow(0, 0, 7).unsqueeze(0);
    let alone = tch::no_grad(|| model.forward_t(&alone_ids, &alone_ids.ones_like(), false));
    let diff_alone = max_abs(&(alone.get(0) - hf.get(1).narrow(0, 0, 7)));
    assert!(
        diff_alone <= TOLERANCE,
        "sequence without padding: max |rust - hf| = {diff_alone:e}"
    );
}

/// The comparison can fail: the same encoder without the file's weights (its random
/// initialisation) is far from HF's states.
#[test]
fn golden_comparison_tells_another_encoder_apart() {
    let dir = golden_dir();
    let cfg = checkpoint::hf_config(&dir).expect("config.json");
    let vs = VarStore::new(Device::Cpu);
    let model = BertModel::new(vs.root() / "bert", &cfg);
    let g = golden_tensors();
    let mask = &g["padded.attention_mask"];
    let states = tch::no_grad(|| model.forward_t(&g["padded.input_ids"], mask, false));
    let diff = max_diff_at_tokens(&states, &g["padded.last_hidden_state"], mask);
    assert!(
        diff > 100.0 * TOLERANCE,
        "an unloaded encoder is within {diff:e}"
    );
}
