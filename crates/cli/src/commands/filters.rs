//! `kiln filters`: a conv layer's learned filters as a picture.

use kiln_tensor::Backend;

use crate::args::{Common, FiltersArgs};
use crate::commands::ensure_dir;
use crate::device::Job;
use crate::{CliError, Result, model_file};
use kiln_viz::filter_grid;

pub struct FiltersJob {
    pub common: Common,
    pub args: FiltersArgs,
}

impl Job for FiltersJob {
    type Output = std::path::PathBuf;

    fn run<B: Backend>(self, dev: &B) -> Result<std::path::PathBuf> {
        let (c, a) = (&self.common, &self.args);
        let net = model_file::open(&a.weights, dev)?;
        let convs = net.model.conv_weights();
        let names: Vec<&str> = convs.iter().map(|(n, _)| n.as_str()).collect();
        let (layer, weight) = match &a.layer {
            None => convs.first(),
            Some(l) => convs.iter().find(|(n, _)| n == l),
        }
        .ok_or_else(|| {
            CliError::Usage(format!(
                "--layer {}: the network's conv layers are {}",
                a.layer.as_deref().unwrap_or("(the first)"),
                if names.is_empty() {
                    "none".to_string()
                } else {
                    names.join(", ")
                }
            ))
        })?;
        let shape = weight.shape().to_vec();
        let (o, i, kh, kw) = (shape[0], shape[1], shape[2], shape[3]);
        let w = weight.to_vec()?;
        let per = i * kh * kw;
        let mut filters = Vec::new();
        let cols = match (i, a.channel) {
            (3, None) => {
                for f in 0..o {
                    filters.push((3, kh, kw, w[f * per..(f + 1) * per].to_vec()));
                }
                8
            }
            (_, Some(ch)) => {
                if ch >= i {
                    return Err(CliError::Usage(format!(
                        "--channel {ch}: {} has {i} input channels",
                        layer
                    )));
                }
                for f in 0..o {
                    let s = f * per + ch * kh * kw;
                    filters.push((1, kh, kw, w[s..s + kh * kw].to_vec()));
                }
                8
            }
            (_, None) => {
                // every kernel: one row per filter, one column per input channel
                for f in 0..o {
                    for ch in 0..i {
                        let s = f * per + ch * kh * kw;
                        filters.push((1, kh, kw, w[s..s + kh * kw].to_vec()));
                    }
                }
                i
            }
        };
        ensure_dir(&c.out)?;
        let suffix = a.channel.map(|ch| format!("_ch{ch}")).unwrap_or_default();
        let path = c
            .out
            .join(format!("filters_{}{suffix}.png", layer.replace('.', "_")));
        let title = format!("{} filters ({o} x {i} x {kh} x {kw})", layer);
        filter_grid(&path, &title, &filters, cols, if kh <= 5 { 16 } else { 8 })?;
        println!("picture: {}", path.display());
        Ok(path)
    }
}
