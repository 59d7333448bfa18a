//! Where the training engine draws its batches from: an in-memory dataset
//! or anything decoded on demand (an image folder).

use super::batches::{batch, Batch};
use super::Dataset;
use crate::error::Result;
use tch::Device;

pub trait Examples {
    fn len(&self) -> i64;
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// The examples at `indices` on `device`, images as float in [0, 1].
    /// `seed` is for random choices made while loading (a pure function of
    /// the run's seed and the step, so a resumed run repeats itself).
    fn batch(&self, indices: &[i64], seed: u64, device: Device) -> Result<Batch>;
    /// The same examples, sharing their memory, owned by a handle another
    /// thread can load from (the engine's prefetching loader, runner/engine/feed.rs).
    fn share(&self) -> Box<dyn Examples + Send>;
}

impl Examples for Dataset {
    fn len(&self) -> i64 {
        Dataset::len(self)
    }

    fn batch(&self, indices: &[i64], _seed: u64, device: Device) -> Result<Batch> {
        Ok(batch(self, indices, device))
    }

    fn share(&self) -> Box<dyn Examples + Send> {
        Box::new(Dataset {
            images: self.images.shallow_clone(),
            labels: self.labels.shallow_clone(),
            classes: self.classes,
        })
    }
}
