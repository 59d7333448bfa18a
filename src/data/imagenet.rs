//! An ImageNet-style folder read lazily: ROOT/train/<class>/*.JPEG and
//! ROOT/val/<class>/*.JPEG. Only the file list is held in memory; images are
//! decoded when a batch asks for them, on a few threads at once.
//!
//! Classes are the sorted subfolder names of train (of val when there is no
//! train folder, for evaluation only), so the ImageNet synsets n01440764 ...
//! get the usual indices 0..999. Every class of val must also be a class of
//! train. Files ending in .jpeg, .jpg or .png (any case) are images, told
//! apart by their first bytes (ImageNet has a PNG named .JPEG). JPEGs are
//! decoded by zune-jpeg (1.6x faster than stb_image here, see BENCHMARKS.md),
//! falling back to stb_image for a file zune-jpeg refuses; PNGs by stb_image
//! (through tch); grey-scale and CMYK images come out as RGB.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use tch::vision::image;
use tch::Tensor;

use crate::error::{self, Result};

/// One split of the folder: file names and labels, no pixels; a clone
/// shares them (a loader thread's copy of an ImageNet list costs nothing).
#[derive(Debug, Clone)]
pub struct LazyFolder {
    /// The split directory, e.g. data/imagenet/val.
    pub dir: PathBuf,
    /// Class names, index = label.
    pub classes: Vec<String>,
    /// Paths relative to `dir`: <class>/<file>.
    files: Arc<[PathBuf]>,
    labels: Arc<[i64]>,
}

/// What the folder should hold, for messages.
const LAYOUT: &str = "one subfolder per class (e.g. n01440764/) of .JPEG, .jpg or .png images";

impl LazyFolder {
    /// List `dir`/<class>/ for each class in `classes` (None: the sorted
    /// subfolders of `dir` themselves). A subfolder not in `classes` is an error.
    pub fn open(dir: &Path, classes: Option<&[String]>) -> Result<LazyFolder> {
        let found = class_dirs(dir)?;
        let classes: Vec<String> = match classes {
            None => found.clone(),
            Some(known) => {
                if let Some(extra) = found.iter().find(|c| !known.contains(c)) {
                    return Err(error::data(format!(
                        "{} has a class folder {extra:?} that the training split does not have; \
                         expected the same class names (or a subset) in both",
                        dir.join(extra).display()
                    )));
                }
                known.to_vec()
            }
        };
        let mut files = vec![];
        let mut labels = vec![];
        for class in &found {
            let label = classes.iter().position(|c| c == class).unwrap() as i64;
            for file in image_files(&dir.join(class))? {
                files.push(Path::new(class).join(file));
                labels.push(label);
            }
        }
        if files.is_empty() {
            return Err(error::data(format!(
                "{} holds no images; expected {LAYOUT}",
                dir.display()
            )));
        }
        Ok(LazyFolder {
            dir: dir.to_path_buf(),
            classes,
            files: files.into(),
            labels: labels.into(),
        })
    }

    pub fn len(&self) -> i64 {
        self.files.len() as i64
    }

    pub fn is_empty(&self) -> bool {
        self.files.is_empty()
    }

    pub fn classes(&self) -> i64 {
        self.classes.len() as i64
    }

    pub fn label(&self, i: i64) -> i64 {
        self.labels[i as usize]
    }

    /// The labels at `indices`, int64 on the CPU.
    pub fn labels_of(&self, indices: &[i64]) -> Tensor {
        let labels: Vec<i64> = indices.iter().map(|&i| self.label(i)).collect();
        Tensor::from_slice(&labels)
    }

    /// The file of example `i`.
    pub fn path(&self, i: i64) -> PathBuf {
        self.dir.join(&self.files[i as usize])
    }

    /// Example `i`'s name for reports: <split>/<class>/<file>.
    pub fn name(&self, i: i64) -> String {
        let split = self.dir.file_name().unwrap_or_default();
        Path::new(split)
            .join(&self.files[i as usize])
            .display()
            .to_string()
    }

    /// At most `n` examples, evenly spaced through the sorted list so that
    /// every class keeps its share (the first n would be the first classes).
    pub fn subset(&self, n: Option<i64>) -> LazyFolder {
        let len = self.len();
        let Some(n) = n.filter(|&n| n < len) else {
            return self.clone();
        };
        let keep: Vec<usize> = (0..n.max(0))
            .map(|k| (k as i128 * len as i128 / n as i128) as usize)
            .collect();
        LazyFolder {
            dir: self.dir.clone(),
            classes: self.classes.clone(),
            files: keep.iter().map(|&i| self.files[i].clone()).collect(),
            labels: keep.iter().map(|&i| self.labels[i]).collect(),
        }
    }

    /// Decode example `i`: uint8 [3, H, W] (a view of the HWC pixels).
    pub fn decode(&self, i: i64) -> Result<Tensor> {
        Ok(self.decode_rgb(i)?.tensor())
    }

    /// Decode example `i` to interleaved RGB pixels.
    pub fn decode_rgb(&self, i: i64) -> Result<Rgb> {
        decode_file(&self.path(i))
    }
}

/// A decoded image: `width` x `height` interleaved RGB bytes, row by row.
#[derive(Debug, Clone)]
pub struct Rgb {
    pub width: usize,
    pub height: usize,
    pub pixels: Vec<u8>,
}

impl Rgb {
    /// uint8 [3, H, W], a view of the HWC pixels (as tch's image::load gives).
    pub fn tensor(&self) -> Tensor {
        Tensor::from_slice(&self.pixels)
            .view([self.height as i64, self.width as i64, 3])
            .permute([2, 0, 1])
    }
}

/// Decode a JPEG (zune-jpeg, stb_image when zune-jpeg fails) or PNG file
/// (stb_image) to RGB.
pub fn decode_file(path: &Path) -> Result<Rgb> {
    let bytes = std::fs::read(path)
        .map_err(|e| error::data(format!("could not read image {}: {e}", path.display())))?;
    if bytes.starts_with(&[0xFF, 0xD8]) {
        if let Some(rgb) = decode_jpeg(&bytes) {
            return Ok(rgb);
        }
    }
    let t = image::load_from_memory(&bytes).map_err(|e| {
        error::data(format!(
            "could not decode image {}: {e}; expected a JPEG or PNG file",
            path.display()
        ))
    })?;
    let (_, h, w) = t.size3().unwrap();
    let mut pixels = vec![0u8; (h * w * 3) as usize];
    let len = pixels.len();
    t.permute([1, 2, 0])
        .contiguous()
        .copy_data(&mut pixels, len);
    Ok(Rgb {
        width: w as usize,
        height: h as usize,
        pixels,
    })
}

/// zune-jpeg's RGB pixels, or None when it cannot decode the file (then
/// [`decode_file`] falls back to stb_image, which would hide a broken fast path).
pub fn decode_jpeg(bytes: &[u8]) -> Option<Rgb> {
    use zune_jpeg::zune_core::{bytestream::ZCursor, colorspace::ColorSpace, options};
    let opts = options::DecoderOptions::new_fast().jpeg_set_out_colorspace(ColorSpace::RGB);
    let mut decoder = zune_jpeg::JpegDecoder::new_with_options(ZCursor::new(bytes), opts);
    let pixels = decoder.decode().ok()?;
    let (width, height) = decoder.dimensions()?;
    (decoder.output_colorspace()? == ColorSpace::RGB && pixels.len() == width * height * 3)
        .then_some(Rgb {
            width,
            height,
            pixels,
        })
}

/// Sorted names of the non-hidden subfolders of `dir`; at least one.
fn class_dirs(dir: &Path) -> Result<Vec<String>> {
    let entries = std::fs::read_dir(dir).map_err(|e| {
        error::data(format!(
            "could not read {}: {e}; expected {LAYOUT} (see data/README.md)",
            dir.display()
        ))
    })?;
    let mut names: Vec<String> = entries
        .filter_map(|entry| entry.ok())
        .filter(|entry| entry.path().is_dir())
        .map(|entry| entry.file_name().to_string_lossy().into_owned())
        .filter(|name| !name.starts_with('.'))
        .collect();
    if names.is_empty() {
        return Err(error::data(format!(
            "{} has no class subfolders; expected {LAYOUT}",
            dir.display()
        )));
    }
    names.sort();
    Ok(names)
}

/// Sorted image file names in one class folder (possibly none).
fn image_files(class_dir: &Path) -> Result<Vec<PathBuf>> {
    let entries = std::fs::read_dir(class_dir).map_err(|e| {
        error::data(format!(
            "could not read class folder {}: {e}",
            class_dir.display()
        ))
    })?;
    let mut files: Vec<PathBuf> = entries
        .filter_map(|entry| entry.ok().map(|entry| entry.file_name()))
        .map(PathBuf::from)
        .filter(|name| {
            let ext = name
                .extension()
                .map(|ext| ext.to_string_lossy().to_lowercase());
            matches!(ext.as_deref(), Some("png" | "jpg" | "jpeg"))
        })
        .collect();
    files.sort();
    Ok(files)
}
