//! The DataLoader: shuffled, augmented f32 NCHW batches, prepared ahead by worker threads.
//!
//! Determinism: the epoch's order is a permutation drawn from `(seed, epoch)`, and sample
//! number `p` of the epoch (its position in that order) is transformed with an RNG seeded from
//! `(seed, epoch, p)`. Which thread does the work therefore never changes the batches: one,
//! four or zero workers (work done on the calling thread) give identical output.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc::{Receiver, sync_channel};
use std::thread::JoinHandle;

use rand::{RngExt, SeedableRng};

use crate::dataset::Dataset;
use crate::error::{DataError, Result};
use crate::transforms::{SampleRng, Scratch, Transform};

/// Mixes three words into one well-spread 64-bit seed (SplitMix64 finaliser on each step).
pub fn mix(a: u64, b: u64, c: u64) -> u64 {
    fn splitmix(mut z: u64) -> u64 {
        z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    splitmix(splitmix(splitmix(a) ^ b) ^ c)
}

/// How batches are formed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LoaderConfig {
    /// Images per batch (at least 1).
    pub batch_size: usize,
    /// Shuffle the order every epoch (from `seed` and the epoch number).
    pub shuffle: bool,
    /// Drop the last batch when it is smaller than `batch_size`.
    pub drop_last: bool,
    /// Seed of the shuffling and of the augmentation.
    pub seed: u64,
    /// Worker threads preparing batches; 0 prepares them on the calling thread.
    pub workers: usize,
    /// Finished batches that may wait in the queue ahead of the consumer (at least 1).
    pub prefetch: usize,
}

impl Default for LoaderConfig {
    fn default() -> Self {
        LoaderConfig {
            batch_size: 64,
            shuffle: true,
            drop_last: false,
            seed: 0,
            workers: std::thread::available_parallelism().map_or(1, |n| n.get()),
            prefetch: 4,
        }
    }
}

/// One batch: images as f32 NCHW, labels, and the dataset indices they came from.
#[derive(Debug, Clone, PartialEq)]
pub struct Batch {
    /// `N * C * H * W` values, sample-major then channel-major.
    pub images: Vec<f32>,
    /// `N` labels.
    pub labels: Vec<usize>,
    /// Index of each sample in the dataset.
    pub indices: Vec<usize>,
    /// `[N, C, H, W]`.
    pub shape: [usize; 4],
}

impl Batch {
    /// Number of samples.
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    /// True for a batch without samples (never produced by the loader).
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }
}

/// Serves a dataset as batches, augmenting each sample with a [`Transform`].
#[derive(Clone)]
pub struct DataLoader {
    shared: Arc<Shared>,
}

struct Shared {
    dataset: Arc<Dataset>,
    config: LoaderConfig,
    transform: Arc<dyn Transform>,
    out_shape: [usize; 3],
}

impl std::fmt::Debug for DataLoader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DataLoader")
            .field("dataset", &self.shared.dataset.source())
            .field("config", &self.shared.config)
            .finish()
    }
}

impl DataLoader {
    /// A loader over `dataset`; fails when `batch_size` or `prefetch` is 0.
    pub fn new(
        dataset: Arc<Dataset>,
        config: LoaderConfig,
        transform: Arc<dyn Transform>,
    ) -> Result<Self> {
        if config.batch_size == 0 {
            return Err(DataError::Invalid("batch size must be at least 1".into()));
        }
        if config.prefetch == 0 {
            return Err(DataError::Invalid("prefetch must be at least 1".into()));
        }
        let out_shape = transform.output_shape(dataset.image_shape());
        Ok(DataLoader {
            shared: Arc::new(Shared {
                dataset,
                config,
                transform,
                out_shape,
            }),
        })
    }

    /// The dataset served.
    pub fn dataset(&self) -> &Arc<Dataset> {
        &self.shared.dataset
    }

    /// The configuration.
    pub fn config(&self) -> &LoaderConfig {
        &self.shared.config
    }

    /// `[C, H, W]` of each transformed sample.
    pub fn sample_shape(&self) -> [usize; 3] {
        self.shared.out_shape
    }

    /// Batches per epoch.
    pub fn num_batches(&self) -> usize {
        let (n, b) = (self.shared.dataset.len(), self.shared.config.batch_size);
        if self.shared.config.drop_last {
            n / b
        } else {
            n.div_ceil(b)
        }
    }

    /// Samples served per epoch (less than the dataset with `drop_last`).
    pub fn num_samples(&self) -> usize {
        let n = self.shared.dataset.len();
        if self.shared.config.drop_last {
            n - n % self.shared.config.batch_size
        } else {
            n
        }
    }

    /// The order in which epoch `epoch` visits the dataset.
    pub fn epoch_order(&self, epoch: u64) -> Vec<usize> {
        let n = self.shared.dataset.len();
        let mut order: Vec<usize> = (0..n).collect();
        if self.shared.config.shuffle {
            let mut rng = SampleRng::seed_from_u64(mix(self.shared.config.seed, epoch, u64::MAX));
            for i in (1..n).rev() {
                let j = rng.random_range(0..=i);
                order.swap(i, j);
            }
        }
        order
    }

    /// The batches of epoch `epoch`, in order. With workers, they are prepared in the
    /// background; dropping the iterator stops and joins the workers.
    pub fn epoch(&self, epoch: u64) -> EpochIter {
        let order = Arc::new(self.epoch_order(epoch));
        let total = self.num_batches();
        let workers = self.shared.config.workers;
        let stop = Arc::new(AtomicBool::new(false));
        let mut iter = EpochIter {
            shared: self.shared.clone(),
            order: order.clone(),
            epoch,
            next: 0,
            total,
            rx: None,
            pending: BTreeMap::new(),
            handles: Vec::new(),
            stop: stop.clone(),
            scratch: Scratch::new(),
        };
        if workers > 0 && total > 0 {
            let (tx, rx) = sync_channel::<(usize, Batch)>(self.shared.config.prefetch);
            let counter = Arc::new(AtomicUsize::new(0));
            for _ in 0..workers.min(total) {
                let (tx, counter, stop) = (tx.clone(), counter.clone(), stop.clone());
                let (shared, order) = (self.shared.clone(), order.clone());
                iter.handles.push(std::thread::spawn(move || {
                    let mut scratch = Scratch::new();
                    loop {
                        let b = counter.fetch_add(1, Ordering::Relaxed);
                        if b >= total || stop.load(Ordering::Relaxed) {
                            break;
                        }
                        let batch = shared.make_batch(&order, epoch, b, &mut scratch);
                        if tx.send((b, batch)).is_err() {
                            break; // the consumer has gone
                        }
                    }
                }));
            }
            iter.rx = Some(rx);
        }
        iter
    }
}

impl Shared {
    /// Builds batch `b` of an epoch whose order is `order`.
    fn make_batch(&self, order: &[usize], epoch: u64, b: usize, scratch: &mut Scratch) -> Batch {
        let bs = self.config.batch_size;
        let start = b * bs;
        let end = (start + bs).min(order.len());
        let [c, h, w] = self.out_shape;
        let per = c * h * w;
        let n = end - start;
        let mut images = vec![0f32; n * per];
        let mut labels = Vec::with_capacity(n);
        let in_shape = self.dataset.image_shape();
        for (pos, out) in (start..end).zip(images.chunks_exact_mut(per)) {
            let idx = order[pos];
            let mut rng = SampleRng::seed_from_u64(mix(self.config.seed, epoch, pos as u64));
            self.transform
                .apply(self.dataset.image(idx), in_shape, &mut rng, scratch, out);
            labels.push(self.dataset.label(idx));
        }
        Batch {
            images,
            labels,
            indices: order[start..end].to_vec(),
            shape: [n, c, h, w],
        }
    }
}

/// The batches of one epoch (see [`DataLoader::epoch`]).
pub struct EpochIter {
    shared: Arc<Shared>,
    order: Arc<Vec<usize>>,
    epoch: u64,
    next: usize,
    total: usize,
    rx: Option<Receiver<(usize, Batch)>>,
    pending: BTreeMap<usize, Batch>,
    handles: Vec<JoinHandle<()>>,
    stop: Arc<AtomicBool>,
    scratch: Scratch,
}

impl Iterator for EpochIter {
    type Item = Batch;

    fn next(&mut self) -> Option<Batch> {
        if self.next >= self.total {
            return None;
        }
        let b = self.next;
        self.next += 1;
        let Some(rx) = &self.rx else {
            return Some(
                self.shared
                    .make_batch(&self.order, self.epoch, b, &mut self.scratch),
            );
        };
        loop {
            if let Some(batch) = self.pending.remove(&b) {
                return Some(batch);
            }
            match rx.recv() {
                Ok((i, batch)) => {
                    self.pending.insert(i, batch);
                }
                // A worker died (it panicked): make the batch here rather than hang or stop short.
                Err(_) => {
                    return Some(self.shared.make_batch(
                        &self.order,
                        self.epoch,
                        b,
                        &mut self.scratch,
                    ));
                }
            }
        }
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let left = self.total - self.next;
        (left, Some(left))
    }
}

impl ExactSizeIterator for EpochIter {}

impl Drop for EpochIter {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        // Dropping the receiver wakes workers blocked on a full queue.
        self.rx = None;
        for h in self.handles.drain(..) {
            let _ = h.join();
        }
    }
}
