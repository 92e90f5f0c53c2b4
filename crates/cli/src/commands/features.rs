//! `kiln features`: the feature maps of every conv layer for one image.

use kiln_nn::Context;
use kiln_tensor::{Backend, Tensor, no_grad};

use crate::args::{Common, FeaturesArgs};
use crate::commands::ensure_dir;
use crate::data_source::load_test;
use crate::device::Job;
use crate::{CliError, Result, model_file, normalize_u8};
use kiln_viz::feature_map_grid;

pub struct FeaturesJob {
    pub common: Common,
    pub args: FeaturesArgs,
}

impl Job for FeaturesJob {
    type Output = Vec<std::path::PathBuf>;

    fn run<B: Backend>(self, dev: &B) -> Result<Vec<std::path::PathBuf>> {
        let (c, a) = (&self.common, &self.args);
        let mut net = model_file::open(&a.weights.weights, crate::flags(&a.weights), dev)?;
        let (img, label) = match &a.image {
            Some(p) => (kiln_data::decode_image_file(p)?, p.display().to_string()),
            None => {
                let (test, _) = load_test(c.data.as_deref(), c.test_size, c.seed)?;
                if a.index >= test.len() {
                    return Err(CliError::Usage(format!(
                        "--index {}: the test set has {} images",
                        a.index,
                        test.len()
                    )));
                }
                (
                    test.image(a.index).to_vec(),
                    format!("test image {}", a.index),
                )
            }
        };
        let x = Tensor::from_slice(&normalize_u8(&img), &[1, 3, 32, 32], dev)?;
        let (_, feats) = no_grad(|| net.forward_with_features(&x, &mut Context::eval()))?;
        ensure_dir(&c.out)?;
        let mut paths = Vec::new();
        for (name, t) in feats {
            let [_, ch, h, w] = t.dims4("features")?;
            let v = t.to_vec()?;
            let maps: Vec<(usize, usize, Vec<f32>)> = (0..ch.min(a.maps))
                .map(|i| (h, w, v[i * h * w..(i + 1) * h * w].to_vec()))
                .collect();
            let path = c.out.join(format!("features_{name}.png"));
            feature_map_grid(
                &path,
                &format!(
                    "{name}: first {} of {ch} feature maps of {label}",
                    maps.len()
                ),
                &maps,
                4,
            )?;
            println!("picture: {}", path.display());
            paths.push(path);
        }
        Ok(paths)
    }
}
