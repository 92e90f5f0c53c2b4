//! `kiln predict`: class and top-3 probabilities of image files, with the class names and
//! normalisation the weights carry.

use kiln_nn::{Context, Module};
use kiln_tensor::{Backend, no_grad};

use crate::args::{Common, PredictArgs};
use crate::device::Job;
use crate::{Result, model_file};

pub struct PredictJob {
    pub common: Common,
    pub args: PredictArgs,
}

impl Job for PredictJob {
    type Output = Vec<(String, f32)>;

    fn run<B: Backend>(self, dev: &B) -> Result<Vec<(String, f32)>> {
        let a = &self.args;
        let mut net = model_file::open(&a.weights, dev)?;
        // every file is decoded before anything is predicted
        let images = a
            .images
            .iter()
            .map(|p| net.decode(p))
            .collect::<Result<Vec<_>>>()?;
        let mut out = Vec::new();
        for (path, img) in a.images.iter().zip(images) {
            let x = net.batch(&img, dev)?;
            let logits = no_grad(|| net.model.forward(&x, &mut Context::eval()))?.to_vec()?;
            let probs = kiln_metrics::softmax(&logits);
            if probs.iter().any(|p| !p.is_finite()) {
                return Err(crate::CliError::Usage(format!(
                    "{}: the network's outputs are not finite (NaN weights?)",
                    path.display()
                )));
            }
            let mut ranked: Vec<(usize, f32)> = probs.into_iter().enumerate().collect();
            ranked.sort_by(|a, b| b.1.total_cmp(&a.1));
            let names = &net.class_names;
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
