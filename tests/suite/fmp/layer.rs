//! Fractional max-pooling against a plain loop-per-region oracle, plus the
//! sequence rules of REFERENCE.md section 1 and the network's input sizes.

use crate::common;
use common::{assert_close, fmp_net_config, values};
use paperlab::fmp::model::{NetConfig, Pool};
use paperlab::layers::fmp::{pseudorandom_window_starts, Fmp, Regions, Sequence, Share};
use tch::{nn, nn::ModuleT, Device, Kind, Tensor};

fn to_vec_i64(t: &Tensor) -> Vec<i64> {
    Vec::<i64>::try_from(t.flatten(0, -1)).unwrap()
}

/// Region i as the paper defines it, from a boundary sequence.
fn region(a: &[i64], i: usize, n_in: i64, regions: Regions) -> std::ops::RangeInclusive<i64> {
    match regions {
        Regions::Disjoint => a[i]..=a[i + 1] - 1,
        Regions::Overlapping => a[i]..=a[i + 1].min(n_in - 1),
    }
}

type Ranges = (std::ops::RangeInclusive<i64>, std::ops::RangeInclusive<i64>);

/// `forward_with` on a random f64 input [b, c, n_in, n_in] and a random
/// upstream gradient: output and input gradient equal the loop oracle's
/// with `regions`.
fn assert_matches_oracle(
    fmp: &Fmp,
    [b, c, n_in, n_out]: [i64; 4],
    (rows, cols): (&Tensor, &Tensor),
    regions: impl Fn(&[i64], &[i64], usize, usize) -> Ranges,
    what: &str,
) {
    let x = Tensor::randn([b, c, n_in, n_in], (Kind::Double, Device::Cpu)).set_requires_grad(true);
    let out = fmp.forward_with(&x, rows, cols);
    assert_eq!(out.size(), [b, c, n_out, n_out], "{what}");
    let g = Tensor::randn(out.size(), (Kind::Double, Device::Cpu));
    (&out * &g).sum(Kind::Double).backward();
    let (want, want_grad) = oracle(
        &values(&x),
        &values(&g),
        [b as usize, c as usize, n_in as usize, n_in as usize],
        (n_out as usize, n_out as usize),
        &rows_of(rows),
        &rows_of(cols),
        regions,
    );
    assert_close(&out, &want, 0.0, 1e-6, &format!("{what} output"));
    assert_close(
        &x.grad(),
        &want_grad,
        0.0,
        1e-6,
        &format!("{what} gradient"),
    );
}

/// The loop oracle for any regions: `regions(row sequence, column sequence,
/// i, j)` gives the rows and columns of output (i, j) of a [ho, wo] output.
fn oracle(
    x: &[f64],
    g: &[f64],
    dims: [usize; 4],
    (ho, wo): (usize, usize),
    rows: &[Vec<i64>],
    cols: &[Vec<i64>],
    regions: impl Fn(&[i64], &[i64], usize, usize) -> Ranges,
) -> (Vec<f64>, Vec<f64>) {
    let [b, c, h, w] = dims;
    let mut out = vec![0.0; b * c * ho * wo];
    let mut grad = vec![0.0; x.len()];
    for n in 0..b {
        let (r, q) = (&rows[n.min(rows.len() - 1)], &cols[n.min(cols.len() - 1)]);
        for ch in 0..c {
            for i in 0..ho {
                for j in 0..wo {
                    let mut best = (f64::NEG_INFINITY, 0usize);
                    let (ys, xs) = regions(r, q, i, j);
                    for y in ys {
                        for xx in xs.clone() {
                            let k = ((n * c + ch) * h + y as usize) * w + xx as usize;
                            if x[k] > best.0 {
                                best = (x[k], k);
                            }
                        }
                    }
                    let o = ((n * c + ch) * ho + i) * wo + j;
                    out[o] = best.0;
                    grad[best.1] += g[o];
                }
            }
        }
    }
    (out, grad)
}

fn rows_of(t: &Tensor) -> Vec<Vec<i64>> {
    let n = t.size()[1] as usize;
    to_vec_i64(t).chunks(n).map(|c| c.to_vec()).collect()
}

/// Every variant, sizes with alpha sqrt 2, 2^(1/3), 2 and odd sizes.
#[test]
fn fmp_matches_loop_oracle_outputs_and_gradients() {
    tch::manual_seed(1);
    let sizes = [
        (35, 25),
        (24, 17),
        (94, 75),
        (10, 5),
        (7, 3),
        (9, 4),
        (13, 7),
    ];
    for (n_in, n_out) in sizes {
        for sequence in [Sequence::Random, Sequence::Pseudorandom] {
            for regions in [Regions::Disjoint, Regions::Overlapping] {
                for share in [Share::Image, Share::Batch] {
                    let fmp = Fmp {
                        share,
                        output: Some((n_out, n_out)),
                        ..Fmp::new(n_in as f64 / n_out as f64, sequence, regions)
                    };
                    let (b, c) = (3, 2);
                    let count = if share == Share::Image { b } else { 1 };
                    let rows = fmp.boundaries(n_in, n_out, count, Device::Cpu);
                    let cols = fmp.boundaries(n_in, n_out, count, Device::Cpu);
                    let what = format!("{n_in}->{n_out} {sequence:?} {regions:?} {share:?}");
                    assert_matches_oracle(
                        &fmp,
                        [b, c, n_in, n_out],
                        (&rows, &cols),
                        |r, q, i, j| (region(r, i, n_in, regions), region(q, j, n_in, regions)),
                        &what,
                    );
                }
            }
        }
    }
}

/// Fixed windows (Graham's code, PyTorch's kernel) through the general path:
/// starts from 0 to N_in - w in steps of floor or ceil of (N_in - w)/(N_out - 1),
/// and outputs and gradients equal to the loop oracle's.
#[test]
fn fixed_windows_match_loop_oracle_outputs_and_gradients() {
    tch::manual_seed(2);
    for (n_in, n_out, window) in [(35, 25, 2), (94, 75, 2), (24, 17, 2), (9, 4, 2), (10, 4, 3)] {
        for sequence in [Sequence::Random, Sequence::Pseudorandom] {
            for share in [Share::Image, Share::Batch] {
                let fmp = Fmp {
                    share,
                    output: Some((n_out, n_out)),
                    window: Some(window),
                    ..Fmp::new(n_in as f64 / n_out as f64, sequence, Regions::Overlapping)
                };
                let (b, c) = (3, 2);
                let count = if share == Share::Image { b } else { 1 };
                let rows = fmp.sequences(n_in, n_out, count, Device::Cpu);
                let cols = fmp.sequences(n_in, n_out, count, Device::Cpu);
                let what = format!("{n_in}->{n_out} window {window} {sequence:?} {share:?}");
                let span = n_in - window;
                let (lo, hi) = (span / (n_out - 1), (span + n_out - 2) / (n_out - 1));
                for s in rows_of(&rows).iter().chain(&rows_of(&cols)) {
                    assert_eq!(s.len() as i64, n_out, "{what}");
                    assert_eq!((s[0], s[s.len() - 1]), (0, span), "{what}: {s:?}");
                    assert!(
                        s.windows(2).all(|d| (lo..=hi).contains(&(d[1] - d[0]))),
                        "{what}: {s:?}"
                    );
                }
                assert_matches_oracle(
                    &fmp,
                    [b, c, n_in, n_out],
                    (&rows, &cols),
                    |r, q, i, j| (window_region(r, i, window), window_region(q, j, window)),
                    &what,
                );
            }
        }
    }
}

/// Window i of `window` pixels from its start s_i.
fn window_region(s: &[i64], i: usize, window: i64) -> std::ops::RangeInclusive<i64> {
    s[i]..=s[i] + window - 1
}

/// PyTorch's kernel (what forward runs for pseudorandom windows on CUDA)
/// equals the general path on the starts drawn from the same u: same
/// outputs, same input gradients. Distinct input values, so no ties to
/// break differently; integer upstream gradients, so sums are exact in any
/// order.
#[test]
fn pytorch_kernel_equals_the_general_path() {
    tch::manual_seed(3);
    for (b, c, n_in, n_out, window) in [
        (4, 3, 35, 25, 2),
        (4, 3, 24, 17, 2),
        (2, 2, 94, 75, 2),
        (3, 2, 12, 5, 3),
    ] {
        for share in [Share::Image, Share::Batch] {
            let fmp = Fmp {
                share,
                window: Some(window),
                ..Fmp::new(2f64.sqrt(), Sequence::Pseudorandom, Regions::Overlapping)
            };
            assert!(fmp.is_pytorch_kernel());
            let count = if share == Share::Image { b } else { 1 };
            let u = Fmp::draw_u(count, Device::Cpu);
            let (rows_u, cols_u) = (u.select(2, 1), u.select(2, 0));
            let x = Tensor::randperm(b * c * n_in * n_in, (Kind::Int64, Device::Cpu))
                .to_kind(Kind::Float)
                .view([b, c, n_in, n_in]);
            let g = Tensor::randint_low(-8, 8, [b, c, n_out, n_out], (Kind::Float, Device::Cpu));
            let run = |pool: &dyn Fn(&Tensor) -> Tensor| {
                let x = x.detach().set_requires_grad(true);
                let y = pool(&x);
                (&y * &g).sum(Kind::Float).backward();
                (y.detach(), x.grad())
            };
            let (kernel, kernel_grad) = run(&|x| fmp.kernel_with(x, (n_out, n_out), &u));
            let (general, general_grad) = run(&|x| {
                let rows = pseudorandom_window_starts(&rows_u, n_in, n_out, window);
                let cols = pseudorandom_window_starts(&cols_u, n_in, n_out, window);
                fmp.forward_with(x, &rows, &cols)
            });
            let what = format!("{n_in}->{n_out} window {window} {share:?}");
            assert!(kernel.equal(&general), "{what}: outputs differ");
            assert!(kernel_grad.equal(&general_grad), "{what}: gradients differ");
        }
    }
}

#[test]
fn forward_draws_fresh_sequences_per_image_and_per_call() {
    let fmp = Fmp::new(2f64.sqrt(), Sequence::Random, Regions::Disjoint);
    // One image repeated: per-image sequences make the copies differ.
    let x = Tensor::randn([1, 1, 35, 35], (Kind::Float, Device::Cpu)).repeat([16, 1, 1, 1]);
    let a = fmp.forward(&x);
    assert_eq!(a.size(), [16, 1, 25, 25]);
    assert!(
        a.get(0).ne_tensor(&a.get(1)).any().int64_value(&[]) == 1,
        "images share a sequence"
    );
    let b = fmp.forward(&x);
    assert!(
        a.ne_tensor(&b).any().int64_value(&[]) == 1,
        "sequences repeat between calls"
    );
    let batch = Fmp {
        share: Share::Batch,
        ..fmp
    }
    .forward(&x);
    assert!(
        batch
            .get(0)
            .eq_tensor(&batch.get(15))
            .all()
            .int64_value(&[])
            == 1,
        "--fmp-share batch differs per image"
    );
}

#[test]
fn alpha_two_disjoint_is_two_by_two_max_pooling() {
    for sequence in [Sequence::Random, Sequence::Pseudorandom] {
        let fmp = Fmp::new(2.0, sequence, Regions::Disjoint);
        let x = Tensor::randn([2, 3, 16, 10], (Kind::Float, Device::Cpu));
        let want = x.max_pool2d([2, 2], [2, 2], [0, 0], [1, 1], false);
        assert!(fmp.forward(&x).equal(&want), "{sequence:?}");
    }
}

#[test]
fn random_sequences_draw_exactly_the_right_counts() {
    for (n_in, n_out) in [(35, 25), (94, 75), (25, 12), (30, 10)] {
        let fmp = Fmp::new(0.0, Sequence::Random, Regions::Disjoint);
        let a = rows_of(&fmp.boundaries(n_in, n_out, 200, Device::Cpu));
        let floor = n_in / n_out;
        let n_ceil = (n_in - floor * n_out) as usize;
        let mut first_is_ceil = 0;
        for row in &a {
            assert_eq!((row[0], *row.last().unwrap()), (0, n_in));
            let steps: Vec<i64> = row.windows(2).map(|w| w[1] - w[0]).collect();
            assert!(
                steps.iter().all(|&s| s == floor || s == floor + 1),
                "{steps:?}"
            );
            assert_eq!(steps.iter().filter(|&&s| s == floor + 1).count(), n_ceil);
            first_is_ceil += (steps[0] == floor + 1) as usize;
        }
        // A uniformly random permutation puts a ceil step first with
        // probability n_ceil / n_out; 200 draws land well within +-0.15.
        let p = first_is_ceil as f64 / 200.0;
        assert!(
            (p - n_ceil as f64 / n_out as f64).abs() < 0.15,
            "{n_in}->{n_out}: {p}"
        );
    }
}

#[test]
fn pseudorandom_sequences_follow_the_formula() {
    for (n_in, n_out) in [(35, 25), (94, 75), (11, 7)] {
        let fmp = Fmp::new(0.0, Sequence::Pseudorandom, Regions::Overlapping);
        let alpha = n_in as f64 / n_out as f64;
        for row in rows_of(&fmp.boundaries(n_in, n_out, 20, Device::Cpu)) {
            // Some u in (0, 1) must give a_i = ceil(alpha (i + u)) - ceil(alpha u).
            let fits = (1..10_000).map(|k| k as f64 / 10_000.0).any(|u| {
                (0..=n_out as usize).all(|i| {
                    let a = (alpha * (i as f64 + u)).ceil() - (alpha * u).ceil();
                    a as i64 == row[i]
                })
            });
            assert!(fits, "{n_in}->{n_out}: {row:?} fits no u");
        }
    }
}

#[test]
fn network_input_sizes_match_the_paper() {
    assert_eq!(fmp_net_config(6, 2f64.sqrt(), Pool::Fmp).input_size(), 36);
    assert_eq!(
        fmp_net_config(12, 2f64.powf(1.0 / 3.0), Pool::Fmp).input_size(),
        94
    );
    // The 2x2 max-pooling baseline at the same depth: pools after layers 2, 4, 6.
    assert_eq!(fmp_net_config(6, 2f64.sqrt(), Pool::Max2).input_size(), 30);
    let d = NetConfig::linear_dropout(6, 0.5);
    assert_eq!(d.len(), 8);
    assert!((d[7] - 0.5).abs() < 1e-12 && d[0] == 0.0);
}

#[test]
fn networks_reduce_their_input_to_one_pixel() {
    for (layers, alpha, pool) in [
        (6, 2f64.sqrt(), Pool::Fmp),
        (12, 2f64.powf(1.0 / 3.0), Pool::Fmp),
        (6, 2f64.sqrt(), Pool::Max2),
    ] {
        let cfg = fmp_net_config(layers, alpha, pool);
        let vs = nn::VarStore::new(Device::Cpu);
        let net = paperlab::fmp::model::net(&vs.root(), &cfg);
        let size = cfg.input_size();
        let x = Tensor::rand([2, 1, size, size], (Kind::Float, Device::Cpu));
        assert_eq!(
            net.forward_t(&x, true).size(),
            [2, 10],
            "{pool:?} L={layers}"
        );
    }
}
