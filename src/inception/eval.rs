//! Evaluation: the softmax averaged over 1, 10 or 144 crops per image,
//! top-1 and top-5 error, and predictions.csv.

use super::crops::{self, to_rgb_float, Crop, Cropper};
use super::data::Val;
use super::net::Net;
use crate::data::batches::{batch, upload};
use crate::data::parallel::map_parallel;
use crate::error::{run, Result};
use crate::runner::dist;
use crate::runner::record::progress::Progress;
use crate::runner::store::run_dir::tmp_path;
use std::path::Path;
use tch::{nn::ModuleT, Device, Kind, Tensor};

/// How to evaluate.
#[derive(Debug, Clone, Copy)]
pub struct Settings {
    /// 1, 10 or 144.
    pub crops: i64,
    pub crop_pct: f64,
    /// Input size.
    pub size: i64,
    /// Images (1 crop) or crops per forward pass, at most.
    pub batch_size: i64,
    pub workers: usize,
    pub device: Device,
}

/// Class probabilities of every example of `val`, in order: [N, classes]
/// on the CPU. In a distributed run each process predicts its share of
/// the groups and all receive every row (`dist::gather_rows`).
pub fn predict(net: &Net, val: &Val, e: &Settings, progress: &mut Progress) -> Result<Tensor> {
    let n = val.len();
    // Images per group: a group is cropped together, so one image at a time
    // for a folder's multi-crop evaluation (its images differ in size).
    let per_group = match val {
        Val::Folder(_) if e.crops > 1 => e.batch_size.min(8 * e.workers as i64).max(1),
        _ => e.batch_size,
    };
    let groups: Vec<Vec<i64>> = (0..n)
        .collect::<Vec<_>>()
        .chunks(per_group as usize)
        .map(<[i64]>::to_vec)
        .collect();
    let own = dist::eval_batches(groups.len());
    progress.start(&format!("eval {}-crop", e.crops), own.len() as u64);
    let mut out = Vec::with_capacity(own.len());
    tch::no_grad(|| -> Result<()> {
        for (g, idx) in groups[own.clone()].iter().enumerate() {
            match val {
                Val::Memory { ds, .. } => {
                    let images = to_rgb_float(&batch(ds, idx, e.device).images);
                    let (_, _, h, w) = images.size4().unwrap();
                    let plan = crops::plan(e.crops, w, h, e.size, e.crop_pct);
                    out.push(average(net, &images, &plan, e));
                }
                Val::Folder(folder) if e.crops == 1 => {
                    // Each image decoded on a loader thread, which uploads
                    // its bytes and crops it on the device; then one batch.
                    let inputs = map_parallel(idx, e.workers, |_, i| {
                        let image = on_device(&folder.decode(i)?, e.device);
                        let (_, _, h, w) = image.size4().unwrap();
                        let c = crops::centre(w, h, e.size, e.crop_pct);
                        Ok(Cropper::new(&image, e.size).crop(&c))
                    })?;
                    out.push(probabilities(net, &Tensor::cat(&inputs, 0)));
                }
                Val::Folder(folder) => {
                    let images = map_parallel(idx, e.workers, |_, i| folder.decode(i))?;
                    for image in images {
                        let image = on_device(&image, e.device);
                        let (_, _, h, w) = image.size4().unwrap();
                        let plan = crops::plan(e.crops, w, h, e.size, e.crop_pct);
                        out.push(average(net, &image, &plan, e));
                    }
                }
            }
            progress.update(g as u64 + 1, String::new());
        }
        Ok(())
    })?;
    let all = dist::gather_rows(&Tensor::cat(&out, 0), groups.len())?;
    Ok(all.to_device(Device::Cpu))
}

/// A decoded uint8 [C, H, W] image on `device` as float [1, 3, H, W] in
/// [0, 1]: uploaded as bytes (a quarter of the floats) and converted there.
fn on_device(image: &Tensor, device: Device) -> Tensor {
    to_rgb_float(&upload(&image.unsqueeze(0), device))
}

/// Normalise to [-1, 1] (mean = std = 0.5) and take the softmax.
fn probabilities(net: &Net, x: &Tensor) -> Tensor {
    net.forward_t(&(x * 2.0 - 1.0), false)
        .softmax(1, Kind::Float)
}

/// The softmax of `images` [B, 3, H, W] averaged over the crops of `plan`,
/// as many crops per forward pass as fit in the batch size.
fn average(net: &Net, images: &Tensor, plan: &[Crop], e: &Settings) -> Tensor {
    let b = images.size()[0];
    let per_pass = (e.batch_size / b).max(1) as usize;
    let mut cropper = Cropper::new(images, e.size);
    let mut sum: Option<Tensor> = None;
    for chunk in plan.chunks(per_pass) {
        let x: Vec<Tensor> = chunk.iter().map(|c| cropper.crop(c)).collect();
        let p = probabilities(net, &Tensor::cat(&x, 0))
            .view([chunk.len() as i64, b, -1])
            .sum_dim_intlist([0i64].as_slice(), false, Kind::Float);
        sum = Some(match sum {
            None => p,
            Some(s) => s + p,
        });
    }
    sum.expect("at least one crop") / plan.len() as f64
}

/// (top-1 error, top-5 error) of `probs` [N, classes] against `labels` [N].
pub fn top_errors(probs: &Tensor, labels: &Tensor) -> (f64, f64) {
    let n = labels.size()[0].max(1) as f64;
    let k = probs.size()[1].min(5);
    let (_, top) = probs.topk(k, 1, true, true);
    let hit = top.eq_tensor(&labels.unsqueeze(1));
    let top1 = hit.narrow(1, 0, 1).sum(Kind::Int64).int64_value(&[]) as f64;
    let top5 = hit.sum(Kind::Int64).int64_value(&[]) as f64;
    (1.0 - top1 / n, 1.0 - top5 / n)
}

/// The labels of `val`, int64 [N] on the CPU.
pub fn labels(val: &Val) -> Tensor {
    match val {
        Val::Memory { ds, .. } => ds.labels.shallow_clone(),
        Val::Folder(f) => f.labels_of(&(0..f.len()).collect::<Vec<_>>()),
    }
}

/// predictions.csv: image, label, the top-5 classes (best first) and their
/// probabilities (fewer columns when there are fewer than 5 classes).
pub fn write_predictions(path: &Path, val: &Val, probs: &Tensor) -> Result<()> {
    let k = probs.size()[1].min(5);
    let (p, c) = probs.topk(k, 1, true, true);
    let (p, c) = (
        Vec::<Vec<f32>>::try_from(&p)?,
        Vec::<Vec<i64>>::try_from(&c)?,
    );
    let tmp = tmp_path(path);
    let err = |e: &dyn std::fmt::Display| run(format!("cannot write {}: {e}", path.display()));
    let mut w = csv::Writer::from_path(&tmp).map_err(|e| err(&e))?;
    let mut header = vec!["image".to_string(), "label".to_string()];
    header.extend((1..=k).map(|i| format!("top{i}")));
    header.extend((1..=k).map(|i| format!("prob{i}")));
    w.write_record(&header).map_err(|e| err(&e))?;
    let labels = Vec::<i64>::try_from(&labels(val))?;
    for i in 0..val.len() {
        let mut row = vec![val.name(i), labels[i as usize].to_string()];
        row.extend(c[i as usize].iter().map(|c| c.to_string()));
        row.extend(p[i as usize].iter().map(|p| format!("{p:.6}")));
        w.write_record(&row).map_err(|e| err(&e))?;
    }
    w.flush().map_err(|e| err(&e))?;
    drop(w);
    std::fs::rename(&tmp, path).map_err(|e| err(&e))
}
