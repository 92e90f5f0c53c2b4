//! `kiln samples`: test images enlarged, with truth and prediction under each.

use kiln_nn::{Context, Module};
use kiln_tensor::{Backend, Tensor, no_grad};

use crate::args::{Common, SamplesArgs};
use crate::commands::ensure_dir;
use crate::data_source::load_test;
use crate::device::Job;
use crate::{CliError, Result, model_file};
use kiln_viz::{chw_to_rgb, image_grid};

pub struct SamplesJob {
    pub common: Common,
    pub args: SamplesArgs,
}

impl Job for SamplesJob {
    type Output = std::path::PathBuf;

    fn run<B: Backend>(self, dev: &B) -> Result<std::path::PathBuf> {
        let (c, a) = (&self.common, &self.args);
        /// The most images one picture holds (a 16 x 16 grid).
        const MAX_SAMPLES: usize = 256;
        if a.n == 0 || a.n > MAX_SAMPLES {
            return Err(CliError::Usage(format!(
                "--n {}: a picture holds 1 to {MAX_SAMPLES} images",
                a.n
            )));
        }
        let mut net = model_file::open(&a.weights, dev)?;
        let (test, _) = load_test(c, net.model.input_shape()[1])?;
        net.check_data(&test)?;
        if a.n > test.len() {
            return Err(CliError::Usage(format!(
                "--n {}: the test set has only {} images",
                a.n,
                test.len()
            )));
        }
        let n = a.n;
        // spread evenly over the test set: an image folder is sorted by class, so its first n
        // images would all be of one class
        let picks: Vec<usize> = (0..n).map(|i| i * test.len() / n).collect();
        let [ch, h, w] = test.image_shape();
        let mut x = Vec::with_capacity(n * ch * h * w);
        for &i in &picks {
            let img = kiln_data::Image::new(test.image(i).to_vec(), [ch, h, w])?;
            let mut out = vec![0.0; ch * h * w];
            net.normalize.apply_into(&img, &mut out);
            x.extend(out);
        }
        let xt = Tensor::from_slice(&x, &[n, ch, h, w], dev)?;
        let logits = no_grad(|| net.model.forward(&xt, &mut Context::eval()))?.to_vec()?;
        let k = net.class_names.len();
        let names = &net.class_names;
        let (mut images, mut captions, mut wrong) = (vec![], vec![], vec![]);
        for (j, &i) in picks.iter().enumerate() {
            let pred = kiln_metrics::argmax(&logits[j * k..(j + 1) * k]);
            let truth = test.label(i);
            let name = |c: usize| {
                names
                    .get(c)
                    .cloned()
                    .unwrap_or_else(|| format!("class {c}"))
            };
            println!(
                "[{} | {}]{}",
                name(truth),
                name(pred),
                if pred != truth { "  ✗" } else { "" }
            );
            images.push(chw_to_rgb(ch, h, w, test.image(i))?);
            captions.push(format!("truth: {} / pred: {}", name(truth), name(pred)));
            wrong.push(pred != truth);
        }
        ensure_dir(&c.out)?;
        let path = c.out.join("samples.png");
        let cols = (n as f64).sqrt().ceil() as usize;
        image_grid(
            &path,
            "Sample predictions (truth / prediction)",
            &images,
            &captions,
            &wrong,
            cols.max(1),
            4,
        )?;
        println!("picture: {}", path.display());
        Ok(path)
    }
}
