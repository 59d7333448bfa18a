//! Writing G's samples: PNG grids to watch training, and .npy arrays (the
//! exact Parzen centres) that NumPy reads as they are.

use crate::error::{run, Result};
use crate::runner::store::run_dir::write_atomic;
use std::path::Path;
use tch::{Kind, Tensor};

/// Images [rows * cols, C, H, W] in [0, 1] tiled into one uint8 [C, rows*H, cols*W].
pub fn grid(images: &Tensor, rows: i64) -> Tensor {
    let (n, c, h, w) = images.size4().expect("grid: expected [N, C, H, W] images");
    let cols = n / rows;
    assert_eq!(rows * cols, n, "grid: {n} images do not fill {rows} rows");
    (images.detach() * 255.0)
        .round()
        .clamp(0.0, 255.0)
        .to_kind(Kind::Uint8)
        .view([rows, cols, c, h, w])
        .permute([2, 0, 3, 1, 4])
        .reshape([c, rows * h, cols * w])
}

/// Save images [rows * cols, C, H, W] in [0, 1] as one PNG grid.
pub fn save_grid(path: &Path, images: &Tensor, rows: i64) -> Result<()> {
    tch::vision::image::save(&grid(images, rows), path)
        .map_err(|e| run(format!("cannot write {}: {e}", path.display())))
}

/// The bytes of a version 1.0 .npy file holding `t` as little-endian float32
/// of `t`'s shape (C order).
pub fn npy_bytes(t: &Tensor) -> Vec<u8> {
    let shape = t.size();
    let mut dims = shape
        .iter()
        .map(|d| d.to_string())
        .collect::<Vec<_>>()
        .join(", ");
    if shape.len() == 1 {
        dims.push(',');
    }
    let mut header = format!("{{'descr': '<f4', 'fortran_order': False, 'shape': ({dims}), }}");
    // NumPy pads the header with spaces so the data starts 64-byte aligned.
    let unpadded = 10 + header.len() + 1;
    header.push_str(&" ".repeat((64 - unpadded % 64) % 64));
    header.push('\n');
    let values = Vec::<f32>::try_from(
        t.to_kind(Kind::Float)
            .flatten(0, -1)
            .to_device(tch::Device::Cpu),
    )
    .expect("a float tensor converts to Vec<f32>");
    let mut bytes = b"\x93NUMPY\x01\x00".to_vec();
    bytes.extend((header.len() as u16).to_le_bytes());
    bytes.extend(header.as_bytes());
    bytes.extend(values.iter().flat_map(|v| v.to_le_bytes()));
    bytes
}

/// Write `t` as float32 to a .npy file (atomically).
pub fn write_npy(path: &Path, t: &Tensor) -> Result<()> {
    write_atomic(path, &npy_bytes(t))
}
