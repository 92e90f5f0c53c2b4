//! kiln-train: the training loop, early stopping, safe checkpoints and resumption, and the grid
//! search of the walkthrough, generic over the backend.

pub mod checkpoint;
mod config;
pub mod early_stopping;
mod error;
pub mod history;
pub mod progress;
pub mod run;
pub mod search;
pub mod tensorboard;
pub mod trainer;

pub use config::{RunConfig, TrainConfig};
pub use early_stopping::{EarlyStopping, EarlyStoppingStrategy, Verdict};
pub use error::{Result, TrainError};
pub use history::EpochRecord;
pub use run::{FitOptions, FitOutcome, fit};
pub use tensorboard::SummaryWriter;
pub use trainer::{EpochStats, Evaluation, evaluate, train_epoch};
