//! Learning-rate schedule: linear warm-up from 0 over the first `warmup` steps, then linear
//! decay to 0 at `total` steps (BERT fine-tuning's usual schedule).

/// Multiplier of the base learning rate at `step` (0-based).
pub fn lr_factor(step: usize, warmup: usize, total: usize) -> f64 {
    if total == 0 {
        return 1.0;
    }
    if step < warmup {
        return (step + 1) as f64 / warmup as f64;
    }
    let rest = total.saturating_sub(warmup).max(1);
    (total.saturating_sub(step) as f64 / rest as f64).clamp(0.0, 1.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn warms_up_then_decays() {
        assert_eq!(lr_factor(0, 10, 110), 0.1);
        assert_eq!(lr_factor(9, 10, 110), 1.0);
        assert_eq!(lr_factor(10, 10, 110), 1.0);
        assert_eq!(lr_factor(60, 10, 110), 0.5);
        assert_eq!(lr_factor(110, 10, 110), 0.0);
        assert_eq!(lr_factor(5, 0, 10), 0.5);
    }
}
