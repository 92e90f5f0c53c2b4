//! `Linear`: PyTorch's `nn.Linear` (`y = x Wᵀ + b`, weight `[out, in]`).

use kiln_tensor::{Backend, Tensor};

use crate::init::{bias_uniform, kaiming_uniform, sub_seed};
use crate::{Context, Module, Result, TensorKind};

/// A fully connected layer.
pub struct Linear<B: Backend> {
    pub weight: Tensor<B>,
    pub bias: Option<Tensor<B>>,
}

impl<B: Backend> Linear<B> {
    /// PyTorch's default initialisation from `seed`.
    pub fn new(
        in_features: usize,
        out_features: usize,
        bias: bool,
        seed: u64,
        dev: &B,
    ) -> Result<Self> {
        let weight = kaiming_uniform(
            &[out_features, in_features],
            in_features,
            sub_seed(seed, 0),
            dev,
        )?
        .set_requires_grad(true);
        let bias = if bias {
            Some(
                bias_uniform(out_features, in_features, sub_seed(seed, 1), dev)?
                    .set_requires_grad(true),
            )
        } else {
            None
        };
        Ok(Linear { weight, bias })
    }
}

impl<B: Backend> Module<B> for Linear<B> {
    fn forward(&mut self, x: &Tensor<B>, _ctx: &mut Context) -> Result<Tensor<B>> {
        Ok(x.linear(&self.weight, self.bias.as_ref())?)
    }
    fn visit(&self, f: &mut dyn FnMut(&str, &Tensor<B>, TensorKind)) {
        f("weight", &self.weight, TensorKind::Parameter);
        if let Some(b) = &self.bias {
            f("bias", b, TensorKind::Parameter);
        }
    }
    fn visit_mut(&mut self, f: &mut dyn FnMut(&str, &mut Tensor<B>, TensorKind)) {
        f("weight", &mut self.weight, TensorKind::Parameter);
        if let Some(b) = &mut self.bias {
            f("bias", b, TensorKind::Parameter);
        }
    }
}
