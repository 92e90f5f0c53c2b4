//! Opening a weights file as a network. A file Kiln wrote names its own architecture, image
//! shape, class names and normalisation; a file without that (a PyTorch state dict,
//! safetensors or `torch.save`) is read as a ConfigNet whose settings come from its tensor
//! shapes (or the flags), for CIFAR-10-like images, and the user is told so.

use std::path::Path;

use kiln_data::Normalize;
use kiln_nn::state_dict::{self, NamedTensors, read_weights};
use kiln_nn::{Architecture, ConfigNetConfig, Model};
use kiln_tensor::Backend;

use crate::args::WeightsArgs;
use crate::{CliError, Result};

/// A network read from a file, with what it needs to be used.
pub struct Opened<B: Backend> {
    pub model: Model<B>,
    /// One per output, in label order.
    pub class_names: Vec<String>,
    pub normalize: Normalize,
    /// The file carried Kiln's metadata (else the defaults above were assumed).
    pub from_metadata: bool,
}

/// Reads the network's configuration from the shapes of a ConfigNet state dict.
pub fn infer_config(tensors: &NamedTensors, path: &Path) -> Result<ConfigNetConfig> {
    let shape = |name: &str| -> Result<&Vec<usize>> {
        tensors.get(name).map(|(s, _)| s).ok_or_else(|| {
            CliError::Usage(format!(
                "{}: not a ConfigNet state dict (no `{name}` tensor) and no Kiln metadata naming its network; pass weights saved by `kiln train`, or a PyTorch ConfigNet state dict",
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

/// Opens the weights of `w` on `dev`. Everything is checked before any data is loaded.
pub fn open<B: Backend>(w: &WeightsArgs, dev: &B) -> Result<Opened<B>> {
    let path = &w.weights;
    if !path.is_file() {
        return Err(CliError::Usage(format!(
            "no such file: {} (the weights file; kiln train writes best.safetensors and last.safetensors in its run folder)",
            path.display()
        )));
    }
    let file = read_weights(path)?;
    for note in &file.notes {
        eprintln!("note: {}: {note}", path.display());
    }
    let overrides = [w.c1, w.c2, w.l1, w.conv1_kernel];
    let source = path.display().to_string();
    if let Some(meta) = file.meta {
        if overrides.iter().any(Option::is_some) {
            return Err(CliError::Usage(format!(
                "{} names its own network ({}): --c1/--c2/--l1/--conv1-kernel apply only to files without Kiln's metadata; leave them out",
                path.display(),
                meta.architecture.describe()
            )));
        }
        let classes = meta.class_names.len();
        let mut model = Model::new(&meta.architecture, meta.input, classes, 0, dev)?;
        state_dict::load_tensors(&mut model, &file.tensors, &source)?;
        let normalize = Normalize::new(&meta.mean, &meta.std)?;
        return Ok(Opened {
            model,
            class_names: meta.class_names,
            normalize,
            from_metadata: true,
        });
    }
    let mut cfg = infer_config(&file.tensors, path)?;
    cfg.c1 = w.c1.unwrap_or(cfg.c1);
    cfg.c2 = w.c2.unwrap_or(cfg.c2);
    cfg.l1 = w.l1.unwrap_or(cfg.l1);
    cfg.conv1_kernel = w.conv1_kernel.unwrap_or(cfg.conv1_kernel);
    let class_names: Vec<String> = if cfg.classes == kiln_data::CIFAR10_CLASSES.len() {
        kiln_data::CIFAR10_CLASSES.map(String::from).to_vec()
    } else {
        (0..cfg.classes).map(|i| format!("class {i}")).collect()
    };
    eprintln!(
        "note: {} has no Kiln metadata (a PyTorch state dict?): read as ConfigNet({}/{}/{}, conv1 {}x{}) for 3x32x32 images normalised with mean 0.5 and std 0.5, {} classes{}",
        path.display(),
        cfg.c1,
        cfg.c2,
        cfg.l1,
        cfg.conv1_kernel,
        cfg.conv1_kernel,
        cfg.classes,
        if cfg.classes == 10 {
            " named as CIFAR-10's"
        } else {
            ""
        }
    );
    let arch = Architecture::ConfigNet(cfg);
    let mut model = Model::new(&arch, [3, 32, 32], cfg.classes, 0, dev)?;
    state_dict::load_tensors(&mut model, &file.tensors, &source)?;
    Ok(Opened {
        model,
        class_names,
        normalize: Normalize::half(),
        from_metadata: false,
    })
}

impl<B: Backend> Opened<B> {
    /// An image file decoded and resized to the network's input, as CHW bytes.
    pub fn decode(&self, path: &Path) -> Result<Vec<u8>> {
        let [_, h, w] = self.model.input_shape();
        Ok(kiln_data::decode_image_file_sized(path, h, w)?)
    }

    /// CHW images (concatenated) normalised as in training, as a batch `[n, c, h, w]`.
    pub fn batch(&self, images: &[u8], dev: &B) -> Result<kiln_tensor::Tensor<B>> {
        let shape = self.model.input_shape();
        let per: usize = shape.iter().product();
        let n = images.len() / per.max(1);
        let mut x = vec![0.0; n * per];
        for (img, out) in images.chunks(per).zip(x.chunks_mut(per)) {
            let img = kiln_data::Image::new(img.to_vec(), shape)?;
            self.normalize.apply_into(&img, out);
        }
        Ok(kiln_tensor::Tensor::from_slice(
            &x,
            &[n, shape[0], shape[1], shape[2]],
            dev,
        )?)
    }

    /// An error unless `data`'s images and classes are what the network was trained for.
    pub fn check_data(&self, data: &kiln_data::Dataset) -> Result<()> {
        let want = self.model.input_shape();
        if data.image_shape() != want {
            return Err(CliError::Usage(format!(
                "the network takes {}x{}x{} images but {} holds {}x{}x{} ones (for an image folder, pass --image-size {})",
                want[0],
                want[1],
                want[2],
                data.source(),
                data.channels(),
                data.height(),
                data.width(),
                want[1]
            )));
        }
        if data.num_classes() != self.class_names.len()
            || (self.from_metadata && data.class_names() != self.class_names.as_slice())
        {
            return Err(CliError::Usage(format!(
                "the weights were trained on the classes [{}] but the data has [{}]: evaluate on the data they were trained on",
                self.class_names.join(", "),
                data.class_names().join(", ")
            )));
        }
        Ok(())
    }
}
