//! The lazy folder loader's decoding and training crops (zune-jpeg and
//! fast_image_resize; stb_image for PNGs and what zune-jpeg refuses).

use crate::common;
use common::assert_close;

use paperlab::data::imagenet::{decode_file, decode_jpeg, LazyFolder};
use paperlab::inception::crops::crop_resize_rgb;
use paperlab::inception::data::FolderTrain;
use tch::{Kind, Tensor};

/// A smooth uint8 [3, h, w] test image.
fn image(h: i64, w: i64) -> Tensor {
    let y = Tensor::arange(h, (Kind::Float, tch::Device::Cpu)).view([1, h, 1]);
    let x = Tensor::arange(w, (Kind::Float, tch::Device::Cpu)).view([1, 1, w]);
    let c = Tensor::from_slice(&[1.0f32, 2.0, 3.0]).view([3, 1, 1]);
    (&y * 2.0 + &x * &c).clamp(0.0, 255.0).to_kind(Kind::Uint8)
}

/// The largest difference of two images (0: the same).
fn max_diff(a: &Tensor, b: &Tensor) -> f64 {
    (a.to_kind(Kind::Float) - b.to_kind(Kind::Float))
        .abs()
        .max()
        .double_value(&[])
}

#[test]
fn jpeg_and_png_decode_to_rgb_as_stb_image_does() {
    let dir = common::tempdir();
    let img = image(37, 53);
    let jpg = dir.path().join("a.jpg");
    tch::vision::image::save(&img, &jpg).unwrap();
    // A PNG under a JPEG name (ImageNet has one): told apart by its bytes,
    // read by the fallback.
    let png = dir.path().join("b.JPEG");
    tch::vision::image::save(&img, dir.path().join("b.png")).unwrap();
    std::fs::rename(dir.path().join("b.png"), &png).unwrap();

    // The fast decoder itself reads it; stb_image is only the fallback.
    assert!(decode_jpeg(&std::fs::read(&jpg).unwrap()).is_some());
    let ours = decode_file(&jpg).unwrap();
    assert_eq!((ours.width, ours.height), (53, 37));
    let stb = tch::vision::image::load(&jpg).unwrap();
    assert_eq!(ours.tensor().size(), [3, 37, 53]);
    assert_close(
        &ours.tensor(),
        &stb,
        0.0,
        8.0,
        "zune-jpeg against stb_image",
    );

    let from_png = decode_file(&png).unwrap();
    assert_eq!(max_diff(&from_png.tensor(), &img), 0.0);

    std::fs::write(dir.path().join("bad.jpg"), [0xFF, 0xD8, 1, 2, 3]).unwrap();
    let err = decode_file(&dir.path().join("bad.jpg")).unwrap_err();
    assert!(err.to_string().contains("bad.jpg"), "{err}");
}

#[test]
fn training_crops_are_seeded_and_resize_like_libtorch() {
    let dir = common::tempdir();
    for class in ["a", "b"] {
        std::fs::create_dir(dir.path().join(class)).unwrap();
        for i in 0..3 {
            tch::vision::image::save(
                &image(40 + i, 60),
                dir.path().join(format!("{class}/{i}.png")),
            )
            .unwrap();
        }
    }
    let train = FolderTrain {
        folder: LazyFolder::open(dir.path(), None).unwrap(),
        size: 24,
        workers: 2,
    };
    let idx = [0, 3, 5, 1];
    let a = train.bytes(&idx, 7).unwrap();
    assert_eq!(a.size(), [4, 24, 24, 3]);
    assert_eq!(max_diff(&a, &train.bytes(&idx, 7).unwrap()), 0.0);
    assert!(max_diff(&a, &train.bytes(&idx, 8).unwrap()) > 0.0);

    // A crop resized by fast_image_resize is close to libtorch's bicubic AA.
    let rgb = decode_file(&dir.path().join("a/0.png")).unwrap();
    let ours = Tensor::from_slice(&crop_resize_rgb(&rgb, (5, 3, 50, 30), 24)).view([24, 24, 3]);
    let boxed = rgb
        .tensor()
        .narrow(1, 3, 30)
        .narrow(2, 5, 50)
        .unsqueeze(0)
        .to_kind(Kind::Float)
        / 255.0;
    let theirs = (paperlab::inception::crops::resize(&boxed, 24, 24) * 255.0)
        .round()
        .squeeze_dim(0)
        .permute([1, 2, 0]);
    assert_close(
        &ours,
        &theirs,
        0.0,
        3.0,
        "fast_image_resize against libtorch",
    );
    // A square box at its own size comes back unchanged.
    let same = Tensor::from_slice(&crop_resize_rgb(&rgb, (10, 2, 30, 30), 30)).view([30, 30, 3]);
    let boxed = rgb
        .tensor()
        .narrow(1, 2, 30)
        .narrow(2, 10, 30)
        .permute([1, 2, 0]);
    assert_eq!(max_diff(&same, &boxed), 0.0);
}
