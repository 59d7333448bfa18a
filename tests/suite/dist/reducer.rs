//! csrc/dist.cpp's gradient reducer in one process (a Gloo group of one,
//! where a sum over the processes leaves a gradient as it is): what
//! backward starts by itself, in what order, and what is left out. The sums
//! across processes are checked by dist/runs.rs against one process.

use crate::common::free_port;
use paperlab::runner::dist::group::{Group, Reducer, Store};
use tch::{Kind, Tensor};

fn group_of_one() -> (Store, Group) {
    let port = free_port();
    let store = Store::open("127.0.0.1", port, true, 1, "reducer/", 10_000).unwrap();
    let group = Group::open(&store, 0, 1, false, 10_000).unwrap();
    (store, group)
}

fn leaf(v: &[f32]) -> Tensor {
    Tensor::from_slice(v).set_requires_grad(true)
}

fn grad(t: &Tensor) -> Vec<f32> {
    Vec::<f32>::try_from(&t.grad()).unwrap()
}

#[test]
fn backward_starts_each_bucket_once_its_gradients_are_in_and_in_bucket_order() {
    let (_store, group) = group_of_one();
    let (a, b, unused) = (leaf(&[1.0, 2.0]), leaf(&[3.0]), leaf(&[5.0]));
    let loss = || (&a * &a).sum(Kind::Float) + (&b * 3.0).sum(Kind::Float);

    // Bucket 0 holds b alone: backward starts it. Bucket 1 waits for a
    // parameter that gets no gradient, so finish starts it, without it.
    let mut r = Reducer::new(&group, &[&a, &b, &unused], &[1, 0, 1]).unwrap();
    r.arm(4.0);
    loss().backward();
    assert_eq!(r.finish().unwrap(), 1);
    assert_eq!(grad(&a), vec![2.0, 4.0]);
    assert_eq!(grad(&b), vec![3.0]);
    assert!(!unused.grad().defined());
    drop(r);

    // Bucket 1 (a) is ready in backward but must not start before bucket 0,
    // which never is: every process launches its sums in the same order.
    let mut r = Reducer::new(&group, &[&unused, &a], &[0, 1]).unwrap();
    let _ = a.grad().zero_();
    r.arm(0.0);
    loss().backward();
    assert_eq!(r.finish().unwrap(), 0);
    assert_eq!(grad(&a), vec![2.0, 4.0]);
}
