//! Exponential moving average of the weights (the paper's "Optimizer: EMA", Table 3). After
//! step n: shadow ← d·shadow + (1 − d)·θ with d = min(decay, (1 + n)/(10 + n)) — the
//! warm-up form of TensorFlow's ExponentialMovingAverage, so a short run is not dominated by
//! the random initial weights. Evaluation and the saved checkpoint use the shadow weights.

use std::collections::HashMap;

use tch::nn::VarStore;
use tch::Tensor;

#[derive(Debug)]
pub struct Ema {
    pub decay: f64,
    pub updates: u64,
    shadow: HashMap<String, Tensor>,
}

impl Ema {
    pub fn new(vs: &VarStore, decay: f64) -> Ema {
        let shadow = vs
            .variables()
            .into_iter()
            .map(|(k, v)| (k, v.detach().copy()))
            .collect();
        Ema {
            decay,
            updates: 0,
            shadow,
        }
    }

    /// The decay used at the next update.
    pub fn current_decay(&self) -> f64 {
        let n = self.updates as f64;
        self.decay.min((1.0 + n) / (10.0 + n))
    }

    pub fn update(&mut self, vs: &VarStore) {
        let d = self.current_decay();
        tch::no_grad(|| {
            for (name, var) in vs.variables() {
                if let Some(s) = self.shadow.get_mut(&name) {
                    // shadow + (1 − d)(θ − shadow) = d·shadow + (1 − d)·θ, in place: one pass
                    // and no temporary the size of the weights (`make bench-model`).
                    let _ = s.lerp_(&var.detach(), 1.0 - d);
                }
            }
        });
        self.updates += 1;
    }

    pub fn shadow(&self) -> &HashMap<String, Tensor> {
        &self.shadow
    }

    /// Copy the shadow weights into `vs`, returning the live weights to put back with `restore`.
    pub fn swap_in(&self, vs: &VarStore) -> HashMap<String, Tensor> {
        let mut live = HashMap::new();
        tch::no_grad(|| {
            for (name, var) in vs.variables() {
                live.insert(name.clone(), var.detach().copy());
                if let Some(s) = self.shadow.get(&name) {
                    let mut v = var.shallow_clone();
                    v.copy_(s);
                }
            }
        });
        live
    }

    pub fn restore(vs: &VarStore, live: HashMap<String, Tensor>) {
        tch::no_grad(|| {
            for (name, var) in vs.variables() {
                if let Some(l) = live.get(&name) {
                    let mut v = var.shallow_clone();
                    v.copy_(l);
                }
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tch::{nn, Kind};

    #[test]
    fn follows_its_formula() {
        let vs = nn::VarStore::new(tch::Device::Cpu);
        let w = vs.root().var("w", &[3], nn::Init::Const(1.0));
        let mut ema = Ema::new(&vs, 0.9);
        let mut expected = 1.0f64;
        for (n, value) in [3.0, -2.0, 5.0, 0.5, 8.0, 8.0, 8.0, 8.0, 8.0, 8.0, 8.0, 8.0]
            .iter()
            .enumerate()
        {
            tch::no_grad(|| {
                let mut w = w.shallow_clone();
                let _ = w.fill_(*value);
            });
            let d = 0.9f64.min((1.0 + n as f64) / (10.0 + n as f64));
            assert!((ema.current_decay() - d).abs() < 1e-12);
            ema.update(&vs);
            expected = d * expected + (1.0 - d) * value;
            let got = ema.shadow()["w"].get(0).double_value(&[]);
            assert!(
                (got - expected).abs() < 1e-5,
                "step {n}: {got} vs {expected}"
            );
        }
        // swap_in / restore round trip.
        let live = ema.swap_in(&vs);
        assert!((w.get(1).double_value(&[]) - expected).abs() < 1e-5);
        Ema::restore(&vs, live);
        assert_eq!(w.sum(Kind::Float).double_value(&[]), 24.0);
    }
}
