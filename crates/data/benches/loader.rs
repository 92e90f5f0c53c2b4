//! Loader throughput with the seed's full training augmentation (rotation 20°, ColorJitter
//! brightness 0.2 + hue 0.1, flip, normalise) over the synthetic dataset.
//!
//! Prints images/s on one core (workers = 0: all work on the calling thread) and with one
//! and two worker threads; the criterion groups measure the same.

use std::hint::black_box;
use std::sync::Arc;
use std::time::Instant;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use kiln_data::{Compose, DataLoader, LoaderConfig, synthetic};

const N: usize = 10_240;

fn loader(workers: usize) -> DataLoader {
    let ds = Arc::new(synthetic(N, 0));
    let cfg = LoaderConfig {
        batch_size: 512,
        shuffle: true,
        drop_last: false,
        seed: 1,
        workers,
        prefetch: 4,
    };
    DataLoader::new(ds, cfg, Arc::new(Compose::cifar_train())).expect("valid config")
}

fn epoch_checksum(loader: &DataLoader, epoch: u64) -> f32 {
    loader
        .epoch(epoch)
        .map(|b| b.images[0] + b.labels.len() as f32)
        .sum()
}

fn report(workers: usize) {
    let l = loader(workers);
    epoch_checksum(&l, 0); // warm-up
    let epochs = 3;
    let t = Instant::now();
    for e in 0..epochs {
        black_box(epoch_checksum(&l, e));
    }
    let rate = (N as u64 * epochs) as f64 / t.elapsed().as_secs_f64();
    let what = match workers {
        0 => "one core (calling thread)".to_string(),
        w => format!("{w} worker thread(s)"),
    };
    println!("loader, full cifar_train augmentation, {what}: {rate:.0} images/s");
}

fn bench(c: &mut Criterion) {
    for w in [0, 1, 2] {
        report(w);
    }
    let mut group = c.benchmark_group("loader_cifar_train");
    group.throughput(Throughput::Elements(N as u64));
    group.sample_size(10);
    for w in [0, 2] {
        let l = loader(w);
        let mut epoch = 0;
        group.bench_function(format!("workers_{w}"), |b| {
            b.iter(|| {
                epoch += 1;
                black_box(epoch_checksum(&l, epoch))
            })
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
