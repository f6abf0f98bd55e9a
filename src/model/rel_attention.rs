//! Relative-position multi-head attention (§3.4, eqs. 10–11; Shaw, Uszkoreit & Vaswani 2018,
//! "Self-Attention with Relative Position Representations", https://arxiv.org/abs/1803.02155).
//!
//! e_ij = x_i W^Q (x_j W^K + a^K_ij)ᵀ / √d_z                      (eq. 10)
//! z_i  = Σ_j softmax_j(e_ij) (x_j W^V + a^V_ij)                    (eq. 11)
//! with a^K_ij = w^K_clip(j−i, k), a^V_ij = w^V_clip(j−i, k) learned per clipped distance and
//! shared by the heads (as in Shaw et al.). Around it: output projection, dropout, residual
//! and LayerNorm, as DESIGN.md reads the paper.

use tch::nn::{self, Module};
use tch::{Kind, Tensor};

#[derive(Debug)]
pub struct RelPosAttention {
    query: nn::Linear,
    key: nn::Linear,
    value: nn::Linear,
    output: nn::Linear,
    /// w^K: [2k + 1, d_head].
    pub rel_key: Tensor,
    /// w^V: [2k + 1, d_head].
    pub rel_value: Tensor,
    layer_norm: nn::LayerNorm,
    heads: i64,
    clip: i64,
    dropout: f64,
}

/// Clipped relative distances shifted to indices: idx[i][j] = clip(j − i, −k, k) + k, [L, L].
pub fn relative_index(seq_len: i64, clip: i64, device: tch::Device) -> Tensor {
    let pos = Tensor::arange(seq_len, (Kind::Int64, device));
    let dist = pos.unsqueeze(0) - pos.unsqueeze(1); // [i, j] = j − i
    dist.clamp(-clip, clip) + clip
}

impl RelPosAttention {
    pub fn new(p: nn::Path, hidden: i64, heads: i64, clip: i64, dropout: f64) -> RelPosAttention {
        let head_dim = hidden / heads;
        let init = nn::Init::Randn {
            mean: 0.,
            stdev: 0.02,
        };
        RelPosAttention {
            query: nn::linear(&p / "query", hidden, hidden, Default::default()),
            key: nn::linear(&p / "key", hidden, hidden, Default::default()),
            value: nn::linear(&p / "value", hidden, hidden, Default::default()),
            output: nn::linear(&p / "output", hidden, hidden, Default::default()),
            rel_key: p.var("rel_key", &[2 * clip + 1, head_dim], init),
            rel_value: p.var("rel_value", &[2 * clip + 1, head_dim], init),
            layer_norm: nn::layer_norm(&p / "LayerNorm", vec![hidden], Default::default()),
            heads,
            clip,
            dropout,
        }
    }

    /// `xs` [B, L, H], `mask` [B, L] (1 = token) → [B, L, H].
    pub fn forward_t(&self, xs: &Tensor, mask: &Tensor, train: bool) -> Tensor {
        let (b_sz, seq_len, hidden) = xs.size3().expect("[B, L, H]");
        let head_dim = hidden / self.heads;
        let split = |t: Tensor| {
            t.view([b_sz, seq_len, self.heads, head_dim])
                .transpose(1, 2)
        }; // [B, h, L, d]
        let q = split(self.query.forward(xs));
        let k = split(self.key.forward(xs));
        let v = split(self.value.forward(xs));
        let index = relative_index(seq_len, self.clip, xs.device()).flatten(0, 1);
        let a_k = self
            .rel_key
            .index_select(0, &index)
            .view([seq_len, seq_len, head_dim])
            .to_kind(q.kind());
        let a_v = self
            .rel_value
            .index_select(0, &index)
            .view([seq_len, seq_len, head_dim])
            .to_kind(q.kind());
        // eq. (10): content term q_i·k_j plus position term q_i·a^K_ij.
        let scores = (q.matmul(&k.transpose(-1, -2))
            + Tensor::einsum("bhid,ijd->bhij", &[&q, &a_k], None::<i64>))
            / (head_dim as f64).sqrt();
        let key_mask = mask.to_kind(scores.kind());
        let key_bias: Tensor = (key_mask.ones_like() - key_mask) * -10_000.0;
        let key_bias = key_bias.view([b_sz, 1, 1, seq_len]);
        // Softmax in f32 (issue 11 §1: f16 under CUDA autocast), back to q's dtype after.
        let probs = (scores + key_bias)
            .softmax(-1, Kind::Float)
            .to_kind(q.kind())
            .dropout(self.dropout, train);
        // eq. (11): values plus a^V_ij.
        let context =
            probs.matmul(&v) + Tensor::einsum("bhij,ijd->bhid", &[&probs, &a_v], None::<i64>);
        let context = context
            .transpose(1, 2)
            .contiguous()
            .view([b_sz, seq_len, hidden]);
        self.layer_norm
            .forward(&(self.output.forward(&context).dropout(self.dropout, train) + xs))
    }

    /// eqs. 10–11 computed one (i, j) pair at a time: the reference the tests compare with.
    #[cfg(test)]
    pub fn naive_forward(&self, xs: &Tensor, mask: &Tensor) -> Tensor {
        let (b_sz, seq_len, hidden) = xs.size3().unwrap();
        let d = hidden / self.heads;
        let q = self.query.forward(xs);
        let k = self.key.forward(xs);
        let v = self.value.forward(xs);
        let out = Tensor::zeros([b_sz, seq_len, hidden], (Kind::Float, xs.device()));
        for b in 0..b_sz {
            for h in 0..self.heads {
                let cols = |t: &Tensor, i: i64| t.get(b).get(i).narrow(0, h * d, d);
                for i in 0..seq_len {
                    let mut e = Vec::new();
                    for j in 0..seq_len {
                        let rel = (j - i).clamp(-self.clip, self.clip) + self.clip;
                        let kij = cols(&k, j) + self.rel_key.get(rel);
                        let mut s = (cols(&q, i) * kij).sum(Kind::Float).double_value(&[])
                            / (d as f64).sqrt();
                        if mask.get(b).get(j).int64_value(&[]) == 0 {
                            s -= 10_000.0;
                        }
                        e.push(s);
                    }
                    let max = e.iter().cloned().fold(f64::MIN, f64::max);
                    let z: f64 = e.iter().map(|x| (x - max).exp()).sum();
                    let mut zi = Tensor::zeros([d], (Kind::Float, xs.device()));
                    for j in 0..seq_len {
                        let rel = (j - i).clamp(-self.clip, self.clip) + self.clip;
                        let alpha = (e[j as usize] - max).exp() / z;
                        zi += (cols(&v, j) + self.rel_value.get(rel)) * alpha;
                    }
                    out.get(b).get(i).narrow(0, h * d, d).copy_(&zi);
                }
            }
        }
        self.layer_norm.forward(&(self.output.forward(&out) + xs))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_a_naive_loop_over_i_j() {
        tch::manual_seed(7);
        let vs = nn::VarStore::new(tch::Device::Cpu);
        // clip 2 < L − 1, so clipping is exercised.
        let att = RelPosAttention::new(vs.root(), 8, 2, 2, 0.0);
        let xs = Tensor::randn([2, 6, 8], (Kind::Float, tch::Device::Cpu));
        let mask = Tensor::from_slice(&[1i64, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0]).view([2, 6]);
        let fast = att.forward_t(&xs, &mask, false);
        let slow = tch::no_grad(|| att.naive_forward(&xs, &mask));
        let diff = (fast - slow).abs().max().double_value(&[]);
        assert!(diff < 1e-5, "max difference {diff}");
    }

    #[test]
    fn relative_index_is_clipped() {
        let idx = relative_index(4, 1, tch::Device::Cpu);
        let v: Vec<i64> = Vec::try_from(idx.flatten(0, -1)).unwrap();
        assert_eq!(v, vec![1, 2, 2, 2, 0, 1, 2, 2, 0, 0, 1, 2, 0, 0, 0, 1]);
    }
}
