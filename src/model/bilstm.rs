//! BiLSTM layer (§3.3, eqs. 4–9): two LSTMs of H/2 units, one reading left to right and one
//! right to left, concatenated back to H (Table 3: BiLSTM hidden = BERT hidden).
//!
//! The backward LSTM must start at each sequence's *last real token*, not at the padding: we
//! reverse every sequence within its own length (a gather), run a forward LSTM, and reverse
//! its output back. A sequence's output is then the same whatever the batch's padding, which
//! `nn::LSTM` with `bidirectional: true` on a padded batch would not give.

use tch::nn::{self, RNN};
use tch::{Kind, Tensor};

#[derive(Debug)]
pub struct BiLstm {
    forward: nn::LSTM,
    backward: nn::LSTM,
    dropout: f64,
}

/// Index [B, L] that reverses each row within its length: t ↦ len − 1 − t for t < len.
pub fn reverse_index(lengths: &Tensor, seq_len: i64) -> Tensor {
    let device = lengths.device();
    let t = Tensor::arange(seq_len, (Kind::Int64, device)).unsqueeze(0);
    let len = lengths.to_kind(Kind::Int64).unsqueeze(1);
    let reversed = &len - 1 - &t;
    reversed.where_self(&t.lt_tensor(&len), &t.expand_as(&reversed))
}

impl BiLstm {
    pub fn new(p: nn::Path, hidden: i64, dropout: f64) -> BiLstm {
        let cfg = nn::RNNConfig {
            batch_first: true,
            ..Default::default()
        };
        BiLstm {
            forward: nn::lstm(&p / "forward", hidden, hidden / 2, cfg),
            backward: nn::lstm(&p / "backward", hidden, hidden / 2, cfg),
            dropout,
        }
    }

    /// `xs` [B, L, H], `mask` [B, L] → [B, L, H]: h_t = [→h_t ; ←h_t] (eq. 9).
    pub fn forward_t(&self, xs: &Tensor, mask: &Tensor, train: bool) -> Tensor {
        let (_, seq_len, hidden) = xs.size3().expect("[B, L, H]");
        let lengths = mask.sum_dim_intlist(1, false, Kind::Int64);
        let index = reverse_index(&lengths, seq_len).unsqueeze(-1);
        let flip = |t: &Tensor| {
            let width = t.size()[2];
            t.gather(1, &index.expand([-1, -1, width], false), false)
        };
        let (fwd, _) = self.forward.seq(xs);
        let (bwd_rev, _) = self.backward.seq(&flip(xs));
        let bwd = flip(&bwd_rev);
        let out = Tensor::cat(&[fwd, bwd], 2);
        debug_assert_eq!(out.size()[2], hidden);
        (out * mask.unsqueeze(-1).to_kind(xs.kind())).dropout(self.dropout, train)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reverse_index_reverses_within_length() {
        let idx = reverse_index(&Tensor::from_slice(&[3i64, 5]), 5);
        let v: Vec<i64> = Vec::try_from(idx.flatten(0, -1)).unwrap();
        assert_eq!(v, vec![2, 1, 0, 3, 4, 4, 3, 2, 1, 0]);
    }

    #[test]
    fn output_does_not_depend_on_padding() {
        tch::manual_seed(0);
        let vs = nn::VarStore::new(tch::Device::Cpu);
        let lstm = BiLstm::new(vs.root(), 6, 0.0);
        let x = Tensor::randn([1, 4, 6], (Kind::Float, tch::Device::Cpu));
        let padded = Tensor::cat(
            &[
                x.shallow_clone(),
                Tensor::randn([1, 3, 6], (Kind::Float, tch::Device::Cpu)),
            ],
            1,
        );
        let a = lstm.forward_t(
            &x,
            &Tensor::ones([1, 4], (Kind::Int64, tch::Device::Cpu)),
            false,
        );
        let mask = Tensor::from_slice(&[1i64, 1, 1, 1, 0, 0, 0]).unsqueeze(0);
        let b = lstm.forward_t(&padded, &mask, false).narrow(1, 0, 4);
        assert!(a.allclose(&b, 1e-6, 1e-6, false));
    }
}
