//! AdamW in one fused pass per weight (issue 11 §4): libtorch's `_fused_adamw_` kernel, the one
//! PyTorch runs for `AdamW(fused=True)`, through the small C++ shim adamw.cpp (tch 0.24 binds
//! neither it nor the `_foreach_` ops).
//!
//! Why: tch's `nn::AdamW` is libtorch's C++ `torch::optim::AdamW`, which updates each weight
//! with about eight element-wise kernels (decay, two moment updates, square root, bias
//! correction, epsilon, the division and the step), each a pass over the weight, its gradient
//! or a moment, with temporaries the size of the weight. The model has 26.5 M weights (the
//! 21,128 × 512 word embeddings alone 43 MB), so a step moved ≈ 2.5 GB through memory; the
//! fused kernel reads the weight, gradient and both moments once and writes three of them back.
//! The arithmetic is the same (decoupled weight decay `θ ← θ(1 − η·λ)`, bias-corrected moments,
//! ε added to `√v̂`); the unit test holds the two implementations equal to 1e-6 over several
//! steps. `train.fused_adamw = false` keeps tch's optimizer (the benchmark times both).
//!
//! Parameter groups are tch's: a VarStore's group index (the encoder's and the head's, with
//! their learning rates). Like libtorch's optimizer, a weight without a gradient in a step
//! (the object taggers on a batch without subjects) is not touched: no decay, no step count.

use std::ffi::{c_char, c_int, c_void, CStr};

use tch::nn::VarStore;
use tch::{Kind, TchError, Tensor};

extern "C" {
    fn cbrrel_fused_adamw(
        params: *const *const c_void,
        grads: *const *const c_void,
        exp_avgs: *const *const c_void,
        exp_avg_sqs: *const *const c_void,
        steps: *const *const c_void,
        n: usize,
        lr: f64,
        beta1: f64,
        beta2: f64,
        weight_decay: f64,
        eps: f64,
        err: *mut c_char,
        err_len: usize,
    ) -> c_int;
    fn cbrrel_grads_to_none(
        tensors: *const *const c_void,
        n: usize,
        err: *mut c_char,
        err_len: usize,
    ) -> c_int;
}

/// tch's `Tensor` handles as the shim takes them (`torch::Tensor *`, tch's `C_tensor`).
fn pointers(tensors: &[&Tensor]) -> Vec<*const c_void> {
    tensors
        .iter()
        .map(|t| t.as_ptr() as *const c_void)
        .collect()
}

/// Run one shim call with an error buffer; libtorch's message becomes a `TchError`.
fn checked(call: impl FnOnce(*mut c_char, usize) -> c_int) -> Result<(), TchError> {
    let mut err = vec![0 as c_char; 1024];
    if call(err.as_mut_ptr(), err.len()) == 0 {
        return Ok(());
    }
    // SAFETY: the shim writes a NUL-terminated message of at most err.len() bytes.
    let msg = unsafe { CStr::from_ptr(err.as_ptr()) };
    Err(TchError::Torch(msg.to_string_lossy().into_owned()))
}

/// One weight and its optimizer state.
struct Slot {
    weight: Tensor,
    exp_avg: Tensor,
    exp_avg_sq: Tensor,
    /// Steps applied to this weight, a one-element f32 tensor on its device (the kernel reads
    /// the bias correction's exponent from it).
    step: Tensor,
}

struct Group {
    lr: f64,
    slots: Vec<Slot>,
}

/// AdamW over a VarStore's trainable weights, fused per group.
pub struct FusedAdamW {
    groups: Vec<Group>,
    beta1: f64,
    beta2: f64,
    eps: f64,
    weight_decay: f64,
}

impl FusedAdamW {
    /// Every group of `vs` at learning rate `lr` (tch's `OptimizerConfig::build`), betas 0.9 /
    /// 0.999 and ε 1e-8 (tch's and PyTorch's AdamW defaults).
    pub fn new(vs: &VarStore, lr: f64, weight_decay: f64) -> FusedAdamW {
        let variables = vs.variables_.lock().expect("var store lock");
        let mut groups: Vec<Group> = Vec::new();
        for var in &variables.trainable_variables {
            while groups.len() <= var.group {
                groups.push(Group {
                    lr,
                    slots: Vec::new(),
                });
            }
            let w = &var.tensor;
            groups[var.group].slots.push(Slot {
                weight: w.shallow_clone(),
                exp_avg: w.zeros_like().detach(),
                exp_avg_sq: w.zeros_like().detach(),
                step: Tensor::zeros([1], (Kind::Float, w.device())),
            });
        }
        FusedAdamW {
            groups,
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
            weight_decay,
        }
    }

    /// The learning rate of one group (a group the store does not have is ignored, as tch's
    /// optimizer has no such group either).
    pub fn set_lr_group(&mut self, group: usize, lr: f64) {
        if let Some(g) = self.groups.get_mut(group) {
            g.lr = lr;
        }
    }

    /// Drop every gradient (the next backward allocates them afresh): libtorch's and PyTorch's
    /// `zero_grad()`, set to none.
    pub fn zero_grad(&self) -> Result<(), TchError> {
        let weights: Vec<&Tensor> = self
            .groups
            .iter()
            .flat_map(|g| g.slots.iter().map(|s| &s.weight))
            .collect();
        let ptrs = pointers(&weights);
        // SAFETY: every pointer is a live tch tensor handle owned by `self` for the call.
        checked(|err, len| unsafe { cbrrel_grads_to_none(ptrs.as_ptr(), ptrs.len(), err, len) })
    }

    /// One AdamW step on every weight that has a gradient.
    pub fn step(&mut self) -> Result<(), TchError> {
        let (beta1, beta2, eps, wd) = (self.beta1, self.beta2, self.eps, self.weight_decay);
        tch::no_grad(|| {
            for group in &mut self.groups {
                let mut grads = Vec::with_capacity(group.slots.len());
                let mut live = Vec::with_capacity(group.slots.len());
                for slot in &mut group.slots {
                    let g = slot.weight.grad();
                    if g.defined() {
                        let _ = slot.step.g_add_scalar_(1.0);
                        grads.push(g);
                        live.push(&*slot);
                    }
                }
                if live.is_empty() {
                    continue;
                }
                let field = |f: fn(&Slot) -> &Tensor| {
                    pointers(&live.iter().map(|s| f(s)).collect::<Vec<_>>())
                };
                let params = field(|s| &s.weight);
                let exp_avgs = field(|s| &s.exp_avg);
                let exp_avg_sqs = field(|s| &s.exp_avg_sq);
                let steps = field(|s| &s.step);
                let grad_ptrs = pointers(&grads.iter().collect::<Vec<_>>());
                let lr = group.lr;
                // SAFETY: five arrays of `live.len()` live tensor handles, kept alive by
                // `group` and `grads` for the duration of the call.
                checked(|err, len| unsafe {
                    cbrrel_fused_adamw(
                        params.as_ptr(),
                        grad_ptrs.as_ptr(),
                        exp_avgs.as_ptr(),
                        exp_avg_sqs.as_ptr(),
                        steps.as_ptr(),
                        live.len(),
                        lr,
                        beta1,
                        beta2,
                        wd,
                        eps,
                        err,
                        len,
                    )
                })?;
            }
            Ok(())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tch::nn::{self, Module, OptimizerConfig};
    use tch::Device;

    /// Two groups (as the encoder and the head), one weight that gets no gradient in the
    /// second step; the same model trained by tch's AdamW and by this one.
    fn model(seed: i64) -> (VarStore, nn::Linear, nn::Linear, nn::Linear) {
        tch::manual_seed(seed);
        let vs = VarStore::new(Device::Cpu);
        let root = vs.root();
        let a = nn::linear(root.set_group(0) / "a", 6, 5, Default::default());
        let b = nn::linear(root.set_group(1) / "b", 5, 3, Default::default());
        let c = nn::linear(root.set_group(1) / "c", 5, 2, Default::default());
        (vs, a, b, c)
    }

    fn loss(a: &nn::Linear, b: &nn::Linear, c: &nn::Linear, x: &Tensor, with_c: bool) -> Tensor {
        let h = a.forward(x).tanh();
        let mut l = b.forward(&h).pow_tensor_scalar(2).sum(Kind::Float);
        if with_c {
            l += c.forward(&h).sin().sum(Kind::Float);
        }
        l
    }

    #[test]
    fn matches_libtorchs_adamw_step_for_step() {
        let x = Tensor::randn([4, 6], (Kind::Float, Device::Cpu));
        let (vs1, a1, b1, c1) = model(3);
        let (vs2, a2, b2, c2) = model(3);
        let mut reference = nn::AdamW {
            wd: 0.01,
            ..Default::default()
        }
        .build(&vs1, 1e-3)
        .unwrap();
        let mut fused = FusedAdamW::new(&vs2, 1e-3, 0.01);
        for step in 0..6 {
            let with_c = step != 1;
            for (group, lr) in [(0, 2e-3), (1, 5e-2)] {
                reference.set_lr_group(group, lr);
                fused.set_lr_group(group, lr);
            }
            reference.zero_grad();
            loss(&a1, &b1, &c1, &x, with_c).backward();
            reference.step();
            fused.zero_grad().unwrap();
            loss(&a2, &b2, &c2, &x, with_c).backward();
            if !with_c {
                assert!(
                    !c2.ws.grad().defined(),
                    "zero_grad set the gradients to none"
                );
            }
            fused.step().unwrap();
        }
        let (w1, w2) = (vs1.variables(), vs2.variables());
        assert_eq!(w1.len(), 6);
        for (name, t1) in &w1 {
            let diff = (t1 - &w2[name]).abs().max().double_value(&[]);
            assert!(diff < 1e-6, "{name}: {diff}");
        }
        // The weights moved (a test that the step ran, not that nothing happened twice).
        let (_, a0, ..) = model(3);
        let moved = (&a2.ws - &a0.ws).abs().max().double_value(&[]);
        assert!(moved > 1e-3, "{moved}");
    }

    #[test]
    fn a_libtorch_error_comes_back_as_a_message() {
        let vs = VarStore::new(Device::Cpu);
        let w = vs.root().var("w", &[3], nn::Init::Const(1.0));
        let mut opt = FusedAdamW::new(&vs, 1e-3, 0.0);
        // The step on a consistent gradient works…
        (w.sum(Kind::Float) * 2.0).backward();
        opt.step().unwrap();
        // …and one with the moments of the wrong dtype is refused with libtorch's message.
        opt.groups[0].slots[0].exp_avg = Tensor::zeros([3], (Kind::Double, Device::Cpu));
        let err = opt.step().unwrap_err().to_string();
        assert!(
            err.contains("expected scalar type Float but found Double") && !err.contains("frame #"),
            "{err}"
        );
    }
}
