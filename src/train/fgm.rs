//! FGM adversarial training (§3.2; Miyato et al. 2017, "Adversarial Training Methods for
//! Semi-Supervised Text Classification"): after the normal backward pass, perturb the
//! word-embedding matrix by r = ε·g/‖g‖ (g its gradient), run a second forward/backward on the
//! perturbed embeddings (gradients add up), then put the matrix back. The matrix is restored
//! from a copy, not by subtracting r, so it is bit-for-bit what it was.
//!
//! Only the rows of the tokens the batch used are touched: an embedding's gradient is exactly 0
//! on every other row (its backward adds into zeros at the looked-up ids), so r is 0 there and
//! ‖g‖ is the norm of those rows. With a 21,128-token vocabulary and a few hundred distinct
//! tokens per batch, this saves five passes over the 43 MB matrix per step (the norm, the
//! backup, the scaled gradient, the add and the restore) for the same perturbed values.
//!
//! ε: the paper's Table 3 says 3e-5, which on a unit-normalised perturbation does nothing; we
//! read it as a typo (DESIGN.md) and make it a setting (typical: 0.5–1.0).

use tch::Tensor;

/// A perturbation in place, with what is needed to undo it exactly.
#[derive(Debug)]
pub struct Fgm {
    /// The perturbed rows (distinct token ids) and their values before the attack.
    rows: Tensor,
    backup: Tensor,
}

impl Fgm {
    /// Perturb the rows of `embedding` that `ids` (the batch's token ids, any shape) looked up,
    /// along their current gradient. Returns `None` (nothing changed) when there is no gradient
    /// or its norm is 0 or not finite.
    pub fn attack(embedding: &Tensor, ids: &Tensor, epsilon: f64) -> Option<Fgm> {
        let grad = embedding.grad();
        if !grad.defined() {
            return None;
        }
        let (rows, _) = ids
            .flatten(0, -1)
            .to_device(embedding.device())
            .internal_unique(false, false);
        let g = grad.index_select(0, &rows);
        let norm = g.norm().double_value(&[]);
        if !(norm.is_finite() && norm > 0.0) {
            return None;
        }
        let backup = embedding.detach().index_select(0, &rows);
        tch::no_grad(|| {
            let mut e = embedding.shallow_clone();
            let _ = e.index_add_(0, &rows, &(g * (epsilon / norm)));
        });
        Some(Fgm { rows, backup })
    }

    /// Put the embedding matrix back exactly as it was before `attack`.
    pub fn restore(self, embedding: &Tensor) {
        tch::no_grad(|| {
            let mut e = embedding.shallow_clone();
            let _ = e.index_copy_(0, &self.rows, &self.backup);
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tch::{nn, Kind};

    #[test]
    fn perturbs_as_the_whole_matrix_would_and_restores_bit_for_bit() {
        tch::manual_seed(1);
        let vs = nn::VarStore::new(tch::Device::Cpu);
        let emb = nn::embedding(vs.root() / "e", 11, 5, Default::default());
        let before = emb.ws.detach().copy();
        let ids = Tensor::from_slice(&[1i64, 3, 3, 7, 1, 3]).view([2, 3]);
        let loss =
            (tch::nn::Module::forward(&emb, &ids).pow_tensor_scalar(2)).sum(Kind::Float) * 0.37;
        loss.backward();
        // The textbook FGM on the whole matrix, for comparison.
        let grad = emb.ws.grad().copy();
        let dense = &before + &grad * (0.73 / grad.norm().double_value(&[]));

        let fgm = Fgm::attack(&emb.ws, &ids, 0.73).expect("gradient exists");
        let after = emb.ws.detach().copy();
        let diff = (&after - &dense).abs().max().double_value(&[]);
        assert!(
            diff < 1e-6,
            "the row-wise attack differs from the dense one by {diff}"
        );
        let moved = (&after - &before).norm().double_value(&[]);
        assert!((moved - 0.73).abs() < 1e-5, "{moved}");
        // Rows the batch did not use are not touched at all.
        for row in [0i64, 2, 4, 5, 6, 8, 9, 10] {
            assert!(after.get(row).equal(&before.get(row)), "row {row} moved");
        }
        for row in [1i64, 3, 7] {
            assert!(
                !after.get(row).equal(&before.get(row)),
                "row {row} did not move"
            );
        }
        let loss2 = tch::nn::Module::forward(&emb, &ids).sum(Kind::Float);
        loss2.backward();
        fgm.restore(&emb.ws);
        assert!(emb.ws.equal(&before), "restored exactly");
    }

    #[test]
    fn no_gradient_or_a_zero_gradient_changes_nothing() {
        let vs = nn::VarStore::new(tch::Device::Cpu);
        let emb = nn::embedding(vs.root() / "e", 4, 3, Default::default());
        let ids = Tensor::from_slice(&[0i64, 2]);
        assert!(Fgm::attack(&emb.ws, &ids, 1.0).is_none(), "no backward yet");
        let loss = tch::nn::Module::forward(&emb, &ids).sum(Kind::Float) * 0.0;
        loss.backward();
        let before = emb.ws.detach().copy();
        assert!(Fgm::attack(&emb.ws, &ids, 1.0).is_none(), "zero gradient");
        assert!(emb.ws.equal(&before));
    }
}
