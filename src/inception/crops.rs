//! Crop geometry and the image operations behind it.
//!
//! Evaluation (`--crops`):
//! - 1: timm's centre crop: the shorter side resized to floor(size /
//!   crop_pct) (the longer side in proportion, truncated, as torchvision's
//!   Resize), then the centre size x size square.
//! - 10: the same resize, then the four corners and the centre, each also
//!   mirrored (torchvision's TenCrop).
//! - 144: the GoogLeNet protocol the paper uses: the shorter side resized to
//!   4 scales (256, 288, 320 and 352 for a 224 input; in proportion,
//!   rounded, for other input sizes: 342, 384, 427 and 470 at 299), the
//!   left, centre and right squares (top, centre, bottom for a portrait
//!   image), from each the 4 corner crops, the centre crop and the whole
//!   square resized to the input size, each also mirrored: 4 x 3 x 6 x 2.
//!
//! Training on a folder: Inception-style random-resized crops (torchvision's
//! RandomResizedCrop: 8% to 100% of the area, aspect ratio 3/4 to 4/3), then
//! a random horizontal flip (done on the device with the batch).
//!
//! Resizing is bicubic with antialiasing (close to PIL's bicubic, which timm
//! uses), clamped to [0, 1]: libtorch's on float batches for evaluation, and
//! fast_image_resize's on the decoded bytes for training crops
//! ([`crop_resize_rgb`]: the same a = -0.5 kernel widened by the scale, with
//! fixed-point weights as PIL; 8x faster than libtorch's per image, see
//! BENCHMARKS.md).

use crate::data::imagenet::Rgb;
use crate::data::images::{centre_offset, resize_shorter};
use crate::rng::Rng;
use fast_image_resize::images::Image;
use fast_image_resize::{FilterType, PixelType, ResizeAlg, ResizeOptions, Resizer};
use tch::{Kind, Tensor};

/// One evaluation crop: resize the whole image to `resize` (width, height),
/// take the box at (x, y) of w x h, resize the box to the input size if it is
/// not already, mirror it if `flip`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Crop {
    pub resize: (i64, i64),
    pub x: i64,
    pub y: i64,
    pub w: i64,
    pub h: i64,
    pub flip: bool,
}

/// The accepted --crops values.
pub const COUNTS: [i64; 3] = [1, 10, 144];

/// Shorter sides of the 144-crop protocol for a 224 input.
pub const PROTOCOL_SCALES: [i64; 4] = [256, 288, 320, 352];

/// timm's resize before the centre crop: floor(size / crop_pct).
pub fn scale_size(size: i64, crop_pct: f64) -> i64 {
    // The small tolerance keeps e.g. 299 / (299 / 342) at 342.
    ((size as f64 / crop_pct) + 1e-9).floor() as i64
}

/// The single centre crop of a w x h image.
pub fn centre(w: i64, h: i64, size: i64, crop_pct: f64) -> Crop {
    let (rw, rh) = resize_shorter(w, h, scale_size(size, crop_pct));
    Crop {
        resize: (rw, rh),
        x: centre_offset(rw, size),
        y: centre_offset(rh, size),
        w: size,
        h: size,
        flip: false,
    }
}

/// The 4 corners, the centre, and the same mirrored.
pub fn ten(w: i64, h: i64, size: i64, crop_pct: f64) -> Vec<Crop> {
    let c = centre(w, h, size, crop_pct);
    let (rw, rh) = c.resize;
    let boxes = [
        (0, 0),
        (rw - size, 0),
        (0, rh - size),
        (rw - size, rh - size),
        (c.x, c.y),
    ];
    [false, true]
        .into_iter()
        .flat_map(|flip| boxes.map(|(x, y)| Crop { x, y, flip, ..c }))
        .collect()
}

/// The 144 crops of the GoogLeNet protocol (see the module docs), ordered
/// by scale, square, crop, flip.
pub fn protocol_144(w: i64, h: i64, size: i64) -> Vec<Crop> {
    let mut crops = Vec::with_capacity(144);
    for short in PROTOCOL_SCALES.map(|s| (s as f64 * size as f64 / 224.0).round() as i64) {
        let (rw, rh) = resize_shorter(w, h, short);
        let long = rw.max(rh);
        for along in [0, (long - short) / 2, long - short] {
            let (sx, sy) = if rw >= rh { (along, 0) } else { (0, along) };
            let d = short - size;
            let boxes = [
                (sx, sy, size),
                (sx + d, sy, size),
                (sx, sy + d, size),
                (sx + d, sy + d, size),
                (sx + d / 2, sy + d / 2, size),
                (sx, sy, short),
            ];
            for (x, y, side) in boxes {
                for flip in [false, true] {
                    crops.push(Crop {
                        resize: (rw, rh),
                        x,
                        y,
                        w: side,
                        h: side,
                        flip,
                    });
                }
            }
        }
    }
    crops
}

/// The crops for `count` (1, 10 or 144) of a w x h image.
pub fn plan(count: i64, w: i64, h: i64, size: i64, crop_pct: f64) -> Vec<Crop> {
    match count {
        1 => vec![centre(w, h, size, crop_pct)],
        10 => ten(w, h, size, crop_pct),
        144 => protocol_144(w, h, size),
        other => panic!("--crops {other}: expected one of {COUNTS:?}"),
    }
}

/// A random-resized-crop box (x, y, w, h) of a w x h image, as torchvision's
/// RandomResizedCrop.get_params with scale (0.08, 1) and ratio (3/4, 4/3).
pub fn random_resized(w: i64, h: i64, rng: &mut Rng) -> (i64, i64, i64, i64) {
    let area = (w * h) as f64;
    let (lo, hi) = ((3.0f64 / 4.0).ln(), (4.0f64 / 3.0).ln());
    for _ in 0..10 {
        let target = area * (0.08 + 0.92 * rng.uniform());
        let aspect = (lo + (hi - lo) * rng.uniform()).exp();
        let cw = (target * aspect).sqrt().round() as i64;
        let ch = (target / aspect).sqrt().round() as i64;
        if 0 < cw && cw <= w && 0 < ch && ch <= h {
            let y = rng.below((h - ch + 1) as u64) as i64;
            let x = rng.below((w - cw + 1) as u64) as i64;
            return (x, y, cw, ch);
        }
    }
    // Fall back to the centre, the aspect ratio clamped into range.
    let ratio = w as f64 / h as f64;
    let (cw, ch) = if ratio < 0.75 {
        (w, (w as f64 / 0.75).round() as i64)
    } else if ratio > 4.0 / 3.0 {
        ((h as f64 * 4.0 / 3.0).round() as i64, h)
    } else {
        (w, h)
    };
    ((w - cw) / 2, (h - ch) / 2, cw, ch)
}

/// The box (x, y, w, h) of `image` resized to size x size, bicubic with
/// antialiasing: interleaved RGB bytes.
pub fn crop_resize_rgb(image: &Rgb, (x, y, w, h): (i64, i64, i64, i64), size: i64) -> Vec<u8> {
    // Crop first (as PIL's crop then resize): the kernel sees no pixels outside the box.
    let (x, y, w, h) = (x as usize, y as usize, w as usize, h as usize);
    let mut boxed = Vec::with_capacity(w * h * 3);
    for row in y..y + h {
        let start = (row * image.width + x) * 3;
        boxed.extend_from_slice(&image.pixels[start..start + w * 3]);
    }
    let src = Image::from_vec_u8(w as u32, h as u32, boxed, PixelType::U8x3)
        .expect("a crop box inside the image");
    let mut dst = Image::new(size as u32, size as u32, PixelType::U8x3);
    let options = ResizeOptions::new().resize_alg(ResizeAlg::Convolution(FilterType::CatmullRom));
    Resizer::new()
        .resize(&src, &mut dst, &options)
        .expect("RGB to RGB resizes");
    dst.into_vec()
}

/// Resize float images [B, C, H, W] in [0, 1] to height x width.
pub fn resize(images: &Tensor, height: i64, width: i64) -> Tensor {
    let s = images.size();
    if s[2] == height && s[3] == width {
        return images.shallow_clone();
    }
    images
        .internal_upsample_bicubic2d_aa([height, width], false, None, None)
        .clamp(0.0, 1.0)
}

/// Float [B, 3, H, W] in [0, 1] from uint8 or float images with 1 or 3 channels.
pub fn to_rgb_float(images: &Tensor) -> Tensor {
    let x = if images.kind() == Kind::Uint8 {
        images.to_kind(Kind::Float) / 255.0
    } else {
        images.shallow_clone()
    };
    if x.size()[1] == 1 {
        x.expand([-1, 3, -1, -1], false)
    } else {
        x
    }
}

/// Applies crops to a batch of same-sized images, reusing the resized image
/// while consecutive crops share a scale.
pub struct Cropper<'a> {
    images: &'a Tensor,
    size: i64,
    resized: Option<((i64, i64), Tensor)>,
}

impl<'a> Cropper<'a> {
    /// `images`: float [B, 3, H, W] in [0, 1].
    pub fn new(images: &'a Tensor, size: i64) -> Cropper<'a> {
        Cropper {
            images,
            size,
            resized: None,
        }
    }

    /// [B, 3, size, size].
    pub fn crop(&mut self, c: &Crop) -> Tensor {
        let (rw, rh) = c.resize;
        if self.resized.as_ref().map(|(k, _)| *k) != Some((rw, rh)) {
            self.resized = Some(((rw, rh), resize(self.images, rh, rw)));
        }
        let full = &self.resized.as_ref().unwrap().1;
        let boxed = full.narrow(2, c.y, c.h).narrow(3, c.x, c.w);
        let out = resize(&boxed, self.size, self.size);
        if c.flip {
            out.flip([3])
        } else {
            out
        }
    }
}
