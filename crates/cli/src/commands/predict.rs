//! `kiln predict`: class and top-3 probabilities of image files.

use kiln_nn::{Context, Module};
use kiln_tensor::{Backend, Tensor, no_grad};

use crate::args::{Common, PredictArgs};
use crate::device::Job;
use crate::{Result, class_names, model_file, normalize_u8};

pub struct PredictJob {
    pub common: Common,
    pub args: PredictArgs,
}

impl Job for PredictJob {
    type Output = Vec<(String, f32)>;

    fn run<B: Backend>(self, dev: &B) -> Result<Vec<(String, f32)>> {
        let (c, a) = (&self.common, &self.args);
        let mut net = model_file::open(&a.weights.weights, crate::flags(&a.weights), dev)?;
        let names = class_names(c.data.as_deref(), net.config.classes)?;
        let mut out = Vec::new();
        for path in &a.images {
            let img = kiln_data::decode_image_file(path)?;
            let x = Tensor::from_slice(&normalize_u8(&img), &[1, 3, 32, 32], dev)?;
            let logits = no_grad(|| net.forward(&x, &mut Context::eval()))?.to_vec()?;
            let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max);
            let exps: Vec<f32> = logits.iter().map(|v| (v - max).exp()).collect();
            let sum: f32 = exps.iter().sum();
            let mut ranked: Vec<(usize, f32)> = exps.iter().map(|e| e / sum).enumerate().collect();
            ranked.sort_by(|a, b| b.1.total_cmp(&a.1));
            let top: Vec<String> = ranked
                .iter()
                .take(3)
                .map(|(i, p)| format!("{} {:.1}%", names[*i], 100.0 * p))
                .collect();
            println!(
                "{}: {}   (top 3: {})",
                path.display(),
                names[ranked[0].0],
                top.join(", ")
            );
            out.push((names[ranked[0].0].clone(), ranked[0].1));
        }
        Ok(out)
    }
}
