//! What a training run is made of, all of it recorded in the run folder and every checkpoint:
//! the network, the recipe (optimizer, schedule, augmentation, ...), the data it trains on
//! (down to a hash of every image), the device and the version of Kiln. A run resumes only
//! when all of that is unchanged, the number of epochs excepted.

use std::path::PathBuf;

use kiln_data::{Augmentation, Dataset};
use kiln_nn::{Architecture, LrSchedule, OptimizerConfig};
use serde::{Deserialize, Serialize};

/// The recipe: how the network is trained.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainConfig {
    pub epochs: usize,
    pub batch_size: usize,
    pub seed: u64,
    pub optimizer: OptimizerConfig,
    pub schedule: LrSchedule,
    pub label_smoothing: f32,
    pub augment: Augmentation,
    /// Early-stopping patience (epochs without improvement of the monitored loss); `None`
    /// trains all epochs.
    pub early_stop: Option<usize>,
    pub min_delta: f64,
    /// Evaluate on each image and its mirror image, averaging the probabilities.
    pub flip_tta: bool,
    /// The fraction of the training set held out for validation (stratified, seeded), if any.
    pub val_split: Option<f64>,
}

impl Default for TrainConfig {
    /// The walkthrough's: Adam at 1e-3, batch 512, 10 epochs, cross-entropy, no augmentation.
    fn default() -> Self {
        TrainConfig {
            epochs: 10,
            batch_size: 512,
            seed: 0,
            optimizer: OptimizerConfig::adam(1e-3),
            schedule: LrSchedule::constant(),
            label_smoothing: 0.0,
            augment: Augmentation::NONE,
            early_stop: None,
            min_delta: 0.0,
            flip_tta: false,
            val_split: None,
        }
    }
}

impl TrainConfig {
    /// Checks everything that can be checked without the data: counts, the optimizer, label
    /// smoothing, the validation split and the schedule's structure (its length in steps is
    /// checked again once the data is known).
    pub fn validate(&self) -> crate::Result<()> {
        let bad = |m: String| Err(crate::TrainError::Config(m));
        if self.epochs == 0 || self.batch_size == 0 {
            return bad(format!(
                "epochs and batch size must be at least 1 (got {} epochs, batch {})",
                self.epochs, self.batch_size
            ));
        }
        if !(0.0..1.0).contains(&self.label_smoothing) {
            return bad(format!(
                "label smoothing must be in [0, 1), got {}",
                self.label_smoothing
            ));
        }
        if let Some(f) = self.val_split
            && !(f > 0.0 && f < 1.0)
        {
            return bad(format!(
                "the validation split must be a fraction between 0 and 1, got {f}"
            ));
        }
        self.optimizer.validate()?;
        // a generous step count: only a schedule that cannot work at any length fails here
        self.schedule
            .validate(self.optimizer.lr(), 1 << 20, self.epochs as u64)
            .map_err(kiln_nn::NnError::from)?;
        Ok(())
    }
}

/// One dataset as a run saw it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DatasetId {
    pub images: usize,
    /// [`Dataset::fingerprint`]: a SHA-256 of every image and label.
    pub sha256: String,
}

impl DatasetId {
    pub fn of(d: &Dataset) -> Self {
        DatasetId {
            images: d.len(),
            sha256: d.fingerprint(),
        }
    }
}

/// The data of a run: where it came from, its shape, its classes, and each split's identity.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DataFingerprint {
    /// As the loader describes it ("CIFAR-10 binary version in data/...", "SYNTHETIC ...").
    pub source: String,
    pub image_shape: [usize; 3],
    pub class_names: Vec<String>,
    pub train: DatasetId,
    /// The held-out part of the training set that picks the best epoch, if any.
    pub validation: Option<DatasetId>,
    pub test: DatasetId,
}

/// What the run trains on: the training set, an optional validation set (monitored for early
/// stopping and the best weights) and the test set (only reported, unless there is no
/// validation set: then the test set is monitored, as in the walkthrough).
#[derive(Debug, Clone)]
pub struct FitData {
    pub train: std::sync::Arc<Dataset>,
    pub validation: Option<std::sync::Arc<Dataset>>,
    pub test: std::sync::Arc<Dataset>,
}

impl FitData {
    /// The fingerprint of these datasets (hashes every image: ~0.1 s per 50,000).
    pub fn fingerprint(&self) -> DataFingerprint {
        DataFingerprint {
            source: self.train.source().to_string(),
            image_shape: self.train.image_shape(),
            class_names: self.train.class_names().to_vec(),
            train: DatasetId::of(&self.train),
            validation: self.validation.as_deref().map(DatasetId::of),
            test: DatasetId::of(&self.test),
        }
    }
}

/// What computes: the device kind and its precision.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceInfo {
    /// "cpu" or "cuda".
    pub kind: String,
    /// "f32" or "tf32".
    pub precision: String,
}

/// The weights a run starts from (fine-tuning), with their content hash.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InitFrom {
    pub path: PathBuf,
    pub sha256: String,
}

/// A whole run: everything that decides its result.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunConfig {
    pub model: Architecture,
    pub train: TrainConfig,
    pub init_from: Option<InitFrom>,
    pub data: DataFingerprint,
    pub device: DeviceInfo,
    /// The Kiln that made the run ("kiln-train 0.1.0").
    pub made_by: String,
}

/// Kiln's version, as runs, checkpoints and weights record it.
pub fn made_by() -> String {
    format!("kiln {}", env!("CARGO_PKG_VERSION"))
}

impl RunConfig {
    /// Every way `other` differs from this run, as lines "what: this → other"; the number
    /// of epochs is not a difference (a finished run may be extended).
    pub fn differences(&self, other: &RunConfig) -> Vec<String> {
        let mut out = Vec::new();
        let mut diff = |what: &str, a: String, b: String| {
            if a != b {
                out.push(format!("{what}: {a} → {b}"));
            }
        };
        diff("model", json(&self.model), json(&other.model));
        let (a, b) = (&self.train, &other.train);
        diff(
            "batch size",
            a.batch_size.to_string(),
            b.batch_size.to_string(),
        );
        diff("seed", a.seed.to_string(), b.seed.to_string());
        diff("optimizer", a.optimizer.describe(), b.optimizer.describe());
        diff("schedule", json(&a.schedule), json(&b.schedule));
        diff(
            "label smoothing",
            a.label_smoothing.to_string(),
            b.label_smoothing.to_string(),
        );
        diff("augmentation", a.augment.describe(), b.augment.describe());
        diff(
            "early stopping",
            format!("{:?} (min delta {})", a.early_stop, a.min_delta),
            format!("{:?} (min delta {})", b.early_stop, b.min_delta),
        );
        diff("flip TTA", a.flip_tta.to_string(), b.flip_tta.to_string());
        diff(
            "validation split",
            format!("{:?}", a.val_split),
            format!("{:?}", b.val_split),
        );
        diff(
            "initial weights",
            format!("{:?}", self.init_from),
            format!("{:?}", other.init_from),
        );
        let (a, b) = (&self.data, &other.data);
        diff("data", a.source.clone(), b.source.clone());
        diff(
            "image shape",
            format!("{:?}", a.image_shape),
            format!("{:?}", b.image_shape),
        );
        diff("classes", a.class_names.join(","), b.class_names.join(","));
        let id = |d: &DatasetId| {
            format!(
                "{} images, SHA-256 {}",
                d.images,
                &d.sha256[..16.min(d.sha256.len())]
            )
        };
        diff("training images", id(&a.train), id(&b.train));
        diff(
            "validation images",
            a.validation.as_ref().map_or("none".into(), id),
            b.validation.as_ref().map_or("none".into(), id),
        );
        diff("test images", id(&a.test), id(&b.test));
        diff(
            "device",
            format!("{} ({})", self.device.kind, self.device.precision),
            format!("{} ({})", other.device.kind, other.device.precision),
        );
        diff("Kiln", self.made_by.clone(), other.made_by.clone());
        out
    }
}

fn json<T: Serialize>(v: &T) -> String {
    serde_json::to_string(v).unwrap_or_default()
}
