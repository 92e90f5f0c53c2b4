//! Opening a weights file (safetensors or torch.save) as a `ConfigNet`: the architecture is read from the tensor shapes,
//! or taken from the flags when given (and then checked against the file).

use std::collections::BTreeMap;
use std::path::Path;

use kiln_nn::state_dict::{self, read_weights};
use kiln_nn::{ConfigNet, ConfigNetConfig};
use kiln_tensor::Backend;

use crate::{CliError, Result};

/// Architecture flags a user may give to override what the file implies.
#[derive(Debug, Clone, Copy, Default)]
pub struct ArchFlags {
    pub c1: Option<usize>,
    pub c2: Option<usize>,
    pub l1: Option<usize>,
    pub conv1_kernel: Option<usize>,
}

/// Reads the network's configuration from the shapes of a state dict.
pub fn infer_config(
    tensors: &BTreeMap<String, (Vec<usize>, Vec<f32>)>,
    path: &Path,
) -> Result<ConfigNetConfig> {
    let shape = |name: &str| -> Result<&Vec<usize>> {
        tensors.get(name).map(|(s, _)| s).ok_or_else(|| {
            CliError::Usage(format!(
                "{}: not a ConfigNet weights file (no `{name}` tensor); pass weights saved by `kiln train` or a PyTorch ConfigNet state dict",
                path.display()
            ))
        })
    };
    let c1w = shape("conv1.weight")?;
    let c3w = shape("conv3.weight")?;
    let f1 = shape("fc1.weight")?;
    let f2 = shape("fc2.weight")?;
    if c1w.len() != 4 || c3w.len() != 4 || f1.len() != 2 || f2.len() != 2 {
        return Err(CliError::Usage(format!(
            "{}: tensor ranks do not match a ConfigNet",
            path.display()
        )));
    }
    Ok(ConfigNetConfig {
        c1: c1w[0],
        c2: c3w[0],
        l1: f1[0],
        conv1_kernel: c1w[2],
        classes: f2[0],
        ..ConfigNetConfig::default()
    })
}

/// Builds the network described by the file (or by the flags) and loads the weights.
pub fn open<B: Backend>(path: &Path, flags: ArchFlags, dev: &B) -> Result<ConfigNet<B>> {
    if !path.exists() {
        return Err(CliError::Usage(format!(
            "weights file {} does not exist (kiln train writes best.safetensors in its run folder)",
            path.display()
        )));
    }
    let weights = read_weights(path)?;
    for note in &weights.notes {
        eprintln!("note: {}: {note}", path.display());
    }
    let tensors = weights.tensors;
    let mut cfg = infer_config(&tensors, path)?;
    cfg.c1 = flags.c1.unwrap_or(cfg.c1);
    cfg.c2 = flags.c2.unwrap_or(cfg.c2);
    cfg.l1 = flags.l1.unwrap_or(cfg.l1);
    cfg.conv1_kernel = flags.conv1_kernel.unwrap_or(cfg.conv1_kernel);
    let mut net = ConfigNet::new(cfg, 0, dev)?;
    state_dict::load_tensors(&mut net, &tensors, &path.display().to_string())?;
    Ok(net)
}
