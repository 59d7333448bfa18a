//! A fake trainer's pieces, independent of any paper (engine/fake_trainer.rs,
//! engine/controls.rs, engine/profile.rs): its configuration and its examples.

use paperlab::data::batches::Batch;
use paperlab::data::examples::Examples;
use paperlab::error::{data, Result};
use std::sync::Arc;
use std::time::Duration;
use tch::{Device, Kind, Tensor};

/// The configuration of a fake trainer (engine/fake_trainer.rs, engine/controls.rs):
/// the shared flags alone, run directories under <out>/fake/.
#[derive(clap::Parser, Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct FakeConfig {
    #[command(flatten)]
    #[serde(flatten)]
    pub common: paperlab::runner::args::Common,
}

impl paperlab::runner::engine::session::RunConfig for FakeConfig {
    const COMMAND: &'static str = "fake";
    fn common(&self) -> &paperlab::runner::args::Common {
        &self.common
    }
    fn global_batch(&self) -> i64 {
        1
    }
    fn common_mut(&mut self) -> &mut paperlab::runner::args::Common {
        &mut self.common
    }
    fn checked(self) -> paperlab::error::Result<Self> {
        Ok(self)
    }
}

/// Examples 0..n; a batch's "images" are the indices themselves.
#[derive(Clone)]
pub struct Counting {
    pub n: i64,
    /// Held by every handle the engine's loader takes: while it is shared
    /// by more than the trainer, a loader is alive.
    pub live: Arc<()>,
    /// Loading a batch with this example fails.
    pub unreadable: Option<i64>,
    /// How long a load takes (a loader thread still loading when its run stops).
    pub slow: Duration,
}

impl Examples for Counting {
    fn len(&self) -> i64 {
        self.n
    }
    fn batch(&self, indices: &[i64], _seed: u64, device: Device) -> Result<Batch> {
        std::thread::sleep(self.slow);
        if let Some(bad) = self.unreadable.filter(|i| indices.contains(i)) {
            return Err(data(format!("example {bad} is unreadable")));
        }
        let t = Tensor::from_slice(indices).to_device(device);
        Ok(Batch {
            images: t.to_kind(Kind::Double),
            labels: t,
        })
    }
    fn share(&self) -> Box<dyn Examples + Send> {
        Box::new(self.clone())
    }
}

impl Counting {
    /// Examples 0..n, loaded at once and all readable.
    pub fn new(n: i64) -> Counting {
        Counting {
            n,
            live: Arc::new(()),
            unreadable: None,
            slow: Duration::ZERO,
        }
    }
}
