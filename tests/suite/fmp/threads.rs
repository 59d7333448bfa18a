//! `Fmp::forward` picks PyTorch's kernel or the general path by thread
//! count and plane size; both must pool the same windows from the same
//! random stream, or a run's draws would depend on `--threads`. Each test
//! runs alone in a process of its own, since it sets the process's thread
//! count and seed, and compares draws.

use crate::common::alone;
use paperlab::layers::fmp::{Fmp, Regions, Sequence, Share};
use tch::{Device, Kind, Tensor};

#[test]
fn forward_pools_the_same_windows_at_one_and_two_threads() {
    alone!(forward_pools_the_same_windows_at_one_and_two_threads);
    for share in [Share::Image, Share::Batch] {
        let fmp = Fmp {
            share,
            window: Some(2),
            ..Fmp::new(2f64.sqrt(), Sequence::Pseudorandom, Regions::Overlapping)
        };
        // Distinct values, so no ties the two paths could break differently.
        let x = Tensor::randperm(6 * 3 * 35 * 35, (Kind::Int64, Device::Cpu))
            .to_kind(Kind::Float)
            .view([6, 3, 35, 35]);
        let pool = |threads| {
            tch::set_num_threads(threads);
            tch::manual_seed(11);
            let first = fmp.forward(&x);
            // The next draw too: both paths consume the stream alike.
            (first, fmp.forward(&x))
        };
        let (one, one_next) = pool(1);
        let (two, two_next) = pool(2);
        assert!(
            one.equal(&two),
            "{share:?}: 1 and 2 threads pooled different windows"
        );
        assert!(
            one_next.equal(&two_next),
            "{share:?}: the stream advanced differently"
        );
        assert!(
            !one.equal(&one_next),
            "{share:?}: two draws pooled the same windows"
        );
    }
}

/// Under --precision bf16 or fp16 the kernel still pools (f32 around it,
/// where PyTorch's kernel would draw half-precision windows), choosing
/// f32's windows from the same draws; other types take the general path.
#[test]
fn half_inputs_take_the_kernel_with_f32_windows() {
    alone!(half_inputs_take_the_kernel_with_f32_windows);
    tch::set_num_threads(2);
    let fmp = Fmp {
        window: Some(2),
        ..Fmp::new(2f64.sqrt(), Sequence::Pseudorandom, Regions::Overlapping)
    };
    // Integers below 256, which bf16 and fp16 hold exactly.
    let x = Tensor::randperm(4 * 21 * 21, (Kind::Int64, Device::Cpu))
        .remainder(256)
        .to_kind(Kind::Float)
        .view([4, 1, 21, 21]);
    let (h_out, w_out) = fmp.output_size(21, 21);
    for kind in [Kind::BFloat16, Kind::Half] {
        let half = x.to_kind(kind);
        assert!(fmp.takes_kernel(&half, h_out, w_out), "{kind:?}");
        tch::manual_seed(5);
        let pooled = fmp.forward(&half);
        tch::manual_seed(5);
        let expected = fmp.forward(&x).to_kind(kind);
        assert_eq!(pooled.kind(), kind);
        assert!(pooled.equal(&expected), "{kind:?} pooled other windows");
    }
    assert!(!fmp.takes_kernel(&x.to_kind(Kind::Double), h_out, w_out));
}
