//! The integration tests: one test binary (one link against libtorch), a
//! module per area, the helpers in `common`. Its tests run on parallel
//! threads of one process, so a test that depends on process-wide state
//! (torch's random generator, its thread count) runs in a process of its
//! own: see `common`'s documentation.
//!
//! tests/host_memory.rs is a binary of its own (malloc's settings are per
//! process, and it needs the main thread).

mod common;

/// A paper's claims judged from runs over seeds (`compare --claims`).
mod claims;

/// Clap's command line, presets, `compare` and `sweep`.
mod cli {
    mod compare;
    mod flags;
    mod presets;
}

/// --precision, --channels-last, and every model variant in every one.
mod compute {
    mod channels_last;
    mod precision;
    mod variants;
}

/// The dataset readers and the JPEG folder loader.
mod data {
    mod jpeg;
    mod loaders;
    mod mnist_digits;
}

/// Distributed runs over Gloo, the gradient reducer, and the Slurm paths
/// on a real single-node Slurm.
mod dist {
    mod reducer;
    mod runs;
    mod slurm;
}

/// The training engine: its steps, gradient accumulation, the per-step log,
/// Ctrl-C and kill -9, loading ahead, checkpoints inside epochs and Slurm's
/// SIGUSR1, --profile's counts.
mod engine {
    mod accumulate;
    mod controls;
    mod events;
    mod fake_trainer;
    mod interrupt;
    mod prefetch;
    mod profile;
    mod requeue;
}

/// Fractional max-pooling (Graham 2014).
mod fmp {
    mod cli;
    mod layer;
    mod recipe;
    mod threads;
}

/// GANs: Goodfellow et al.'s MLP, Xiang & Li's normalized DCGAN.
mod gan {
    mod dcgan;
    mod dcgan_params;
    mod mlp;
    mod norm;
}

/// Inception-v4 and Inception-ResNet (Szegedy et al. 2016).
mod inception;

/// The optimizers, their foreach forms, fp16's loss scaler, the weight EMA.
mod optim {
    mod ema;
    mod foreach;
    mod grad_scaler;
    mod optimizers;
}

/// Sweeps' seeds and grids, and compare's statistics over seeds.
mod seeds;

/// CPU threads that follow the launch.
mod threads;

/// Weight normalization (Salimans & Kingma 2016).
mod wn;
