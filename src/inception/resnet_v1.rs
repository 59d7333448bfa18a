//! Inception-ResNet-v1 as the paper draws it (figures 14, 10, 7, 11, 12, 13;
//! no reference code was released): the cheaper v3-like stem to 35x35x256,
//! 5 x Inception-ResNet-A, Reduction-A (k, l, m, n = 192, 192, 256, 384) to
//! 17x17x896, 10 x Inception-ResNet-B, Reduction-B to 8x8x1792,
//! 5 x Inception-ResNet-C. Names follow timm's Inception-ResNet-v2
//! (conv2d_1a ..., repeat, mixed_6a, repeat_1, mixed_7a, repeat_2, classif);
//! the stem's last layer, a 3x3/2 conv to 256, is conv2d_4b. The paper gives
//! no per-block scales for v1 ("0.1 to 0.3"); the defaults are v2's.

use super::blocks::{
    reduction_a, resnet_a, resnet_bc, resnet_reduction_b, v3_stem, Ctx, Pad, Stages,
};
use super::resnet_v2::SCALES;

pub fn stages(ctx: &Ctx, s: &mut Stages, scale: Option<f64>) {
    let [a, b, c8] = SCALES.map(|d| scale.unwrap_or(d));
    v3_stem(ctx, s);
    s.add("conv2d_4b", |p, c| ctx.conv(p, c, 256, 3, 2, Pad::Valid));
    for i in 0..5 {
        s.add(&format!("repeat.{i}"), |p, c| {
            resnet_a(ctx, &p, c, [32, 32, 32, 32, 32, 32], a)
        });
    }
    s.add("mixed_6a", |p, c| {
        reduction_a(ctx, &p, c, [192, 192, 256, 384])
    });
    for i in 0..10 {
        s.add(&format!("repeat_1.{i}"), |p, c| {
            resnet_bc(ctx, &p, c, 7, [128, 128, 128, 128], b, true)
        });
    }
    s.add("mixed_7a", |p, c| {
        resnet_reduction_b(ctx, &p, c, [256, 384, 256, 256, 256, 256, 256])
    });
    for i in 0..5 {
        s.add(&format!("repeat_2.{i}"), |p, c| {
            resnet_bc(ctx, &p, c, 3, [192, 192, 192, 192], c8, true)
        });
    }
}
