//! A step is applied only when its loss and gradients are finite (issue 11 §1).
//!
//! One overflow in a loss or a gradient makes the global norm inf or NaN; clipping by it then
//! scales every gradient by 0 or NaN, and AdamW's moments carry the NaN into every weight for
//! good. So the gradient norm is computed here (as tch's `clip_grad_norm` does, over all
//! trainable gradients together), a non-finite one skips the step, and a finite one clips as
//! before. Skipped steps are counted per epoch in metrics.jsonl; more than
//! `train.max_skipped_share` of an epoch's steps stops training with an error (the run is
//! diverging, and going on would only hide it).

use tch::{nn::VarStore, Tensor};

/// The global L2 norm of the trainable variables' gradients, or `None` when it is not finite
/// (the gradients are then left as they are: the caller zeroes them and skips the step).
/// Otherwise the gradients are scaled to a norm of at most `max` and the norm (before
/// clipping) is returned.
pub fn clip_finite(vs: &VarStore, max: f64) -> Option<f64> {
    tch::no_grad(|| {
        let grads: Vec<Tensor> = vs
            .trainable_variables()
            .iter()
            .map(Tensor::grad)
            .filter(Tensor::defined)
            .collect();
        if grads.is_empty() {
            return Some(0.0);
        }
        let norms: Vec<Tensor> = grads.iter().map(|g| g.norm()).collect();
        let total = f64::try_from(Tensor::stack(&norms, 0).norm()).ok()?;
        if !total.is_finite() {
            return None;
        }
        let coef = max / (total + 1e-6);
        if coef < 1.0 {
            for mut g in grads {
                let _ = g.g_mul_scalar_(coef);
            }
        }
        Some(total)
    })
}

/// Steps skipped in the current epoch, against the share allowed.
#[derive(Debug, Clone)]
pub struct SkipCount {
    pub skipped: usize,
    pub max_share: f64,
}

impl SkipCount {
    pub fn new(max_share: f64) -> SkipCount {
        SkipCount {
            skipped: 0,
            max_share,
        }
    }

    /// Count one skipped step of an epoch of `steps`; an error once more than the allowed
    /// share of them was skipped.
    pub fn skip(&mut self, epoch: usize, steps: usize, why: &str) -> Result<(), String> {
        self.skipped += 1;
        if self.skipped as f64 > self.max_share * steps as f64 {
            return Err(format!(
                "training diverged: {} of epoch {epoch}'s {steps} steps skipped for a non-finite \
                 loss or gradient norm (last: {why}); more than train.max_skipped_share = {} — \
                 lower the learning rates",
                self.skipped, self.max_share
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tch::{nn, nn::Module, Device, Kind};

    fn linear_with_grads(scale: f64) -> (VarStore, nn::Linear) {
        let vs = VarStore::new(Device::Cpu);
        let lin = nn::linear(vs.root(), 3, 2, Default::default());
        let x = Tensor::ones([4, 3], (Kind::Float, Device::Cpu)) * scale;
        lin.forward(&x).sum(Kind::Float).backward();
        (vs, lin)
    }

    #[test]
    fn finite_gradients_are_clipped_to_the_max_norm() {
        let (vs, _) = linear_with_grads(10.0);
        let before = clip_finite(&vs, 1.0).expect("finite");
        assert!(before > 1.0);
        // A second call sees the clipped gradients.
        let after = clip_finite(&vs, 1e9).unwrap();
        assert!((after - 1.0).abs() < 1e-4, "{after}");
    }

    #[test]
    fn a_non_finite_gradient_is_reported_and_left_alone() {
        let (vs, lin) = linear_with_grads(f64::INFINITY);
        assert_eq!(clip_finite(&vs, 1.0), None);
        assert!(!f64::try_from(lin.ws.grad().abs().max())
            .unwrap()
            .is_finite());
    }

    #[test]
    fn too_many_skips_in_an_epoch_stop_training() {
        let mut c = SkipCount::new(0.25);
        assert!(c.skip(1, 8, "loss NaN").is_ok());
        assert!(c.skip(1, 8, "loss NaN").is_ok());
        let err = c.skip(1, 8, "gradient norm inf").unwrap_err();
        assert!(err.contains("3 of epoch 1's 8 steps"), "{err}");
    }
}
