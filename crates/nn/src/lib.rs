//! kiln-nn: modules, layers, losses, optimizers, the walkthrough's `ConfigNet`, and state
//! dicts that PyTorch reads and writes. Everything is generic over the backend `B`.
//!
//! A network of your own is a struct of layers with `#[derive(Module)]` and a `forward`
//! method (see [`module`] and the `custom_module` example).

// The derive's code names `::kiln_nn`, which must resolve inside this crate too.
extern crate self as kiln_nn;

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
// The derive shares the trait's name, as serde's do.
pub use kiln_nn_derive::Module;
pub use optim::{
    Adam, AdamConfig, Interval, LrSchedule, Optimizer, OptimizerConfig, OptimizerState,
    ScheduleError, ScheduleKind, Sgd, SgdConfig,
};

/// What `#[derive(Module)]`'s code refers to. Not part of the API.
#[doc(hidden)]
pub mod __private {
    pub use crate::Result;
    pub use crate::module::{Context, Module, TensorKind, visit_child, visit_child_mut};
    pub use kiln_tensor::{Backend, Tensor};
}
