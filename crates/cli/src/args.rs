//! Command-line arguments (clap derive).

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

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
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Train a ConfigNet, testing after every epoch.
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

/// The network's shape.
#[derive(Debug, Clone, Args)]
pub struct ModelArgs {
    /// Channels of the first two convs.
    #[arg(long, default_value_t = 48)]
    pub c1: usize,
    /// Channels of the last two convs.
    #[arg(long, default_value_t = 96)]
    pub c2: usize,
    /// Width of the hidden linear layer.
    #[arg(long, default_value_t = 256)]
    pub l1: usize,
    /// Dropout after the second conv.
    #[arg(long, default_value_t = 0.1)]
    pub d1: f32,
    /// Kernel size of the first conv (3 or 5).
    #[arg(long, default_value_t = 3)]
    pub conv1_kernel: usize,
}

#[derive(Debug, Args)]
pub struct TrainArgs {
    #[command(flatten)]
    pub model: ModelArgs,
    /// Epochs (default 10; 3 on the built-in synthetic dataset).
    #[arg(long)]
    pub epochs: Option<usize>,
    #[arg(long, default_value_t = 1e-3)]
    pub lr: f32,
    /// Images per batch (default 512; 64 on the built-in synthetic dataset).
    #[arg(long)]
    pub batch_size: Option<usize>,
    /// Random rotation 20°, brightness 0.2, hue 0.1 and horizontal flip.
    #[arg(long)]
    pub augment: bool,
    /// Stop after TOL epochs without a test-loss improvement.
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
    /// Loader worker threads.
    #[arg(long, default_value_t = 2)]
    pub workers: usize,
}

#[derive(Debug, Args)]
pub struct SearchArgs {
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
    /// Augment training images.
    #[arg(long)]
    pub augment: bool,
    /// Run every N-th trial: `i/N` (also read from SLURM_ARRAY_TASK_ID/COUNT).
    #[arg(long)]
    pub shard: Option<String>,
    /// Only merge the results found in the search folder and print the report.
    #[arg(long)]
    pub collect: bool,
    /// Search folder name inside --out.
    #[arg(long, default_value = "search")]
    pub name: String,
    #[arg(long, default_value_t = 2)]
    pub workers: usize,
}

/// Which weights and how to read them.
#[derive(Debug, Clone, Args)]
pub struct WeightsArgs {
    /// A weights file (safetensors, PyTorch names).
    #[arg(long)]
    pub weights: PathBuf,
    /// Override the architecture read from the file.
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
    /// conv1, conv2, conv3 or conv4.
    #[arg(long, default_value = "conv1")]
    pub layer: String,
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
