//! `Fmp::forward` picks PyTorch's kernel or the general path by thread
//! count and plane size; both must pool the same windows from the same
//! random stream, or a run's draws would depend on `--threads`. Its own
//! binary, since it sets the process's thread count and seed.

use paperlab::layers::fmp::{Fmp, Regions, Sequence, Share};
use tch::{Device, Kind, Tensor};

#[test]
fn forward_pools_the_same_windows_at_one_and_two_threads() {
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
