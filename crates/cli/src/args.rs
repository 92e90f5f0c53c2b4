//! Command-line arguments (clap derive).

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::device::DeviceKind;

/// Kiln: train convolutional networks on CIFAR-10, on a CPU or an NVIDIA GPU.
#[derive(Debug, Parser)]
#[command(name = "kiln", version, about, propagate_version = true)]
pub struct Cli {
    #[command(flatten)]
    pub common: Common,
    #[command(subcommand)]
    pub command: Command,
}

/// Flags every subcommand takes.
#[derive(Debug, Clone, Args)]
pub struct Common {
    /// Compute device.
    #[arg(long, global = true, value_enum, default_value_t = DeviceKind::Cpu)]
    pub device: DeviceKind,
    /// Seed of initialisation, shuffling, augmentation and dropout.
    #[arg(long, global = true, default_value_t = 0)]
    pub seed: u64,
    /// Compute threads (default: one per core).
    #[arg(long, global = true)]
    pub threads: Option<usize>,
    /// Output folder.
    #[arg(long, global = true, default_value = "runs")]
    pub out: PathBuf,
    /// Data folder (CIFAR-10 binary or python layout, or an image folder); default KILN_DATA,
    /// else the built-in synthetic dataset.
    #[arg(long, global = true)]
    pub data: Option<PathBuf>,
    /// Use only N training images, spread evenly over the set (every class in proportion).
    #[arg(long, global = true)]
    pub train_size: Option<usize>,
    /// Use only N test images, spread evenly over the set.
    #[arg(long, global = true)]
    pub test_size: Option<usize>,
    /// Side that image folders are resized to (at least 8; CIFAR-10 files are 32x32). Default:
    /// the network's input side where a weights file gives one, else 32.
    #[arg(long, global = true)]
    pub image_size: Option<usize>,
    /// Arithmetic of the GPU's matrix products and convolutions: tf32 (tensor cores, the CUDA
    /// default, as PyTorch's convolutions) or f32 (exact). The CPU computes in f32 always.
    #[arg(long, global = true, value_enum)]
    pub precision: Option<PrecisionArg>,
}

/// `--precision`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum PrecisionArg {
    F32,
    Tf32,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Train a network (ConfigNet, a built-in one, or a model file), testing after every epoch.
    Train(TrainArgs),
    /// Grid search over c1, c2, l1, d1, lr, batch size and epochs with early stopping.
    Search(SearchArgs),
    /// Test loss, accuracy, per-class metrics and confusion matrices of a weights file.
    Eval(EvalArgs),
    /// A picture of test images with their true and predicted classes.
    Samples(SamplesArgs),
    /// Predict the class of image files (PNG or JPEG).
    Predict(PredictArgs),
    /// Draw the learned filters of a conv layer.
    Filters(FiltersArgs),
    /// Draw the feature maps of every conv layer for one image.
    Features(FeaturesArgs),
    /// Write a weights file as an ONNX model (for ONNX Runtime and other runtimes).
    Export(ExportArgs),
    /// Download or describe CIFAR-10.
    #[command(subcommand)]
    Data(DataCommand),
    /// Measure training and inference speed on random data.
    Bench(BenchArgs),
}

/// The network.
#[derive(Debug, Clone, Args)]
pub struct ModelArgs {
    /// A built-in network (confignet, resnet9, resnet9-half) or a model file (.toml or .json
    /// with [[layer]] tables, PyTorch's layer names and arguments).
    #[arg(long, default_value = "confignet")]
    pub model: String,
    /// ConfigNet: channels of the first two convs [default: 48].
    #[arg(long)]
    pub c1: Option<usize>,
    /// ConfigNet: channels of the last two convs [default: 96].
    #[arg(long)]
    pub c2: Option<usize>,
    /// ConfigNet: width of the hidden linear layer [default: 256].
    #[arg(long)]
    pub l1: Option<usize>,
    /// ConfigNet: dropout after the second conv [default: 0.1].
    #[arg(long)]
    pub d1: Option<f32>,
    /// ConfigNet: kernel size of the first conv, 3 or 5 [default: 3].
    #[arg(long)]
    pub conv1_kernel: Option<usize>,
}

/// `--optimizer`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OptimizerArg {
    Adam,
    Adamw,
    Sgd,
}

/// `--schedule`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ScheduleArg {
    Constant,
    Step,
    Cosine,
    Onecycle,
}

/// `--augment`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum AugmentArg {
    /// Rotation 20°, brightness 0.2, hue 0.1, horizontal flip (the walkthrough's).
    Walkthrough,
    /// Pad 4 and crop back at a random place, horizontal flip (the usual CIFAR recipe).
    CropFlip,
    None,
}

/// `--recipe`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum RecipeArg {
    /// Adam at 1e-3, constant, no augmentation unless --augment: the walkthrough's.
    Walkthrough,
    /// AdamW (lr 2e-3, weight decay 0.05), one-cycle, label smoothing 0.1, crop + flip +
    /// cutout 8, a 5% validation split, flip TTA, batch 256, 40 epochs: how people train CIFAR
    /// nets today.
    Modern,
}

/// How a network is trained. Each flag overrides the recipe's value.
#[derive(Debug, Clone, Args)]
pub struct RecipeArgs {
    /// A named set of the flags below (they override it).
    #[arg(long, value_enum, default_value_t = RecipeArg::Walkthrough)]
    pub recipe: RecipeArg,
    #[arg(long, value_enum)]
    pub optimizer: Option<OptimizerArg>,
    /// SGD's momentum (default 0.9).
    #[arg(long)]
    pub momentum: Option<f32>,
    /// SGD with Nesterov momentum.
    #[arg(long)]
    pub nesterov: bool,
    #[arg(long)]
    pub weight_decay: Option<f32>,
    /// Learning-rate schedule (per step; step decays every --step-epochs epochs by --gamma).
    #[arg(long, value_enum)]
    pub schedule: Option<ScheduleArg>,
    /// Linear warm-up epochs before the schedule (not with onecycle, which has its own).
    #[arg(long)]
    pub warmup_epochs: Option<u64>,
    #[arg(long, default_value_t = 30)]
    pub step_epochs: u64,
    #[arg(long, default_value_t = 0.1)]
    pub gamma: f32,
    #[arg(long)]
    pub label_smoothing: Option<f32>,
    /// Augment training images (`--augment` alone is the walkthrough's).
    #[arg(long, value_enum, num_args = 0..=1, default_missing_value = "walkthrough")]
    pub augment: Option<AugmentArg>,
    /// Also cut out a random N x N square of each training image.
    #[arg(long, value_name = "N")]
    pub cutout: Option<usize>,
    /// Hold out this fraction of the training set for validation: early stopping and the best
    /// weights go by it, and the test set is only reported.
    #[arg(long, value_name = "F")]
    pub val_split: Option<f64>,
    /// Evaluate each image and its mirror image, averaging the predictions.
    #[arg(long)]
    pub tta: bool,
    /// Write TensorBoard event files of every epoch's figures into DIR.
    #[arg(long, value_name = "DIR")]
    pub tensorboard: Option<PathBuf>,
    /// Loader worker threads.
    #[arg(long, default_value_t = 2)]
    pub workers: usize,
}

#[derive(Debug, Args)]
pub struct TrainArgs {
    #[command(flatten)]
    pub model: ModelArgs,
    /// Epochs (default 10, the modern recipe's 40; 3 on the built-in synthetic dataset).
    #[arg(long)]
    pub epochs: Option<usize>,
    /// Base learning rate (default 1e-3, the modern recipe's 2e-3).
    #[arg(long)]
    pub lr: Option<f32>,
    /// Images per batch (default 512, the modern recipe's 256; 64 on the built-in synthetic
    /// dataset).
    #[arg(long)]
    pub batch_size: Option<usize>,
    #[command(flatten)]
    pub recipe: RecipeArgs,
    /// Stop after TOL epochs without an improvement of the validation (else test) loss.
    #[arg(long, value_name = "TOL")]
    pub early_stop: Option<usize>,
    /// Start from these weights (fine-tuning).
    #[arg(long, value_name = "WEIGHTS")]
    pub from: Option<PathBuf>,
    /// Continue an interrupted run from its folder.
    #[arg(long, value_name = "RUN_DIR")]
    pub resume: Option<PathBuf>,
    /// Name of the run folder inside --out (default: train-<time>).
    #[arg(long)]
    pub name: Option<String>,
}

#[derive(Debug, Args)]
pub struct SearchArgs {
    /// The network every trial starts from (c1/c2/l1/d1/conv1-kernel lists vary a ConfigNet).
    #[arg(long, default_value = "confignet")]
    pub model: String,
    #[command(flatten)]
    pub recipe: RecipeArgs,
    /// c1 values, comma-separated.
    #[arg(long, value_delimiter = ',', num_args = 1..)]
    pub c1: Vec<usize>,
    #[arg(long, value_delimiter = ',', num_args = 1..)]
    pub c2: Vec<usize>,
    #[arg(long, value_delimiter = ',', num_args = 1..)]
    pub l1: Vec<usize>,
    #[arg(long, value_delimiter = ',', num_args = 1..)]
    pub d1: Vec<f32>,
    #[arg(long, value_delimiter = ',', num_args = 1..)]
    pub lr: Vec<f32>,
    #[arg(long, value_delimiter = ',', num_args = 1..)]
    pub batch_size: Vec<usize>,
    #[arg(long, value_delimiter = ',', num_args = 1..)]
    pub epochs: Vec<usize>,
    #[arg(long, value_delimiter = ',', num_args = 1..)]
    pub conv1_kernel: Vec<usize>,
    /// A TOML or JSON file with the lists (flags add to it).
    #[arg(long)]
    pub space: Option<PathBuf>,
    /// Early-stopping tolerance of every trial.
    #[arg(long, default_value_t = 3)]
    pub early_stop: usize,
    /// Run every N-th trial: `i/N` (also read from SLURM_ARRAY_TASK_ID/COUNT).
    #[arg(long)]
    pub shard: Option<String>,
    /// Only merge the results found in the search folder and print the report.
    #[arg(long)]
    pub collect: bool,
    /// Search folder name inside --out.
    #[arg(long, default_value = "search")]
    pub name: String,
}

/// Which weights and how to read them.
#[derive(Debug, Clone, Args)]
pub struct WeightsArgs {
    /// A weights file: Kiln's safetensors (which names its own network), or a ConfigNet state
    /// dict from PyTorch (safetensors or torch.save .pt).
    #[arg(long)]
    pub weights: PathBuf,
    /// For a file without Kiln's metadata: the ConfigNet settings it was trained with (read
    /// from its tensor shapes when left out).
    #[arg(long)]
    pub c1: Option<usize>,
    #[arg(long)]
    pub c2: Option<usize>,
    #[arg(long)]
    pub l1: Option<usize>,
    #[arg(long)]
    pub conv1_kernel: Option<usize>,
}

#[derive(Debug, Args)]
pub struct EvalArgs {
    #[command(flatten)]
    pub weights: WeightsArgs,
    #[arg(long, default_value_t = 500)]
    pub batch_size: usize,
    /// Evaluate each image and its mirror image, averaging the predictions.
    #[arg(long)]
    pub tta: bool,
}

#[derive(Debug, Args)]
pub struct SamplesArgs {
    #[command(flatten)]
    pub weights: WeightsArgs,
    /// Number of test images, spread evenly over the test set.
    #[arg(long, default_value_t = 8)]
    pub n: usize,
}

#[derive(Debug, Args)]
pub struct PredictArgs {
    #[command(flatten)]
    pub weights: WeightsArgs,
    /// PNG or JPEG files.
    #[arg(required = true)]
    pub images: Vec<PathBuf>,
}

#[derive(Debug, Args)]
pub struct FiltersArgs {
    #[command(flatten)]
    pub weights: WeightsArgs,
    /// The conv layer: conv1..conv4 for ConfigNet, else its state-dict prefix (`0`, `4.body.0`);
    /// default the first.
    #[arg(long)]
    pub layer: Option<String>,
    /// For a layer whose input is not RGB: draw this input channel of every filter (default:
    /// all kernels, one row per filter).
    #[arg(long)]
    pub channel: Option<usize>,
}

#[derive(Debug, Args)]
pub struct FeaturesArgs {
    #[command(flatten)]
    pub weights: WeightsArgs,
    /// An image file; without it, test image --index.
    pub image: Option<PathBuf>,
    #[arg(long, default_value_t = 0)]
    pub index: usize,
    /// Feature maps per layer.
    #[arg(long, default_value_t = 16)]
    pub maps: usize,
}

#[derive(Debug, Args)]
pub struct ExportArgs {
    #[command(flatten)]
    pub weights: WeightsArgs,
    /// The ONNX file to write.
    #[arg(long, value_name = "FILE")]
    pub onnx: PathBuf,
}

#[derive(Debug, Subcommand)]
pub enum DataCommand {
    /// Download CIFAR-10 (binary version) into --out's parent or DIR.
    Download {
        /// Destination folder.
        #[arg(long, default_value = "data")]
        dir: PathBuf,
    },
    /// Describe the data --data (or KILN_DATA) points at.
    Info,
    /// Check every file of the data --data (or KILN_DATA) points at: checksums (SHA256SUMS or
    /// MD5SUMS beside the files), sizes, formats, labels and duplicate batches.
    Verify {
        /// Record the files instead: write SHA256SUMS (and MD5SUMS where one exists) for the
        /// files of the layout found, after the format checks pass.
        #[arg(long)]
        write: bool,
    },
}

#[derive(Debug, Args)]
pub struct BenchArgs {
    #[command(flatten)]
    pub model: ModelArgs,
    #[arg(long, default_value_t = 512)]
    pub batch_size: usize,
    /// Timed steps after warm-up.
    #[arg(long, default_value_t = 10)]
    pub steps: usize,
    #[arg(long, default_value_t = 2)]
    pub warmup: usize,
    /// Print one JSON object instead of tables.
    #[arg(long)]
    pub json: bool,
    /// Skip the per-op profile.
    #[arg(long)]
    pub no_profile: bool,
}
