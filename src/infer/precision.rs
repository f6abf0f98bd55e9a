//! The dtype a loaded model predicts in (issue 11 §4): `f32`, what training runs in, or
//! `bf16` on the CPU — weights and activations in bfloat16, so that libtorch's matrix
//! products and convolutions take oneDNN's bf16 kernels, which on a CPU with native bf16 dot
//! products (AVX-512 BF16, AMX) do twice the multiply-adds per instruction of f32. Softmax
//! stays in f32 (encoder.rs, rel_attention.rs) and the probabilities are read in f32
//! (predict.rs), so only the weights' and activations' rounding changes: BENCHMARKS.md has
//! what it does to the scores on the folds and to the speed.
//!
//! On CUDA the setting changes nothing: prediction there already runs under libtorch's
//! autocast (README, Dtypes). Training is never affected: the trainer's model is its own.

use serde::{Deserialize, Serialize};
use tch::nn::VarStore;

#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize, clap::ValueEnum,
)]
#[serde(rename_all = "lowercase")]
pub enum Precision {
    /// f32 weights and activations, as trained.
    #[default]
    F32,
    /// bf16 weights and activations on the CPU (f32 softmax and probabilities).
    Bf16,
}

impl Precision {
    /// Put `vs`'s floating-point variables, now in `current`, in this precision.
    pub fn apply(self, vs: &mut VarStore, current: Precision) {
        match (current, self) {
            (Precision::F32, Precision::Bf16) => vs.bfloat16(),
            (Precision::Bf16, Precision::F32) => vs.float(),
            _ => {}
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Precision::F32 => "f32",
            Precision::Bf16 => "bf16",
        }
    }
}

/// Whether this CPU does bf16 dot products in hardware; without them libtorch emulates bf16
/// and `bf16` is slower than `f32` (`cbrrel info` says which).
pub fn cpu_has_native_bf16() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        // CPUs with AMX have AVX-512 BF16 as well.
        std::arch::is_x86_feature_detected!("avx512bf16")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}
