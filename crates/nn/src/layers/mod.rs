//! Layers: one file per layer family.

mod activation;
mod batch_norm;
mod conv2d;
mod dropout;
mod linear;
mod pool;
mod residual;
mod sequential;

pub use activation::{Flatten, GELU, ReLU};
pub use batch_norm::{BatchNorm, BatchNorm1d, BatchNorm2d};
pub use conv2d::{Conv2d, Conv2dConfig};
pub use dropout::Dropout;
pub use linear::Linear;
pub use pool::{AvgPool2d, GlobalAvgPool2d, MaxPool2d};
pub use residual::Residual;
pub use sequential::Sequential;
