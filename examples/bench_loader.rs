//! Benchmark (not a test) of the lazy JPEG folder loader; `make bench-loader`
//! runs it through scripts/bench_loader.sh next to scripts/bench_loader.py
//! (torchvision's ImageFolder + DataLoader with the same transform).
//!
//! Each pipeline turns a batch of files into uint8 [B, 3, SIZE, SIZE]
//! (contiguous NCHW, as torchvision's collate gives): decode to RGB, take an
//! Inception random-resized crop (`crops::random_resized`), resize it to
//! SIZE x SIZE bicubic with antialiasing. A batch is decoded on W scoped
//! threads (`map_parallel`, as the trainer does). Pipelines are named
//! decoder+resizer:
//!
//! - decoders: `stb` (stb_image through tch), `zune` (zune-jpeg),
//!   `jpegdec` (jpeg-decoder), `image` (the image crate's reader);
//! - resizers: `torch` (libtorch's `_upsample_bicubic2d_aa` on float, what
//!   paperlab did before), `fir` (fast_image_resize, Catmull-Rom = bicubic
//!   a = -0.5 on u8 with fixed-point weights, as PIL), `imageops` (the image
//!   crate's resize, Catmull-Rom on f32).
//!
//! `paperlab` is the real trainer's loader (`FolderTrain::batch`), whatever
//! it is built from now. `feed-pK` is that loader behind the engine's feed
//! (runner/engine/feed.rs) with `--prefetch K`, each batch followed by a step of
//! BENCH_STEP_MS during which the host waits, as for a GPU step; with K > 0
//! a loader thread loads the next K batches meanwhile. Environment:
//! BENCH_DIR (a folder of class subfolders), BENCH_WORKERS (e.g. "1,2"),
//! BENCH_BATCH (32), BENCH_SIZE (299), BENCH_PIPES (comma list; default
//! all), BENCH_PREFETCH (the feed's K values, a comma or space list;
//! default none), BENCH_STEP_MS (100), BENCH_THREADS (libtorch intra-op
//! threads; default libtorch's), BENCH_PARTS=1 (also time each decoder and
//! resizer alone on one thread). Prints `SAMPLE pipe workers images_per_s`,
//! one line per pass over the folder.

use paperlab::data::examples::Examples;
use paperlab::data::imagenet::{decode_file, LazyFolder, Rgb};
use paperlab::data::parallel::map_parallel;
use paperlab::inception::crops::{crop_resize_rgb, random_resized, resize};
use paperlab::inception::data::FolderTrain;
use paperlab::rng::Rng;
use paperlab::runner::engine::feed::{Feed, Plan};
use std::path::Path;
use std::time::{Duration, Instant};
use tch::{Device, Kind, Tensor};

mod common;
use common::env;

fn decode(decoder: &str, path: &Path) -> Rgb {
    match decoder {
        "stb" => {
            let t = tch::vision::image::load(path).unwrap(); // [3, H, W] view of HWC
            let (_, h, w) = t.size3().unwrap();
            let hwc = t.permute([1, 2, 0]).contiguous();
            let mut px = vec![0u8; (h * w * 3) as usize];
            let len = px.len();
            hwc.copy_data(&mut px, len);
            Rgb {
                width: w as usize,
                height: h as usize,
                pixels: px,
            }
        }
        // paperlab's loader: zune-jpeg (stb_image for what it refuses)
        "zune" => decode_file(path).unwrap(),
        "zune-raw" => {
            let bytes = std::fs::read(path).unwrap();
            let opts = zune_jpeg::zune_core::options::DecoderOptions::new_fast()
                .jpeg_set_out_colorspace(zune_jpeg::zune_core::colorspace::ColorSpace::RGB);
            let mut d = zune_jpeg::JpegDecoder::new_with_options(
                zune_jpeg::zune_core::bytestream::ZCursor::new(&bytes),
                opts,
            );
            let px = d.decode().unwrap();
            let (w, h) = d.dimensions().unwrap();
            Rgb {
                width: w,
                height: h,
                pixels: px,
            }
        }
        "jpegdec" => {
            let file = std::io::BufReader::new(std::fs::File::open(path).unwrap());
            let mut d = jpeg_decoder::Decoder::new(file);
            let px = d.decode().unwrap();
            let info = d.info().unwrap();
            assert_eq!(info.pixel_format, jpeg_decoder::PixelFormat::RGB24);
            Rgb {
                width: info.width as usize,
                height: info.height as usize,
                pixels: px,
            }
        }
        "image" => {
            let img = image::open(path).unwrap().into_rgb8();
            let (w, h) = img.dimensions();
            Rgb {
                width: w as usize,
                height: h as usize,
                pixels: img.into_raw(),
            }
        }
        other => panic!("unknown decoder {other}"),
    }
}

/// The crop box (x, y, w, h) of `img` resized to size x size: HWC u8.
fn crop_resize(resizer: &str, img: &Rgb, b: (i64, i64, i64, i64), size: usize) -> Vec<u8> {
    let (x, y, cw, ch) = b;
    match resizer {
        "torch" => {
            let t = img.tensor();
            let boxed = t
                .narrow(1, y, ch)
                .narrow(2, x, cw)
                .unsqueeze(0)
                .to_kind(Kind::Float)
                / 255.0;
            let out = (resize(&boxed, size as i64, size as i64) * 255.0)
                .round()
                .to_kind(Kind::Uint8)
                .squeeze_dim(0)
                .permute([1, 2, 0])
                .contiguous();
            let mut px = vec![0u8; size * size * 3];
            let len = px.len();
            out.copy_data(&mut px, len);
            px
        }
        // paperlab's loader
        "fir" => crop_resize_rgb(img, b, size as i64),
        "imageops" => {
            let buf =
                image::RgbImage::from_raw(img.width as u32, img.height as u32, img.pixels.clone())
                    .unwrap();
            let boxed = image::imageops::crop_imm(&buf, x as u32, y as u32, cw as u32, ch as u32)
                .to_image();
            image::imageops::resize(
                &boxed,
                size as u32,
                size as u32,
                image::imageops::FilterType::CatmullRom,
            )
            .into_raw()
        }
        other => panic!("unknown resizer {other}"),
    }
}

/// One batch through `pipe` (decoder+resizer): uint8 [B, 3, size, size], contiguous.
fn batch(
    pipe: &str,
    folder: &LazyFolder,
    idx: &[i64],
    seed: u64,
    size: usize,
    workers: usize,
) -> Tensor {
    let (decoder, resizer) = pipe.split_once('+').unwrap();
    let images = map_parallel(idx, workers, |k, i| {
        let img = decode(decoder, &folder.path(i));
        let mut rng = Rng::new(seed, k as u64);
        let b = random_resized(img.width as i64, img.height as i64, &mut rng);
        Ok(crop_resize(resizer, &img, b, size))
    })
    .unwrap();
    let mut all = Vec::with_capacity(idx.len() * size * size * 3);
    for im in &images {
        all.extend_from_slice(im);
    }
    let s = size as i64;
    Tensor::from_slice(&all)
        .view([idx.len() as i64, s, s, 3])
        .permute([0, 3, 1, 2])
        .contiguous()
}

/// One batch through `pipe`, or through the trainer's loader for "paperlab",
/// at the trainer's size and workers.
fn run(pipe: &str, train: &FolderTrain, idx: &[i64], seed: u64) -> Tensor {
    if pipe == "paperlab" {
        // The trainer's host side (it then moves the bytes to the device and
        // makes them NCHW float there).
        train
            .bytes(idx, seed)
            .unwrap()
            .permute([0, 3, 1, 2])
            .contiguous()
    } else {
        let size = train.size as usize;
        batch(pipe, &train.folder, idx, seed, size, train.workers)
    }
}

/// One pass over the folder through the engine's feed, `prefetch` steps
/// ahead, each batch followed by `step` of waiting: images/s.
fn fed(train: &FolderTrain, bs: usize, prefetch: u64, step: Duration) -> f64 {
    let n = train.len();
    let plan = Plan::new((0..n).collect(), bs as i64, 1, 0);
    let started = Instant::now();
    let mut feed = Feed::start(train.share(), plan.clone(), (0, 0), prefetch, Device::Cpu)
        .expect("the loader thread starts");
    for _ in 0..plan.steps() {
        let batch = feed.next().unwrap();
        assert_eq!(batch[0].images.size()[1..], [3, train.size, train.size]);
        std::thread::sleep(step);
    }
    n as f64 / started.elapsed().as_secs_f64()
}

const PIPES: [&str; 8] = [
    "paperlab",
    "stb+torch",
    "zune+torch",
    "stb+fir",
    "zune+fir",
    "jpegdec+fir",
    "image+fir",
    "image+imageops",
];

fn main() {
    if let Ok(t) = std::env::var("BENCH_THREADS") {
        tch::set_num_threads(t.parse().unwrap());
    }
    let dir = std::env::var("BENCH_DIR").expect("BENCH_DIR: a folder of class subfolders of JPEGs");
    let folder = LazyFolder::open(Path::new(&dir), None).unwrap();
    let bs: usize = env("BENCH_BATCH", 32);
    let size: usize = env("BENCH_SIZE", 299);
    let workers: Vec<usize> = env("BENCH_WORKERS", "1,2".to_string())
        .split(',')
        .map(|w| w.parse().unwrap())
        .collect();
    let pipes: Vec<String> = match std::env::var("BENCH_PIPES") {
        Ok(p) if !p.is_empty() => p.split(',').map(String::from).collect(),
        _ => PIPES.iter().map(|s| s.to_string()).collect(),
    };
    println!(
        "INFO images {} batch {bs} size {size} torch threads {}",
        folder.len(),
        tch::get_num_threads()
    );

    if std::env::var("BENCH_PARTS").is_ok_and(|v| v == "1") {
        parts(&folder, size);
    }
    let prefetch: Vec<u64> = env("BENCH_PREFETCH", String::new())
        .split([',', ' '])
        .filter(|k| !k.is_empty())
        .map(|k| k.parse().unwrap())
        .collect();
    let step = Duration::from_millis(env("BENCH_STEP_MS", 100));
    for &w in &workers {
        let train = FolderTrain {
            folder: folder.clone(),
            size: size as i64,
            workers: w,
        };
        for &k in &prefetch {
            println!("SAMPLE feed-p{k} {w} {:.2}", fed(&train, bs, k, step));
        }
        for pipe in &pipes {
            println!("SAMPLE {pipe} {w} {:.2}", pass(pipe, &train, bs));
        }
    }
}

/// One pass over the folder through `pipe` in batches of `bs`: images/s.
fn pass(pipe: &str, train: &FolderTrain, bs: usize) -> f64 {
    let all: Vec<i64> = (0..train.len()).collect();
    // One untimed batch first: threads, allocator and caches warm.
    let _ = run(pipe, train, &all[..bs.min(all.len())], 0);
    let started = Instant::now();
    let mut pixels = 0i64;
    for (b, idx) in all.chunks(bs).enumerate() {
        let t = run(pipe, train, idx, b as u64);
        assert_eq!(t.size(), [idx.len() as i64, 3, train.size, train.size]);
        pixels += t.numel() as i64;
    }
    let secs = started.elapsed().as_secs_f64();
    assert_eq!(pixels, train.len() * 3 * train.size * train.size);
    all.len() as f64 / secs
}

/// Each decoder and each resizer alone, one thread, ms per image.
fn parts(folder: &LazyFolder, size: usize) {
    let n = folder.len().min(64);
    for decoder in ["stb", "zune", "zune-raw", "jpegdec", "image"] {
        let started = Instant::now();
        for i in 0..n {
            std::hint::black_box(decode(decoder, &folder.path(i)));
        }
        let ms = started.elapsed().as_secs_f64() * 1e3 / n as f64;
        println!("PART decode/{decoder} {ms:.3}");
    }
    let imgs: Vec<Rgb> = (0..n).map(|i| decode("zune", &folder.path(i))).collect();
    for resizer in ["torch", "fir", "imageops"] {
        let started = Instant::now();
        for (k, img) in imgs.iter().enumerate() {
            let mut rng = Rng::new(7, k as u64);
            let b = random_resized(img.width as i64, img.height as i64, &mut rng);
            std::hint::black_box(crop_resize(resizer, img, b, size));
        }
        let ms = started.elapsed().as_secs_f64() * 1e3 / n as f64;
        println!("PART resize/{resizer} {ms:.3}");
    }
    // How far fir's bytes are from libtorch's (the loader before) on the same boxes.
    let (mut max, mut sum, mut count) = (0i32, 0f64, 0usize);
    for (k, img) in imgs.iter().enumerate() {
        let mut rng = Rng::new(7, k as u64);
        let b = random_resized(img.width as i64, img.height as i64, &mut rng);
        let t = crop_resize("torch", img, b, size);
        let f = crop_resize("fir", img, b, size);
        for (a, b) in t.iter().zip(&f) {
            let d = (*a as i32 - *b as i32).abs();
            max = max.max(d);
            sum += d as f64;
            count += 1;
        }
    }
    println!("PART fir-vs-torch max {max} mean {:.4}", sum / count as f64);
}
