//! A small helper for work that is independent per item, such as decoding
//! the images of a batch: plain scoped threads, no thread pool to manage.

use crate::error::Result;

/// Run `f` on every index of `indices` on up to `workers` threads, keeping
/// the order; the first error wins.
pub fn map_parallel<T: Send>(
    indices: &[i64],
    workers: usize,
    f: impl Fn(usize, i64) -> Result<T> + Sync,
) -> Result<Vec<T>> {
    let workers = workers.clamp(1, indices.len().max(1));
    if workers == 1 {
        return indices.iter().enumerate().map(|(k, &i)| f(k, i)).collect();
    }
    let chunk = indices.len().div_ceil(workers);
    let f = &f;
    std::thread::scope(|scope| {
        let handles: Vec<_> = indices
            .chunks(chunk)
            .enumerate()
            .map(|(c, part)| {
                scope.spawn(move || {
                    part.iter()
                        .enumerate()
                        .map(|(k, &i)| f(c * chunk + k, i))
                        .collect::<Result<Vec<T>>>()
                })
            })
            .collect();
        let mut out = Vec::with_capacity(indices.len());
        for h in handles {
            out.extend(h.join().expect("a map_parallel worker panicked")?);
        }
        Ok(out)
    })
}
