//! A small seeded random stream (SplitMix64) for everything paperlab decides on
//! the host: epoch shuffles, augmentation draws, per-step seeds. Being a pure
//! function of (seed, stream), it makes a resumed run repeat an uninterrupted one.

/// The random streams of a run. Each is a pure function of the run's seed
/// and its own position, so a resumed run draws what an uninterrupted one
/// did; the constants keep the streams apart (and keep the values of
/// earlier versions).
#[derive(Debug, Clone, Copy)]
pub enum Stream {
    /// Torch's generators during training step N (dropout, FMP regions, noise).
    Step(u64),
    /// The same on rank R > 0 of a distributed run (rank 0 uses Step).
    RankStep(u64, u64),
    /// Random choices made while loading the batches of step N (crops).
    Load(u64),
    /// The evaluation after epoch N.
    Eval(u64),
    /// Pass N of a multi-pass test (FMP's R tests).
    Tests(u64),
    /// The fixed z of the GAN's sample grids.
    Grid,
    /// The GAN's Parzen estimate after epoch N.
    Parzen(u64),
    /// The images a GAN run holds out (the reconstruction measure's).
    Heldout,
}

impl Stream {
    fn key(self, seed: u64) -> (u64, u64) {
        const FAR: u64 = 1 << 40;
        match self {
            Stream::Step(n) => (seed, n),
            Stream::RankStep(n, rank) => (seed ^ 0xd157 ^ rank.wrapping_mul(0x9E37_79B9), n),
            Stream::Load(n) => (seed ^ 0x10ad, n),
            Stream::Eval(n) => (seed, FAR + n),
            Stream::Tests(n) => (seed ^ 0x7e57, n),
            Stream::Grid => (seed, FAR),
            Stream::Parzen(n) => (seed, 2 * FAR + n),
            Stream::Heldout => (seed ^ 0x4e1d, FAR),
        }
    }
}

/// Seed torch's generators (CPU and CUDA) from `stream` of `seed`.
pub fn seed_torch(seed: u64, stream: Stream) {
    tch::manual_seed((Rng::stream(seed, stream).next_u64() >> 1) as i64);
}

/// SplitMix64: fast, good enough statistically, and trivially reproducible.
#[derive(Debug, Clone)]
pub struct Rng {
    state: u64,
}

impl Rng {
    /// A stream for `seed`, kept apart from other streams by `stream`
    /// (for example an epoch number or a step number).
    pub fn new(seed: u64, stream: u64) -> Self {
        let mut rng = Rng {
            state: seed ^ stream.wrapping_mul(0xD1B5_4A32_D192_ED03),
        };
        rng.next_u64();
        rng
    }

    /// The named `stream` of a run with `seed`.
    pub fn stream(seed: u64, stream: Stream) -> Self {
        let (seed, n) = stream.key(seed);
        Rng::new(seed, n)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    pub fn uniform(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Uniform integer in [0, n).
    pub fn below(&mut self, n: u64) -> u64 {
        ((self.next_u64() as u128 * n as u128) >> 64) as u64
    }

    /// A uniformly random permutation of 0..n (Fisher-Yates).
    pub fn permutation(&mut self, n: usize) -> Vec<i64> {
        let mut p: Vec<i64> = (0..n as i64).collect();
        for i in (1..n).rev() {
            let j = self.below(i as u64 + 1) as usize;
            p.swap(i, j);
        }
        p
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn permutation_is_a_permutation_and_depends_on_stream() {
        let a = Rng::new(7, 1).permutation(1000);
        let mut sorted = a.clone();
        sorted.sort();
        assert_eq!(sorted, (0..1000).collect::<Vec<i64>>());
        assert_eq!(a, Rng::new(7, 1).permutation(1000));
        assert_ne!(a, Rng::new(7, 2).permutation(1000));
    }

    #[test]
    fn uniform_mean_is_one_half() {
        let mut r = Rng::new(3, 0);
        let m: f64 = (0..100_000).map(|_| r.uniform()).sum::<f64>() / 100_000.0;
        assert!((m - 0.5).abs() < 0.01, "mean {m}");
    }
}
