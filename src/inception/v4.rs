//! Inception-v4 (Szegedy et al. 2016, figures 3-9) under timm's names
//! features.0 ... features.21: the stem to 35x35x384, 4 x Inception-A,
//! Reduction-A to 17x17x1024, 7 x Inception-B, Reduction-B to 8x8x1536,
//! 3 x Inception-C.

use super::blocks::{reduction_a, Ctx, Pad, Stages, Unit};
use tch::nn;

/// Reduction-A's k, l, m, n in Inception-v4 (table 1 of the paper).
pub const REDUCTION_A: [i64; 4] = [192, 224, 256, 384];

pub fn stages(ctx: &Ctx, s: &mut Stages) {
    // Stem (figure 3): 299 -> 149 -> 147 -> 147 -> 73 -> 71 -> 35.
    s.add("features.0", |p, c| ctx.conv(p, c, 32, 3, 2, Pad::Valid));
    s.add("features.1", |p, c| ctx.conv(p, c, 32, 3, 1, Pad::Valid));
    s.add("features.2", |p, c| ctx.same(p, c, 64, 3));
    s.add("features.3", |p, c| {
        Unit::Cat(vec![
            Unit::MaxPool,
            ctx.conv(&p / "conv", c, 96, 3, 2, Pad::Valid),
        ])
    });
    s.add("features.4", |p, c| {
        Unit::Cat(vec![
            ctx.chain(&p / "branch0", c)
                .same(64, 1)
                .conv(96, 3, 1, Pad::Valid)
                .done(),
            ctx.chain(&p / "branch1", c)
                .same(64, 1)
                .same(64, (1, 7))
                .same(64, (7, 1))
                .conv(96, 3, 1, Pad::Valid)
                .done(),
        ])
    });
    s.add("features.5", |p, c| {
        Unit::Cat(vec![
            ctx.conv(&p / "conv", c, 192, 3, 2, Pad::Valid),
            Unit::MaxPool,
        ])
    });
    for i in 6..10 {
        s.add(&format!("features.{i}"), |p, c| inception_a(ctx, &p, c));
    }
    s.add("features.10", |p, c| reduction_a(ctx, &p, c, REDUCTION_A));
    for i in 11..18 {
        s.add(&format!("features.{i}"), |p, c| inception_b(ctx, &p, c));
    }
    s.add("features.18", |p, c| reduction_b(ctx, &p, c));
    for i in 19..22 {
        s.add(&format!("features.{i}"), |p, c| inception_c(ctx, &p, c));
    }
}

/// Inception-A (figure 4), 35x35x384.
fn inception_a(ctx: &Ctx, p: &nn::Path, c: i64) -> Unit {
    Unit::Cat(vec![
        ctx.same(p / "branch0", c, 96, 1),
        ctx.chain(p / "branch1", c).same(64, 1).same(96, 3).done(),
        ctx.chain(p / "branch2", c)
            .same(64, 1)
            .same(96, 3)
            .same(96, 3)
            .done(),
        ctx.chain(p / "branch3", c).avg_pool().same(96, 1).done(),
    ])
}

/// Inception-B (figure 5), 17x17x1024.
fn inception_b(ctx: &Ctx, p: &nn::Path, c: i64) -> Unit {
    Unit::Cat(vec![
        ctx.same(p / "branch0", c, 384, 1),
        ctx.chain(p / "branch1", c)
            .same(192, 1)
            .same(224, (1, 7))
            .same(256, (7, 1))
            .done(),
        ctx.chain(p / "branch2", c)
            .same(192, 1)
            .same(192, (7, 1))
            .same(224, (1, 7))
            .same(224, (7, 1))
            .same(256, (1, 7))
            .done(),
        ctx.chain(p / "branch3", c).avg_pool().same(128, 1).done(),
    ])
}

/// Reduction-B (figure 8), 17x17x1024 -> 8x8x1536.
fn reduction_b(ctx: &Ctx, p: &nn::Path, c: i64) -> Unit {
    Unit::Cat(vec![
        ctx.chain(p / "branch0", c).same(192, 1).down(192).done(),
        ctx.chain(p / "branch1", c)
            .same(256, 1)
            .same(256, (1, 7))
            .same(320, (7, 1))
            .down(320)
            .done(),
        Unit::MaxPool,
    ])
}

/// Inception-C (figure 6), 8x8x1536: two branches that split into a 1x3 and
/// a 3x1 convolution side by side.
fn inception_c(ctx: &Ctx, p: &nn::Path, c: i64) -> Unit {
    let split = |name: &str, c_in: i64| {
        Unit::Cat(vec![
            ctx.same(p / format!("{name}a"), c_in, 256, (1, 3)),
            ctx.same(p / format!("{name}b"), c_in, 256, (3, 1)),
        ])
    };
    Unit::Cat(vec![
        ctx.same(p / "branch0", c, 256, 1),
        Unit::Seq(vec![
            ctx.same(p / "branch1_0", c, 384, 1),
            split("branch1_1", ctx.ch(384)),
        ]),
        Unit::Seq(vec![
            ctx.same(p / "branch2_0", c, 384, 1),
            ctx.same(p / "branch2_1", ctx.ch(384), 448, (3, 1)),
            ctx.same(p / "branch2_2", ctx.ch(448), 512, (1, 3)),
            split("branch2_3", ctx.ch(512)),
        ]),
        ctx.chain(p / "branch3", c).avg_pool().same(256, 1).done(),
    ])
}
