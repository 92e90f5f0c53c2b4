//! `kiln features`: the feature maps of every conv layer for one image.

use kiln_tensor::Backend;

use crate::args::{Common, FeaturesArgs};
use crate::commands::ensure_dir;
use crate::data_source::load_test;
use crate::device::Job;
use crate::{CliError, Result, model_file};
use kiln_viz::feature_map_grid;

pub struct FeaturesJob {
    pub common: Common,
    pub args: FeaturesArgs,
}

impl Job for FeaturesJob {
    type Output = Vec<std::path::PathBuf>;

    fn run<B: Backend>(self, dev: &B) -> Result<Vec<std::path::PathBuf>> {
        let (c, a) = (&self.common, &self.args);
        if a.maps == 0 {
            return Err(CliError::Usage("--maps must be at least 1".into()));
        }
        let mut net = model_file::open(&a.weights, dev)?;
        let (img, label) = match &a.image {
            Some(p) => (net.decode(p)?, p.display().to_string()),
            None => {
                let (test, _) = load_test(c, net.model.input_shape()[1])?;
                net.check_data(&test)?;
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
        let x = net.batch(&img, dev)?;
        let feats = net.model.feature_maps(&x)?;
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
