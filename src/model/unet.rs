//! Feature fusion (§3.6). The paper's Fig. 2 is missing from our copy; DESIGN.md's reading,
//! implemented here exactly:
//! - the [L × H] state map of a sentence is a one-channel image [B, 1, L, H];
//! - encoder: conv3×3 (1 → c) + ReLU; max-pool 2 → conv3×3 (c → 2c) + ReLU; max-pool 2 →
//!   conv3×3 (2c → 4c) + ReLU (the bottleneck, a quarter of the resolution);
//! - decoder: transposed conv 2×2 stride 2 (4c → 2c), concatenated with the encoder map of the
//!   same level (skip connection), conv3×3 (4c → 2c) + ReLU; again up to full size (2c → c),
//!   concatenate, conv3×3 (2c → c) + ReLU;
//! - a 1×1 conv (c → 1) projects back to [L × H], added to the input (residual), LayerNorm.
//!
//! **Odd sizes**: L and H are zero-padded up to multiples of 4 before the encoder and the
//! output is cropped back. **Padding**: every level's map is multiplied by the (pooled)
//! token mask, so padded positions stay zero and a sentence's output does not depend on how
//! much padding its batch has.
//! `Cnn` is Table 7's ablation: conv3×3 (1 → c) + ReLU, conv3×3 (c → 1), residual, LayerNorm.

use tch::nn::{self, Module};
#[cfg(test)]
use tch::Kind;
use tch::Tensor;

fn conv3(p: nn::Path, i: i64, o: i64) -> nn::Conv2D {
    nn::conv2d(
        p,
        i,
        o,
        3,
        nn::ConvConfig {
            padding: 1,
            ..Default::default()
        },
    )
}

#[derive(Debug)]
pub struct UNet2d {
    enc1: nn::Conv2D,
    enc2: nn::Conv2D,
    bottleneck: nn::Conv2D,
    up2: nn::ConvTranspose2D,
    dec2: nn::Conv2D,
    up1: nn::ConvTranspose2D,
    dec1: nn::Conv2D,
    project: nn::Conv2D,
    layer_norm: nn::LayerNorm,
}

impl UNet2d {
    pub fn new(p: nn::Path, hidden: i64, c: i64) -> UNet2d {
        let up = nn::ConvTransposeConfig {
            stride: 2,
            ..Default::default()
        };
        UNet2d {
            enc1: conv3(&p / "enc1", 1, c),
            enc2: conv3(&p / "enc2", c, 2 * c),
            bottleneck: conv3(&p / "bottleneck", 2 * c, 4 * c),
            up2: nn::conv_transpose2d(&p / "up2", 4 * c, 2 * c, 2, up),
            dec2: conv3(&p / "dec2", 4 * c, 2 * c),
            up1: nn::conv_transpose2d(&p / "up1", 2 * c, c, 2, up),
            dec1: conv3(&p / "dec1", 2 * c, c),
            project: nn::conv2d(&p / "project", c, 1, 1, Default::default()),
            layer_norm: nn::layer_norm(&p / "LayerNorm", vec![hidden], Default::default()),
        }
    }

    /// `xs` [B, L, H], `mask` [B, L] → [B, L, H].
    pub fn forward(&self, xs: &Tensor, mask: &Tensor) -> Tensor {
        let (_, seq_len, hidden) = xs.size3().expect("[B, L, H]");
        let (pad_l, pad_h) = ((4 - seq_len % 4) % 4, (4 - hidden % 4) % 4);
        let mask = mask.to_kind(xs.kind());
        // [B, 1, L', 1] masks for the three resolutions.
        let m1 = mask
            .constant_pad_nd([0, pad_l])
            .view([mask.size()[0], 1, -1, 1]);
        let m2 = m1.max_pool2d([2, 1], [2, 1], [0, 0], [1, 1], false);
        let m3 = m2.max_pool2d([2, 1], [2, 1], [0, 0], [1, 1], false);
        let img = (xs * mask.unsqueeze(-1))
            .unsqueeze(1)
            .constant_pad_nd([0, pad_h, 0, pad_l]);
        let pool = |t: &Tensor| t.max_pool2d([2, 2], [2, 2], [0, 0], [1, 1], false);
        let e1 = self.enc1.forward(&img).relu() * &m1;
        let e2 = self.enc2.forward(&pool(&e1)).relu() * &m2;
        let b = self.bottleneck.forward(&pool(&e2)).relu() * &m3;
        let d2 = self
            .dec2
            .forward(&Tensor::cat(&[self.up2.forward(&b), e2], 1))
            .relu()
            * &m2;
        let d1 = self
            .dec1
            .forward(&Tensor::cat(&[self.up1.forward(&d2), e1], 1))
            .relu()
            * &m1;
        let out = self
            .project
            .forward(&d1)
            .squeeze_dim(1)
            .narrow(1, 0, seq_len)
            .narrow(2, 0, hidden);
        self.layer_norm.forward(&(xs + out))
    }
}

#[derive(Debug)]
pub struct Cnn2d {
    conv1: nn::Conv2D,
    conv2: nn::Conv2D,
    layer_norm: nn::LayerNorm,
}

impl Cnn2d {
    pub fn new(p: nn::Path, hidden: i64, c: i64) -> Cnn2d {
        Cnn2d {
            conv1: conv3(&p / "conv1", 1, c),
            conv2: conv3(&p / "conv2", c, 1),
            layer_norm: nn::layer_norm(&p / "LayerNorm", vec![hidden], Default::default()),
        }
    }

    pub fn forward(&self, xs: &Tensor, mask: &Tensor) -> Tensor {
        let m = mask.to_kind(xs.kind()).unsqueeze(1).unsqueeze(-1);
        let img = (xs * mask.to_kind(xs.kind()).unsqueeze(-1)).unsqueeze(1);
        let h = self.conv1.forward(&img).relu() * &m;
        let out = self.conv2.forward(&h).squeeze_dim(1);
        self.layer_norm.forward(&(xs + out))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_shape_for_odd_and_even_lengths_and_ignores_padding() {
        tch::manual_seed(3);
        let vs = nn::VarStore::new(tch::Device::Cpu);
        let unet = UNet2d::new(vs.root() / "u", 10, 4);
        let cnn = Cnn2d::new(vs.root() / "c", 10, 4);
        for seq_len in [1, 2, 5, 7, 8, 13] {
            let xs = Tensor::randn([2, seq_len, 10], (Kind::Float, tch::Device::Cpu));
            let mask = Tensor::ones([2, seq_len], (Kind::Int64, tch::Device::Cpu));
            assert_eq!(unet.forward(&xs, &mask).size(), vec![2, seq_len, 10]);
            assert_eq!(cnn.forward(&xs, &mask).size(), vec![2, seq_len, 10]);
        }
        // The same 5 tokens with 0 or 3 padding positions give the same outputs.
        let xs = Tensor::randn([1, 5, 10], (Kind::Float, tch::Device::Cpu));
        let padded = Tensor::cat(
            &[
                xs.shallow_clone(),
                Tensor::randn([1, 3, 10], (Kind::Float, tch::Device::Cpu)),
            ],
            1,
        );
        let mask = Tensor::from_slice(&[1i64, 1, 1, 1, 1, 0, 0, 0]).unsqueeze(0);
        let a = unet.forward(&xs, &Tensor::ones([1, 5], (Kind::Int64, tch::Device::Cpu)));
        let b = unet.forward(&padded, &mask).narrow(1, 0, 5);
        assert!(a.allclose(&b, 1e-5, 1e-5, false));
    }
}
