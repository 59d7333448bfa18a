//! data/mnist-10k (scripts/mnist_digits.py, run by `make test`'s setup): the
//! files hold what the script's documentation says, read through paperlab's
//! own loader.

use paperlab::data::{self, DatasetName};
use std::path::Path;
use std::process::Command;

const TRAIN_PER_DIGIT: [i64; 10] = [901, 1027, 891, 932, 880, 763, 914, 970, 844, 878];

/// The SHA-256 of each converted file, as the script wrote them on the
/// machine that added it: the split is fixed.
const SUMS: [(&str, &str); 4] = [
    (
        "train-images-idx3-ubyte",
        "3b0d7caa1a884f1b2e6663ca85377da3049b02db56130b7286410b895700755c",
    ),
    (
        "train-labels-idx1-ubyte",
        "fc050a2add74953dd476ecdae395f5f84c77917494e13011b248f2306f7fe17c",
    ),
    (
        "t10k-images-idx3-ubyte",
        "327184a74980bfaa4d0d1473b27ca546841bba74b00941058f7cfcbb93096837",
    ),
    (
        "t10k-labels-idx1-ubyte",
        "66e4c6deb5f2a061f7d8cd5ec53025fdb9dabb08265e449acb8cf64b8cd36cac",
    ),
];

fn counts(labels: &tch::Tensor) -> Vec<i64> {
    Vec::<i64>::try_from(labels.bincount(None::<tch::Tensor>, 10)).unwrap()
}

#[test]
fn the_split_is_9000_and_1000_class_balanced_with_bytes_in_range() {
    let name: DatasetName = "mnist-10k".parse().unwrap();
    let splits =
        data::load(&name, Path::new("data")).expect("make data-mnist writes data/mnist-10k");
    assert_eq!((splits.train.len(), splits.test.len()), (9000, 1000));
    assert_eq!(splits.train.image_shape(), [1, 28, 28]);
    assert_eq!(counts(&splits.train.labels), TRAIN_PER_DIGIT);
    assert_eq!(counts(&splits.test.labels), [100; 10]);
    // The digits take turns, so the first ten of each split are 0..9.
    let first: Vec<i64> = Vec::try_from(splits.test.labels.narrow(0, 0, 10)).unwrap();
    assert_eq!(first, (0..10).collect::<Vec<i64>>());
    let train_first: Vec<i64> = Vec::try_from(splits.train.labels.narrow(0, 0, 10)).unwrap();
    assert_eq!(train_first, (0..10).collect::<Vec<i64>>());
    // Digits use the whole byte range: black background, white strokes.
    let images = splits.train.images.to_kind(tch::Kind::Int64);
    assert_eq!(
        (images.min().int64_value(&[]), images.max().int64_value(&[])),
        (0, 255)
    );
}

#[test]
fn the_files_are_the_fixed_split() {
    for (file, expected) in SUMS {
        let out = Command::new("sha256sum")
            .arg(Path::new("data/mnist-10k").join(file))
            .output()
            .unwrap();
        let text = String::from_utf8(out.stdout).unwrap();
        assert_eq!(text.split_whitespace().next(), Some(expected), "{file}");
    }
}
