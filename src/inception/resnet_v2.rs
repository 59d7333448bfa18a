//! Inception-ResNet-v2 as released (TF-slim, timm), under timm's names: the
//! Inception-v3-like stem to 35x35x192, Mixed_5b to 35x35x320, 10 x Block35
//! (scale 0.17), Mixed_6a to 17x17x1088, 20 x Block17 (0.10), Mixed_7a to
//! 8x8x2080, 9 x Block8 (0.20) and a last Block8 (scale 1.0, no ReLU), then a
//! 1x1 conv to 1536. The paper's figure 6 draws 5/10/5 blocks on the v4 stem;
//! this is the model people train and load weights for.

use super::blocks::{
    reduction_a, resnet_a, resnet_bc, resnet_reduction_b, v3_stem, Ctx, Stages, Unit,
};

/// Residual scales of the A, B and C blocks.
pub const SCALES: [f64; 3] = [0.17, 0.10, 0.20];

/// `scale` overrides every block's scale (the last Block8's 1.0 included).
pub fn stages(ctx: &Ctx, s: &mut Stages, scale: Option<f64>) {
    let [a, b, c8] = SCALES.map(|d| scale.unwrap_or(d));
    v3_stem(ctx, s);
    s.add("maxpool_5a", |_, _| Unit::MaxPool);
    s.add("mixed_5b", |p, c| {
        Unit::Cat(vec![
            ctx.same(&p / "branch0", c, 96, 1),
            ctx.chain(&p / "branch1", c).same(48, 1).same(64, 5).done(),
            ctx.chain(&p / "branch2", c)
                .same(64, 1)
                .same(96, 3)
                .same(96, 3)
                .done(),
            ctx.chain(&p / "branch3", c).avg_pool().same(64, 1).done(),
        ])
    });
    for i in 0..10 {
        s.add(&format!("repeat.{i}"), |p, c| {
            resnet_a(ctx, &p, c, [32, 32, 32, 32, 48, 64], a)
        });
    }
    s.add("mixed_6a", |p, c| {
        reduction_a(ctx, &p, c, [256, 256, 384, 384])
    });
    for i in 0..20 {
        s.add(&format!("repeat_1.{i}"), |p, c| {
            resnet_bc(ctx, &p, c, 7, [192, 128, 160, 192], b, true)
        });
    }
    s.add("mixed_7a", |p, c| {
        resnet_reduction_b(ctx, &p, c, [256, 384, 256, 288, 256, 288, 320])
    });
    for i in 0..9 {
        s.add(&format!("repeat_2.{i}"), |p, c| {
            resnet_bc(ctx, &p, c, 3, [192, 192, 224, 256], c8, true)
        });
    }
    s.add("block8", |p, c| {
        resnet_bc(
            ctx,
            &p,
            c,
            3,
            [192, 192, 224, 256],
            scale.unwrap_or(1.0),
            false,
        )
    });
    s.add("conv2d_7b", |p, c| ctx.same(p, c, 1536, 1));
}
