//! kiln-train: training any model with any optimizer (`fit`, with a callback per epoch), runs
//! in folders that know what they are (checkpoints, best weights, resumption of the same run
//! only), early stopping, the walkthrough's grid search, and TensorBoard logs; generic over the
//! backend, and silent (progress goes to [`Callbacks`]).

pub mod callbacks;
pub mod checkpoint;
mod config;
pub mod early_stopping;
mod error;
pub mod fit;
pub mod history;
pub mod run;
pub mod search;
pub mod tensorboard;
pub mod trainer;

pub use callbacks::{Callbacks, EpochEnd, StepInfo};
pub use config::{
    DataFingerprint, DatasetId, DeviceInfo, FitData, InitFrom, RunConfig, TrainConfig, made_by,
};
pub use early_stopping::{EarlyStopping, EarlyStoppingStrategy, Verdict};
pub use error::{Result, TrainError};
pub use fit::{FitOptions, FitState, check_fit, fit};
pub use history::EpochRecord;
pub use run::{RunOptions, RunOutcome, train_run};
pub use tensorboard::SummaryWriter;
pub use trainer::{EpochStats, EvalOptions, Evaluation, evaluate, train_epoch};
