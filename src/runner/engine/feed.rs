//! The engine's batches: which examples each step takes ([`Plan`]) and who
//! loads them ([`Feed`]): the engine itself when the step starts
//! (`--prefetch 0`), or a loader thread that keeps the next K steps'
//! batches loaded while the current step runs, as PyTorch DataLoader's
//! prefetch_factor does with pin_memory: a batch is decoded, and for CUDA
//! copied through page-locked memory with its upload queued, before the
//! engine asks for it ([`crate::data::batches::upload`]).
//!
//! A step's batches depend only on the epoch's order and the step's load
//! seed (`Stream::Load`), not on when or on which thread they are loaded,
//! so every K gives the same batches in the same order, and --resume
//! repeats a run. Dropping a feed (the epoch's end, Ctrl-C, --max-steps, an
//! error) stops its thread after the batch it is loading and joins it.

use crate::data::batches::Batch;
use crate::data::examples::Examples;
use crate::error::{run, Result};
use crate::rng::{Rng, Stream};
use crate::runner::dist;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{sync_channel, Receiver};
use std::sync::Arc;
use std::thread::JoinHandle;
use tch::Device;

/// --prefetch's default: the steps bench-loader found enough (BENCHMARKS.md).
pub const DEFAULT_PREFETCH: u64 = 2;
/// The most steps --prefetch may keep loaded (each holds its batches on the device).
pub const MAX_PREFETCH: u64 = 16;

/// How one epoch's examples are cut into steps.
#[derive(Clone)]
pub struct Plan {
    /// The epoch's examples, in order.
    order: Arc<[i64]>,
    batch_size: i64,
    /// Batches per step (the GAN's k).
    k: i64,
    /// The run's seed, which each step's load seeds come from.
    seed: u64,
}

impl Plan {
    pub fn new(order: Vec<i64>, batch_size: i64, k: i64, seed: u64) -> Plan {
        Plan {
            order: order.into(),
            batch_size,
            k,
            seed,
        }
    }

    /// Batches in the epoch (the last one may be short).
    pub fn batches(&self) -> i64 {
        (self.order.len() as i64 + self.batch_size - 1) / self.batch_size
    }

    /// Steps in the epoch (the last one may take fewer than k batches).
    pub fn steps(&self) -> i64 {
        (self.batches() + self.k - 1) / self.k
    }

    /// The batch after the step that starts at `batch`.
    pub fn after(&self, batch: i64) -> i64 {
        (batch + self.k).min(self.batches())
    }

    /// Step `step`, which starts at batch `batch`: each of its (global)
    /// batches' examples with the seed it is loaded with.
    pub fn step(&self, batch: i64, step: i64) -> Vec<(&[i64], u64)> {
        let mut load = Rng::stream(self.seed, Stream::Load(step as u64));
        let (bs, n) = (self.batch_size as usize, self.order.len());
        (batch as usize..self.after(batch) as usize)
            .map(|b| (&self.order[b * bs..((b + 1) * bs).min(n)], load.next_u64()))
            .collect()
    }
}

/// Loads an epoch's steps one after another from a position.
struct Loader {
    examples: Box<dyn Examples + Send>,
    plan: Plan,
    batch: i64,
    step: i64,
    device: Device,
}

impl Loader {
    fn done(&self) -> bool {
        self.batch >= self.plan.batches()
    }

    /// This process's share ([`dist::shard`]) of the next step's batches.
    fn next(&mut self) -> Result<Vec<Batch>> {
        let plan = &self.plan;
        let loaded = plan
            .step(self.batch, self.step)
            .into_iter()
            .map(|(idx, seed)| self.examples.batch(dist::shard(idx), seed, self.device))
            .collect();
        (self.batch, self.step) = (plan.after(self.batch), self.step + 1);
        loaded
    }
}

/// Where the engine's steps get their batches, in order.
pub struct Feed(Source);

enum Source {
    /// Loaded when the step asks (--prefetch 0).
    Inline(Loader),
    Ahead(Ahead),
}

/// A loader thread and the steps it has loaded.
struct Ahead {
    ready: Receiver<Result<Vec<Batch>>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Feed {
    /// The steps of `plan` from batch `batch`, whose first is step `step`,
    /// from `examples` onto `device`, `prefetch` steps ahead.
    pub fn start(
        examples: Box<dyn Examples + Send>,
        plan: Plan,
        (batch, step): (i64, i64),
        prefetch: u64,
        device: Device,
    ) -> Result<Feed> {
        let loader = Loader {
            examples,
            plan,
            batch,
            step,
            device,
        };
        Ok(Feed(match prefetch {
            0 => Source::Inline(loader),
            k => Source::Ahead(Ahead::spawn(loader, k as usize)?),
        }))
    }

    /// The next step's batches (this process's share of them).
    pub fn next(&mut self) -> Result<Vec<Batch>> {
        match &mut self.0 {
            Source::Inline(loader) => loader.next(),
            Source::Ahead(ahead) => ahead.ready.recv().unwrap_or_else(|_| {
                Err(run(
                    "the batch loader thread stopped before the epoch's end (a panic, reported above)",
                ))
            }),
        }
    }
}

impl Ahead {
    /// A thread loading `loader`'s steps, holding up to `k` loaded: k - 1
    /// in the channel and one waiting to be sent.
    fn spawn(mut loader: Loader, k: usize) -> Result<Ahead> {
        let (send, ready) = sync_channel(k - 1);
        let stop = Arc::new(AtomicBool::new(false));
        let stopped = Arc::clone(&stop);
        let thread = std::thread::Builder::new()
            .name("paperlab-loader".into())
            .spawn(move || {
                // As PyTorch's pin_memory thread sets torch.set_num_threads(1).
                crate::native::serial_thread();
                while !loader.done() && !stopped.load(Ordering::Relaxed) {
                    let loaded = loader.next();
                    let failed = loaded.is_err();
                    if send.send(loaded).is_err() || failed {
                        break;
                    }
                }
            })
            .map_err(|e| run(format!("cannot start the batch loader thread: {e}")))?;
        Ok(Ahead {
            ready,
            stop,
            thread: Some(thread),
        })
    }
}

impl Drop for Ahead {
    /// Stop the thread, dropping what it loaded, and wait for it: no loader
    /// outlives its epoch.
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        while self.ready.recv().is_ok() {}
        if let Some(thread) = self.thread.take() {
            // A panic there was reported when it happened, and `next` failed.
            let _ = thread.join();
        }
    }
}
