//! kiln-tensor: f32 tensors on a pluggable [`Backend`], with reverse-mode autograd written once
//! for every backend.
//!
//! ```
//! use kiln_tensor::{Cpu, Tensor};
//! let dev = Cpu;
//! let w = Tensor::from_slice(&[1.0, 2.0, 3.0, 4.0], &[2, 2], &dev).unwrap().set_requires_grad(true);
//! let x = Tensor::from_slice(&[1.0, -1.0], &[1, 2], &dev).unwrap();
//! let loss = x.matmul(&w).unwrap().relu().unwrap().sum_all().unwrap();
//! let grads = loss.backward().unwrap();
//! assert_eq!(grads.get(&w).unwrap().to_vec().unwrap(), vec![0.0, 0.0, -0.0, -0.0]);
//! ```

pub mod autograd;
pub mod backend;
pub mod cpu;
#[cfg(feature = "cuda")]
pub mod cuda;
mod error;
pub mod layout;
pub mod ops;
mod precision;
pub mod rng;
mod tensor;
pub mod testing;

pub use autograd::{GradStore, NoGradGuard, no_grad};
pub use backend::{Backend, BackendBase};
pub use cpu::Cpu;
#[cfg(feature = "cuda")]
pub use cuda::Cuda;
pub use error::{Result, TensorError};
pub use layout::Layout;
pub use ops::batch_norm::{BatchNormOutput, BatchNormResult, BatchNormSpec, BatchNormStats};
pub use ops::conv2d::{Conv2dOptions, Conv2dSpec};
pub use ops::elementwise::{BinaryOp, UnaryOp};
pub use ops::matmul::{MatOperand, MatmulSpec};
pub use ops::optim::{AdamStep, SgdStep};
pub use ops::out_size;
pub use ops::pool::{Pool2dOptions, Pool2dSpec};
pub use ops::reduce::ReduceOp;
pub use precision::Precision;
pub use tensor::{Tensor, TensorId};
