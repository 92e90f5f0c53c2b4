//! kiln-nn: modules, layers, losses, optimizers, the walkthrough's `ConfigNet`, and state
//! dicts that PyTorch reads and writes. Everything is generic over the backend `B`.

mod config_net;
mod error;
pub mod init;
pub mod layers;
mod loss;
pub mod model;
pub mod module;
pub mod optim;
pub mod profile;
pub mod state_dict;

pub use config_net::{CONV_LAYERS, ConfigNet, ConfigNetConfig, ConvLayer, FeatureMaps};
pub use error::{NnError, Result};
pub use loss::CrossEntropyLoss;
pub use model::{Architecture, LayerSpec, Model, ModelFile};
pub use module::{Context, Module, TensorKind};
pub use optim::{
    Adam, AdamConfig, Interval, LrSchedule, Optimizer, OptimizerConfig, OptimizerState,
    ScheduleError, ScheduleKind, Sgd, SgdConfig,
};
