//! Dataset readers against tiny files in the real formats, good and corrupt,
//! and the batching helpers.

use crate::common;
use common::{assert_mentions, idx};

use std::io::Write;
use std::path::Path;

use paperlab::data::batches::{batch, epoch_order, pad_to};
use paperlab::data::{available, load, Dataset, DatasetName};
use paperlab::error::exit_code;
use tch::{Device, Kind, Tensor};

fn write(path: &Path, bytes: &[u8]) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, bytes).unwrap();
}

fn write_gz(path: &Path, bytes: &[u8]) {
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(bytes).unwrap();
    write(path, &gz.finish().unwrap());
}

/// Deterministic pixel bytes.
fn pixels(n: usize, salt: usize) -> Vec<u8> {
    (0..n).map(|i| ((i * 7 + salt * 31) % 256) as u8).collect()
}

/// An IDX dataset of 5 train and 2 test 3x4 images: train raw, test gzipped.
fn write_idx_dataset(dir: &Path) -> (Vec<u8>, Vec<u8>) {
    let (train, test) = (pixels(5 * 12, 1), pixels(2 * 12, 2));
    write(
        &dir.join("train-images-idx3-ubyte"),
        &idx(2051, &[5, 3, 4], &train),
    );
    write(
        &dir.join("train-labels-idx1-ubyte"),
        &idx(2049, &[5], &[0, 9, 3, 3, 1]),
    );
    write_gz(
        &dir.join("t10k-images-idx3-ubyte.gz"),
        &idx(2051, &[2, 3, 4], &test),
    );
    write_gz(
        &dir.join("t10k-labels-idx1-ubyte.gz"),
        &idx(2049, &[2], &[7, 2]),
    );
    (train, test)
}

fn bytes_of(t: &Tensor) -> Vec<u8> {
    Vec::<u8>::try_from(t.flatten(0, -1)).unwrap()
}

fn longs(t: &Tensor) -> Vec<i64> {
    Vec::<i64>::try_from(t.flatten(0, -1)).unwrap()
}

/// The error of a load expected to fail, with its exit code checked.
fn load_err(name: &DatasetName, data_dir: &Path) -> String {
    let err = load(name, data_dir).expect_err("load should fail");
    assert_eq!(exit_code(&err), 2, "{err}");
    err.to_string()
}

#[test]
fn idx_raw_and_gz() {
    let tmp = common::tempdir();
    let (train, test) = write_idx_dataset(&tmp.path().join("fashion-mnist"));
    let splits = load(&DatasetName::FashionMnist, tmp.path()).unwrap();
    assert_eq!(splits.train.images.size(), [5, 1, 3, 4]);
    assert_eq!(splits.train.images.kind(), Kind::Uint8);
    assert_eq!(splits.train.labels.kind(), Kind::Int64);
    assert_eq!(splits.train.image_shape(), [1, 3, 4]);
    assert_eq!(bytes_of(&splits.train.images), train);
    assert_eq!(longs(&splits.train.labels), [0, 9, 3, 3, 1]);
    assert_eq!(bytes_of(&splits.test.images), test);
    assert_eq!(longs(&splits.test.labels), [7, 2]);
    assert_eq!((splits.train.classes, splits.test.len()), (10, 2));
}

#[test]
fn mnist_uses_its_own_directory() {
    let tmp = common::tempdir();
    write_idx_dataset(&tmp.path().join("mnist"));
    assert_eq!(
        load(&DatasetName::Mnist, tmp.path()).unwrap().train.len(),
        5
    );
    let message = load_err(&DatasetName::FashionMnist, tmp.path());
    assert_mentions(
        &message,
        &["fashion-mnist", "train-images-idx3-ubyte", "data/README.md"],
    );
}

#[test]
fn idx_errors_name_the_file() {
    let tmp = common::tempdir();
    let dir = tmp.path().join("mnist");
    let images = dir.join("train-images-idx3-ubyte");
    let labels = dir.join("train-labels-idx1-ubyte");
    write_idx_dataset(&dir);

    write(&images, &idx(2051, &[5, 3, 4], &pixels(50, 0)));
    assert_mentions(
        &load_err(&DatasetName::Mnist, tmp.path()),
        &["train-images-idx3-ubyte", "truncated", "76", "66"],
    );

    write(&images, &idx(2049, &[5, 3, 4], &pixels(60, 0)));
    assert_mentions(
        &load_err(&DatasetName::Mnist, tmp.path()),
        &["train-images-idx3-ubyte", "2051", "2049"],
    );

    write(&images, &idx(2051, &[5, 3, 4], &pixels(60, 0)));
    write(&labels, &idx(2049, &[4], &[1, 2, 3, 4]));
    assert_mentions(
        &load_err(&DatasetName::Mnist, tmp.path()),
        &[
            "train-images-idx3-ubyte",
            "train-labels-idx1-ubyte",
            "5 images",
            "4 labels",
        ],
    );

    write(&labels, &idx(2049, &[5], &[1, 2, 10, 4, 5]));
    assert_mentions(
        &load_err(&DatasetName::Mnist, tmp.path()),
        &["train-labels-idx1-ubyte", "label 10", "out of range"],
    );

    write_gz(
        &dir.join("t10k-images-idx3-ubyte.gz"),
        &idx(2051, &[2, 3, 4], &pixels(10, 0)),
    );
    write(&labels, &idx(2049, &[5], &[1, 2, 3, 4, 5]));
    assert_mentions(
        &load_err(&DatasetName::Mnist, tmp.path()),
        &["t10k-images-idx3-ubyte.gz", "truncated"],
    );

    std::fs::remove_file(dir.join("t10k-images-idx3-ubyte.gz")).unwrap();
    assert_mentions(
        &load_err(&DatasetName::Mnist, tmp.path()),
        &["t10k-images-idx3-ubyte", "not found"],
    );
}

/// CIFAR records: label bytes then a 3072-byte image.
fn cifar_records(labels: &[&[u8]], salt: usize) -> (Vec<u8>, Vec<u8>) {
    let (mut file, mut images) = (Vec::new(), Vec::new());
    for (i, label) in labels.iter().enumerate() {
        let image = pixels(3072, salt * 10 + i);
        file.extend(*label);
        file.extend(&image);
        images.extend(image);
    }
    (file, images)
}

#[test]
fn cifar10_batches() {
    let tmp = common::tempdir();
    let dir = tmp.path().join("cifar-10-batches-bin");
    let mut train_images = Vec::new();
    for i in 1..=5u8 {
        let (file, images) = cifar_records(&[&[i], &[9 - i]], i as usize);
        write(&dir.join(format!("data_batch_{i}.bin")), &file);
        train_images.extend(images);
    }
    let (file, test_images) = cifar_records(&[&[0], &[5], &[9]], 7);
    write(&dir.join("test_batch.bin"), &file);

    let splits = load(&DatasetName::Cifar10, tmp.path()).unwrap();
    assert_eq!(splits.train.images.size(), [10, 3, 32, 32]);
    assert_eq!(bytes_of(&splits.train.images), train_images);
    assert_eq!(longs(&splits.train.labels), [1, 8, 2, 7, 3, 6, 4, 5, 5, 4]);
    assert_eq!(bytes_of(&splits.test.images), test_images);
    assert_eq!(longs(&splits.test.labels), [0, 5, 9]);
    assert_eq!(splits.test.classes, 10);
    // Channel-major: the first 1024 bytes of a record are the red plane.
    assert_eq!(
        splits.test.images.int64_value(&[0, 1, 0, 0]),
        i64::from(test_images[1024])
    );

    write(&dir.join("data_batch_3.bin"), &file[..3073 * 2 - 1]);
    assert_mentions(
        &load_err(&DatasetName::Cifar10, tmp.path()),
        &["data_batch_3.bin", "3073", "6145"],
    );

    std::fs::remove_file(dir.join("data_batch_3.bin")).unwrap();
    assert_mentions(
        &load_err(&DatasetName::Cifar10, tmp.path()),
        &["data_batch_3.bin", "could not read"],
    );
}

#[test]
fn cifar100_fine_and_coarse() {
    let tmp = common::tempdir();
    let dir = tmp.path().join("cifar-100-binary");
    let (train, train_images) = cifar_records(&[&[3, 99], &[19, 0], &[0, 42]], 1);
    write(&dir.join("train.bin"), &train);
    write(&dir.join("test.bin"), &cifar_records(&[&[4, 5]], 2).0);

    let fine = load(&DatasetName::Cifar100, tmp.path()).unwrap();
    assert_eq!(
        (fine.train.classes, fine.train.images.size()),
        (100, vec![3, 3, 32, 32])
    );
    assert_eq!(bytes_of(&fine.train.images), train_images);
    assert_eq!(longs(&fine.train.labels), [99, 0, 42]);
    assert_eq!(longs(&fine.test.labels), [5]);

    let coarse = load(&DatasetName::Cifar100Coarse, tmp.path()).unwrap();
    assert_eq!(coarse.train.classes, 20);
    assert_eq!(longs(&coarse.train.labels), [3, 19, 0]);
    assert_eq!(longs(&coarse.test.labels), [4]);

    write(&dir.join("test.bin"), &cifar_records(&[&[20, 5]], 2).0);
    assert_mentions(
        &load_err(&DatasetName::Cifar100Coarse, tmp.path()),
        &["test.bin", "label 20", "20 classes"],
    );

    write(&dir.join("train.bin"), &train[..3074 * 3 - 10]);
    assert_mentions(
        &load_err(&DatasetName::Cifar100, tmp.path()),
        &["train.bin", "3074"],
    );
}

/// A uint8 [3, h, w] image with values from `salt`.
fn image(h: i64, w: i64, salt: usize) -> Tensor {
    Tensor::from_slice(&pixels((3 * h * w) as usize, salt)).view([3, h, w])
}

#[test]
fn image_folder() {
    let tmp = common::tempdir();
    let root = tmp.path().join("shapes");
    let (a, b, c, d) = (
        image(4, 5, 1),
        image(4, 5, 2),
        image(4, 5, 3),
        image(4, 5, 4),
    );
    for (t, path) in [
        (&a, "train/cat/1.png"),
        (&b, "train/cat/2.png"),
        (&c, "train/dog/x.png"),
        (&d, "test/dog/y.png"),
    ] {
        std::fs::create_dir_all(root.join(path).parent().unwrap()).unwrap();
        tch::vision::image::save(t, root.join(path)).unwrap();
    }
    std::fs::create_dir_all(root.join("test/cat")).unwrap();
    tch::vision::image::save(&image(8, 10, 5), root.join("test/cat/big.png")).unwrap();

    let name: DatasetName = format!("folder:{}", root.display()).parse().unwrap();
    assert_eq!(name.dir(Path::new("unused")), root);
    let splits = load(&name, Path::new("unused")).unwrap();
    assert_eq!(
        (splits.train.classes, splits.train.images.size()),
        (2, vec![3, 3, 4, 5])
    );
    assert_eq!(longs(&splits.train.labels), [0, 0, 1]);
    let expected = Tensor::stack(&[&a, &b, &c], 0);
    assert_eq!(bytes_of(&splits.train.images), bytes_of(&expected));
    assert_eq!(
        splits.test.images.size(),
        [2, 3, 4, 5],
        "the 8x10 test image is resized"
    );
    assert_eq!(longs(&splits.test.labels), [0, 1]);
    assert_eq!(bytes_of(&splits.test.images.get(1)), bytes_of(&d));

    write(&root.join("test/dog/y.png"), b"not a png");
    assert_mentions(
        &load_err(&name, Path::new("")),
        &["y.png", "could not read image"],
    );

    std::fs::remove_file(root.join("test/dog/y.png")).unwrap();
    assert_mentions(&load_err(&name, Path::new("")), &["test/dog", "empty"]);

    std::fs::remove_dir(root.join("test/dog")).unwrap();
    assert_mentions(
        &load_err(&name, Path::new("")),
        &["test", "same class names"],
    );

    let bare = tmp.path().join("bare");
    std::fs::create_dir_all(bare.join("train")).unwrap();
    let bare_name = DatasetName::Folder(bare);
    assert_mentions(
        &load_err(&bare_name, Path::new("")),
        &["bare/train", "no class subfolders"],
    );
}

#[test]
fn names_parse_display_and_directories() {
    for text in [
        "fashion-mnist",
        "mnist",
        "cifar10",
        "cifar100",
        "cifar100-coarse",
        "folder:some/dir",
    ] {
        let name: DatasetName = text.parse().unwrap();
        assert_eq!(name.to_string(), text);
        // config.json holds the flag string and reads it back.
        let saved = serde_json::to_value(&name).unwrap();
        assert_eq!(saved, serde_json::json!(text));
        assert_eq!(serde_json::from_value::<DatasetName>(saved).unwrap(), name);
    }
    // Runs saved before that hold serde's derived form; those still load.
    for (old, text) in [
        (serde_json::json!("FashionMnist"), "fashion-mnist"),
        (serde_json::json!("Cifar100Coarse"), "cifar100-coarse"),
        (serde_json::json!({"Folder": "some/dir"}), "folder:some/dir"),
    ] {
        let name: DatasetName = serde_json::from_value(old).unwrap();
        assert_eq!(name.to_string(), text);
    }
    let err = serde_json::from_value::<DatasetName>(serde_json::json!("imagenet")).unwrap_err();
    assert_mentions(&err.to_string(), &["imagenet", "fashion-mnist"]);
    let err = "imagenet".parse::<DatasetName>().unwrap_err();
    assert_mentions(
        &err,
        &[
            "imagenet",
            "fashion-mnist",
            "cifar100-coarse",
            "folder:PATH",
        ],
    );
    assert!("folder:".parse::<DatasetName>().is_err());

    let tmp = common::tempdir();
    assert!(available(tmp.path()).is_empty());
    std::fs::create_dir(tmp.path().join("mnist")).unwrap();
    std::fs::create_dir(tmp.path().join("cifar-10-batches-bin")).unwrap();
    let found: Vec<DatasetName> = available(tmp.path())
        .into_iter()
        .map(|(name, _)| name)
        .collect();
    assert_eq!(found, [DatasetName::Mnist, DatasetName::Cifar10]);

    let message = load_err(&DatasetName::Cifar100, tmp.path());
    assert_mentions(
        &message,
        &["cifar-100-binary", "train.bin", "data/README.md"],
    );
}

fn tiny_dataset(n: i64) -> Dataset {
    Dataset {
        images: Tensor::arange(n * 4, (Kind::Uint8, Device::Cpu)).view([n, 1, 2, 2]),
        labels: Tensor::arange(n, (Kind::Int64, Device::Cpu)),
        classes: n,
    }
}

#[test]
fn limit_and_split_last() {
    let ds = tiny_dataset(10);
    assert_eq!(ds.limit(None).len(), 10);
    assert_eq!(longs(&ds.limit(Some(3)).labels), [0, 1, 2]);
    assert_eq!(ds.limit(Some(99)).len(), 10);
    let (train, valid) = ds.split_last(4);
    assert_eq!(longs(&train.labels), [0, 1, 2, 3, 4, 5]);
    assert_eq!(longs(&valid.labels), [6, 7, 8, 9]);
    assert_eq!(valid.images.size(), [4, 1, 2, 2]);
    assert_eq!(valid.images.int64_value(&[0, 0, 0, 0]), 24);
}

#[test]
fn epoch_order_is_a_reproducible_permutation() {
    let order = epoch_order(1000, 42, 3);
    let mut sorted = order.clone();
    sorted.sort();
    assert_eq!(sorted, (0..1000).collect::<Vec<i64>>());
    assert_eq!(order, epoch_order(1000, 42, 3));
    assert_ne!(order, epoch_order(1000, 42, 4));
    assert_ne!(order, epoch_order(1000, 43, 3));
}

#[test]
fn batch_scales_to_unit_interval() {
    let ds = Dataset {
        images: Tensor::from_slice(&[0u8, 51, 255, 128, 7, 200]).view([3, 1, 1, 2]),
        labels: Tensor::from_slice(&[4i64, 5, 6]),
        classes: 7,
    };
    let device = Device::cuda_if_available();
    let b = batch(&ds, &[2, 0], device);
    assert_eq!(
        (b.images.device(), b.images.kind(), b.labels.kind()),
        (device, Kind::Float, Kind::Int64)
    );
    let values = Vec::<f32>::try_from(b.images.flatten(0, -1).to_device(Device::Cpu)).unwrap();
    let expected: Vec<f32> = [7u8, 200, 0, 51]
        .iter()
        .map(|&v| v as f32 / 255.0)
        .collect();
    assert!(
        values
            .iter()
            .zip(&expected)
            .all(|(v, e)| (v - e).abs() < 1e-6),
        "{values:?}"
    );
    assert!(values.iter().all(|v| (0.0..=1.0).contains(v)));
    assert_eq!(longs(&b.labels.to_device(Device::Cpu)), [6, 4]);
}

#[test]
fn pad_to_centres_with_the_odd_pixel_bottom_right() {
    let images = Tensor::ones([2, 3, 2, 3], (Kind::Float, Device::Cpu));
    let padded = pad_to(&images, 5);
    assert_eq!(padded.size(), [2, 3, 5, 5]);
    assert_eq!(padded.sum(Kind::Float).double_value(&[]), 36.0);
    // Rows 1..3 and columns 1..4 hold the image: top 1, bottom 2, left 1, right 1.
    assert_eq!(
        padded
            .narrow(2, 1, 2)
            .narrow(3, 1, 3)
            .sum(Kind::Float)
            .double_value(&[]),
        36.0
    );
    assert_eq!(
        pad_to(&images, 3)
            .narrow(2, 0, 2)
            .sum(Kind::Float)
            .double_value(&[]),
        36.0
    );
}

#[test]
fn debian_fashion_mnist() {
    let source = Path::new("/usr/share/datasets/fashion-mnist");
    if !source.is_dir() {
        eprintln!(
            "skipping: {} is absent (apt-get install dataset-fashion-mnist)",
            source.display()
        );
        return;
    }
    let tmp = common::tempdir();
    std::os::unix::fs::symlink(source, tmp.path().join("fashion-mnist")).unwrap();
    let splits = load(&DatasetName::FashionMnist, tmp.path()).unwrap();
    assert_eq!((splits.train.len(), splits.test.len()), (60000, 10000));
    assert_eq!(splits.train.image_shape(), [1, 28, 28]);
    assert_eq!(splits.train.classes, 10);
    // Fashion-MNIST is balanced: 6,000 training images per class.
    assert_eq!(
        longs(&splits.train.labels.bincount::<Tensor>(None, 10)),
        [6000; 10]
    );
}

#[test]
fn uploads_keep_the_values_and_pinning_fails_cleanly_without_a_gpu() {
    use paperlab::data::batches::upload;
    let t = Tensor::arange(12, (tch::Kind::Uint8, tch::Device::Cpu)).view([3, 4]);
    assert!(upload(&t, tch::Device::Cpu).equal(&t));
    // Page-locked memory needs an accelerator: a copy with one; without,
    // libtorch's message minus its C++ backtrace, never an abort.
    match paperlab::native::pin_memory(&t) {
        Ok(pinned) => assert!(pinned.equal(&t)),
        Err(message) => {
            assert!(!tch::Cuda::is_available(), "{message}");
            assert!(
                !message.is_empty() && !message.contains("frame #"),
                "{message}"
            );
        }
    }
    if tch::Cuda::is_available() {
        // Where there is a GPU the pinned path must be the one taken.
        assert!(paperlab::native::pin_memory(&t).is_ok());
        let on_gpu = upload(&t, tch::Device::Cuda(0));
        assert!(on_gpu.to_device(tch::Device::Cpu).equal(&t));
    }
}
