//! The in-memory dataset: u8 CHW images, labels, class names and where they came from.

use crate::error::{DataError, Result};
use crate::integrity::{DataWarning, Integrity};

/// The ten CIFAR-10 class names, in label order.
pub const CIFAR10_CLASSES: [&str; 10] = [
    "airplane",
    "automobile",
    "bird",
    "cat",
    "deer",
    "dog",
    "frog",
    "horse",
    "ship",
    "truck",
];

/// Which part of a dataset to load.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Split {
    /// The training images (50,000 for CIFAR-10).
    Train,
    /// The test images (10,000 for CIFAR-10).
    Test,
}

impl Split {
    /// "train" or "test".
    pub fn name(self) -> &'static str {
        match self {
            Split::Train => "train",
            Split::Test => "test",
        }
    }
}

impl std::fmt::Display for Split {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// Images held in memory as u8, channel-major (CHW), all of one size, with their labels.
#[derive(Debug, Clone, PartialEq)]
pub struct Dataset {
    images: Vec<u8>,
    labels: Vec<usize>,
    channels: usize,
    height: usize,
    width: usize,
    class_names: Vec<String>,
    source: String,
    synthetic: bool,
    integrity: Integrity,
}

impl Dataset {
    /// Builds a dataset from `n * channels * height * width` bytes and `n` labels.
    ///
    /// Fails when the sizes disagree, a dimension is zero, or a label is not below
    /// `class_names.len()`.
    pub fn new(
        images: Vec<u8>,
        labels: Vec<usize>,
        [channels, height, width]: [usize; 3],
        class_names: Vec<String>,
        source: impl Into<String>,
    ) -> Result<Self> {
        let source = source.into();
        let per = channels * height * width;
        if per == 0 {
            return Err(DataError::Invalid(format!(
                "image shape {channels}x{height}x{width} has a zero dimension"
            )));
        }
        if images.len() != labels.len() * per {
            return Err(DataError::Invalid(format!(
                "{} image bytes do not make {} images of {channels}x{height}x{width}",
                images.len(),
                labels.len()
            )));
        }
        if let Some((index, &label)) = labels
            .iter()
            .enumerate()
            .find(|(_, l)| **l >= class_names.len())
        {
            return Err(DataError::BadLabel {
                path: source.clone().into(),
                index,
                label: label as i64,
                max: class_names.len().saturating_sub(1),
            });
        }
        Ok(Dataset {
            images,
            labels,
            channels,
            height,
            width,
            class_names,
            source,
            synthetic: false,
            integrity: Integrity::default(),
        })
    }

    /// Attaches what the loader verified.
    pub(crate) fn with_integrity(mut self, integrity: Integrity) -> Self {
        self.integrity = integrity;
        self
    }

    /// What the loader verified of the files this dataset came from (empty for data built in
    /// memory). Subsets keep their parent's.
    pub fn integrity(&self) -> &Integrity {
        &self.integrity
    }

    /// The loader's warnings, for the caller to show the user (see [`Integrity::warnings`]).
    pub fn warnings(&self) -> &[DataWarning] {
        &self.integrity.warnings
    }

    /// Marks the dataset as synthetic (made up, not real photographs).
    pub(crate) fn into_synthetic(mut self) -> Self {
        self.synthetic = true;
        self
    }

    /// Number of images.
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    /// True when there are no images.
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// Channels per image (3 for RGB).
    pub fn channels(&self) -> usize {
        self.channels
    }

    /// Image height in pixels.
    pub fn height(&self) -> usize {
        self.height
    }

    /// Image width in pixels.
    pub fn width(&self) -> usize {
        self.width
    }

    /// `[channels, height, width]`.
    pub fn image_shape(&self) -> [usize; 3] {
        [self.channels, self.height, self.width]
    }

    /// Bytes per image (`channels * height * width`).
    pub fn image_len(&self) -> usize {
        self.channels * self.height * self.width
    }

    /// Image `i` as CHW bytes. Panics when `i >= len()`, like slice indexing.
    pub fn image(&self, i: usize) -> &[u8] {
        let n = self.image_len();
        &self.images[i * n..(i + 1) * n]
    }

    /// Label of image `i`. Panics when `i >= len()`.
    pub fn label(&self, i: usize) -> usize {
        self.labels[i]
    }

    /// All images, concatenated (NCHW u8).
    pub fn images(&self) -> &[u8] {
        &self.images
    }

    /// All labels.
    pub fn labels(&self) -> &[usize] {
        &self.labels
    }

    /// Class names in label order.
    pub fn class_names(&self) -> &[String] {
        &self.class_names
    }

    /// Number of classes.
    pub fn num_classes(&self) -> usize {
        self.class_names.len()
    }

    /// A human-readable description of where the images came from (shown to the user).
    pub fn source(&self) -> &str {
        &self.source
    }

    /// True for the built-in synthetic dataset: whoever trains on it must say so.
    pub fn is_synthetic(&self) -> bool {
        self.synthetic
    }

    /// Number of images of each class, indexed by label.
    pub fn counts_per_class(&self) -> Vec<usize> {
        let mut counts = vec![0; self.class_names.len()];
        for &l in &self.labels {
            counts[l] += 1;
        }
        counts
    }

    /// A new dataset holding the images at `indices`, in that order
    /// (e.g. `ds.subset(0..10_000)` for the first 10,000). Fails on an index out of range.
    pub fn subset(&self, indices: impl IntoIterator<Item = usize>) -> Result<Dataset> {
        let n = self.image_len();
        let mut images = Vec::new();
        let mut labels = Vec::new();
        for i in indices {
            if i >= self.len() {
                return Err(DataError::Invalid(format!(
                    "subset index {i} is out of range for a dataset of {} images",
                    self.len()
                )));
            }
            images.extend_from_slice(&self.images[i * n..(i + 1) * n]);
            labels.push(self.labels[i]);
        }
        let count = labels.len();
        Ok(Dataset {
            images,
            labels,
            channels: self.channels,
            height: self.height,
            width: self.width,
            class_names: self.class_names.clone(),
            source: format!("{} (subset of {count} images)", self.source),
            synthetic: self.synthetic,
            integrity: self.integrity.clone(),
        })
    }

    /// `n` images at evenly spaced positions, in order (all of them when `n >= len()`). On a
    /// dataset sorted by class (an image folder) this keeps every class in proportion, where
    /// [`Dataset::first`] would keep only the first classes.
    pub fn spread(&self, n: usize) -> Dataset {
        let len = self.len();
        if n >= len {
            return self.clone();
        }
        let mut d = self
            .subset((0..n).map(|i| i * len / n))
            .expect("evenly spaced indices are below len");
        d.source = format!("{} ({n} images spread evenly)", self.source);
        d
    }

    /// A SHA-256 of everything that makes the dataset what it is (image shape, class names,
    /// every image's bytes and label, in order), as hex: two datasets with the same
    /// fingerprint train the same way. About 0.1 s for CIFAR-10's 50,000 images.
    pub fn fingerprint(&self) -> String {
        use sha2::{Digest, Sha256};
        let mut h = Sha256::new();
        for d in [self.channels, self.height, self.width, self.len()] {
            h.update((d as u64).to_le_bytes());
        }
        for name in &self.class_names {
            h.update((name.len() as u64).to_le_bytes());
            h.update(name.as_bytes());
        }
        h.update(&self.images);
        for &l in &self.labels {
            h.update((l as u32).to_le_bytes());
        }
        h.finalize().iter().map(|b| format!("{b:02x}")).collect()
    }

    /// Splits off a held-out validation set of `fraction` of the images, the same fraction of
    /// every class, chosen by `seed`: returns `(train, validation)`. The order within each
    /// part is the dataset's own.
    pub fn split_validation(&self, fraction: f64, seed: u64) -> Result<(Dataset, Dataset)> {
        if !(fraction > 0.0 && fraction < 1.0) {
            return Err(DataError::Invalid(format!(
                "the validation fraction must be between 0 and 1 (exclusive), got {fraction}"
            )));
        }
        let mut by_class: Vec<Vec<usize>> = vec![Vec::new(); self.num_classes()];
        for (i, &l) in self.labels.iter().enumerate() {
            by_class[l].push(i);
        }
        let mut held = vec![false; self.len()];
        for (c, idx) in by_class.iter_mut().enumerate() {
            // a seeded shuffle per class (Fisher-Yates over a counter-based stream)
            for i in (1..idx.len()).rev() {
                let j = (crate::loader::mix(seed, c as u64, i as u64) % (i as u64 + 1)) as usize;
                idx.swap(i, j);
            }
            let take = (idx.len() as f64 * fraction).round() as usize;
            for &i in &idx[..take.min(idx.len())] {
                held[i] = true;
            }
        }
        let val: Vec<usize> = (0..self.len()).filter(|&i| held[i]).collect();
        let train: Vec<usize> = (0..self.len()).filter(|&i| !held[i]).collect();
        if val.is_empty() || train.is_empty() {
            return Err(DataError::Invalid(format!(
                "a validation fraction of {fraction} of {} images leaves {} for training and {} for validation",
                self.len(),
                train.len(),
                val.len()
            )));
        }
        let mut t = self.subset(train)?;
        let mut v = self.subset(val)?;
        t.source = format!("{} (training part, {} images)", self.source, t.len());
        v.source = format!(
            "{} (held-out validation part, {} images)",
            self.source,
            v.len()
        );
        Ok((t, v))
    }

    /// The first `n` images (all of them when `n >= len()`).
    pub fn first(&self, n: usize) -> Dataset {
        let n = n.min(self.len());
        if n == self.len() {
            return self.clone();
        }
        let per = self.image_len();
        Dataset {
            images: self.images[..n * per].to_vec(),
            labels: self.labels[..n].to_vec(),
            channels: self.channels,
            height: self.height,
            width: self.width,
            class_names: self.class_names.clone(),
            source: format!("{} (first {n} images)", self.source),
            synthetic: self.synthetic,
            integrity: self.integrity.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tiny() -> Dataset {
        let images: Vec<u8> = (0..4 * 3 * 2 * 2).map(|v| v as u8).collect();
        Dataset::new(
            images,
            vec![0, 1, 1, 2],
            [3, 2, 2],
            vec!["a".into(), "b".into(), "c".into()],
            "tiny",
        )
        .unwrap()
    }

    #[test]
    fn fingerprints_tell_datasets_apart_and_validation_splits_are_stratified() {
        let labels: Vec<usize> = (0..100).map(|i| i % 4).collect();
        let images: Vec<u8> = (0..100 * 3).map(|i| (i * 7 % 251) as u8).collect();
        let names: Vec<String> = ["a", "b", "c", "d"].map(String::from).to_vec();
        let d = Dataset::new(
            images.clone(),
            labels.clone(),
            [3, 1, 1],
            names.clone(),
            "x",
        )
        .unwrap();
        assert_eq!(d.fingerprint(), d.clone().fingerprint());
        let mut other = images;
        other[5] ^= 1;
        let e = Dataset::new(other, labels, [3, 1, 1], names, "x").unwrap();
        assert_ne!(d.fingerprint(), e.fingerprint(), "one byte changes it");
        let (t, v) = d.split_validation(0.2, 9).unwrap();
        assert_eq!((t.len(), v.len()), (80, 20));
        assert_eq!(
            v.counts_per_class(),
            vec![5; 4],
            "every class in proportion"
        );
        let (t2, v2) = d.split_validation(0.2, 9).unwrap();
        assert_eq!(
            (t2.labels(), v2.images()),
            (t.labels(), v.images()),
            "seeded"
        );
        let (_, v3) = d.split_validation(0.2, 10).unwrap();
        assert_ne!(v3.images(), v.images(), "another seed, other images");
        assert!(d.split_validation(0.0, 1).is_err() && d.split_validation(1.0, 1).is_err());
    }

    #[test]
    fn accessors_and_counts() {
        let ds = tiny();
        assert_eq!(ds.len(), 4);
        assert_eq!(
            ds.image(1),
            &(12..24).map(|v| v as u8).collect::<Vec<_>>()[..]
        );
        assert_eq!(ds.label(3), 2);
        assert_eq!(ds.counts_per_class(), vec![1, 2, 1]);
        assert!(!ds.is_synthetic());
    }

    #[test]
    fn spread_keeps_every_class_of_a_sorted_set() {
        // 3 classes of 4 images, sorted by class as an image folder is
        let labels: Vec<usize> = (0..12).map(|i| i / 4).collect();
        let images: Vec<u8> = (0..12u8).collect();
        let ds = Dataset::new(
            images,
            labels,
            [1, 1, 1],
            vec!["a".into(), "b".into(), "c".into()],
            "t",
        )
        .unwrap();
        let s = ds.spread(6);
        assert_eq!(s.labels(), &[0, 0, 1, 1, 2, 2]);
        assert_eq!(
            (0..6).map(|i| s.image(i)[0]).collect::<Vec<_>>(),
            [0, 2, 4, 6, 8, 10]
        );
        assert!(
            s.source().contains("6 images spread evenly"),
            "{}",
            s.source()
        );
        assert_eq!(ds.spread(12).len(), 12);
        assert_eq!(ds.first(6).counts_per_class(), [4, 2, 0]);
    }

    #[test]
    fn subset_and_first() {
        let ds = tiny();
        let s = ds.subset([3, 0]).unwrap();
        assert_eq!(s.labels(), &[2, 0]);
        assert_eq!(s.image(0), ds.image(3));
        assert!(ds.subset(0..5).is_err());
        let f = ds.first(2);
        assert_eq!(f.len(), 2);
        assert_eq!(f.image(1), ds.image(1));
        assert_eq!(ds.first(99).len(), 4);
    }

    #[test]
    fn rejects_bad_shapes_and_labels() {
        assert!(Dataset::new(vec![0; 5], vec![0], [3, 2, 2], vec!["a".into()], "x").is_err());
        let err = Dataset::new(vec![0; 12], vec![1], [3, 2, 2], vec!["a".into()], "x").unwrap_err();
        assert!(err.to_string().contains("label 1"), "{err}");
    }
}
