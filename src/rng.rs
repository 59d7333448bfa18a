//! A small seeded random stream (SplitMix64) for everything paperlab decides on
//! the host: epoch shuffles, augmentation draws, per-step seeds. Being a pure
//! function of (seed, stream), it makes a resumed run repeat an uninterrupted one.

/// The random streams of a run. Each is a pure function of the run's seed,
/// its kind and its position, so a resumed run draws what an uninterrupted
/// one did, and no two streams of any seeds coincide (each is seeded by
/// hashing all three).
#[derive(Debug, Clone, Copy)]
pub enum Stream {
    /// The order of epoch N's examples.
    Shuffle(u64),
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
    /// (kind, position): a tag of its own for each kind (and rank), and
    /// where in that kind the stream is.
    fn key(self) -> (u64, u64) {
        match self {
            Stream::Shuffle(n) => (1, n),
            Stream::Step(n) => (2, n),
            Stream::RankStep(n, rank) => (3 + (rank << 8), n),
            Stream::Load(n) => (4, n),
            Stream::Eval(n) => (5, n),
            Stream::Tests(n) => (6, n),
            Stream::Grid => (7, 0),
            Stream::Parzen(n) => (8, n),
            Stream::Heldout => (9, 0),
        }
    }
}

/// SplitMix64's output function: a bijection of u64 whose every output bit
/// depends on every input bit, used here as the hash that keys streams.
fn mix(z: u64) -> u64 {
    let z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    let z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
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
    /// Sub-stream `n` of `seed` (e.g. example k of a batch whose seed came
    /// from a [`Stream`]): seeded by hashing both.
    pub fn new(seed: u64, n: u64) -> Self {
        Rng {
            state: mix(mix(seed) ^ n),
        }
    }

    /// The named `stream` of a run with `seed`: hashed from the seed, the
    /// stream's kind and its position.
    pub fn stream(seed: u64, stream: Stream) -> Self {
        let (kind, n) = stream.key();
        Rng::new(mix(mix(seed) ^ kind), n)
    }

    pub fn next_u64(&mut self) -> u64 {
        let z = self.state;
        self.state = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
        mix(z)
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

    /// The old keys made seed s's Load stream seed (s ^ 0x10ad)'s Step
    /// stream, and the epoch shuffle step N's seed; hashed keys keep every
    /// (seed, kind, position) apart.
    #[test]
    fn streams_of_nearby_seeds_and_kinds_are_all_different() {
        let mut firsts = std::collections::HashSet::new();
        for seed in (0..64).chain([0x10ad, 0x7e57, 0x4e1d, 0xd157]) {
            for n in 0..8 {
                let streams = [
                    Stream::Shuffle(n),
                    Stream::Step(n),
                    Stream::RankStep(n, 1),
                    Stream::RankStep(n, 2),
                    Stream::Load(n),
                    Stream::Eval(n),
                    Stream::Tests(n),
                    Stream::Parzen(n),
                ];
                for stream in streams {
                    assert!(firsts.insert(Rng::stream(seed, stream).next_u64()));
                }
            }
            assert!(firsts.insert(Rng::stream(seed, Stream::Grid).next_u64()));
            assert!(firsts.insert(Rng::stream(seed, Stream::Heldout).next_u64()));
        }
    }

    /// SplitMix64's published first output for seed 0 (state advanced
    /// once by the golden gamma), as a check that `next_u64` is SplitMix64.
    #[test]
    fn next_u64_is_splitmix64() {
        let mut r = Rng { state: 0 };
        assert_eq!(r.next_u64(), 0xE220_A839_7B1D_CDAF);
    }

    #[test]
    fn uniform_mean_is_one_half() {
        let mut r = Rng::new(3, 0);
        let m: f64 = (0..100_000).map(|_| r.uniform()).sum::<f64>() / 100_000.0;
        assert!((m - 0.5).abs() < 0.01, "mean {m}");
    }
}
