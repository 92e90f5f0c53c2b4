//! `kiln export`: a weights file as an ONNX model.

use std::path::PathBuf;

use kiln_nn::{Architecture, Model, state_dict};
use kiln_onnx::ExportInfo;
use kiln_tensor::Backend;

use crate::args::{Common, ExportArgs};
use crate::device::Job;
use crate::{Result, model_file};

pub struct ExportJob {
    pub common: Common,
    pub args: ExportArgs,
}

impl Job for ExportJob {
    type Output = PathBuf;

    fn run<B: Backend>(self, dev: &B) -> Result<PathBuf> {
        let (c, a) = (&self.common, &self.args);
        // model_file opens a ConfigNet; wrapped as the Model it is.
        let net = model_file::open(&a.weights.weights, crate::flags(&a.weights), dev)?;
        let cfg = net.config;
        let side = cfg.input_size;
        let arch = Architecture::ConfigNet(cfg);
        let mut model = Model::new(&arch, [3, side, side], cfg.classes, 0, dev)?;
        state_dict::copy_state(&net, &mut model)?;

        let classes = model.classes();
        let info = ExportInfo::new(crate::class_names(c.data.as_deref(), classes)?);
        let bytes = kiln_onnx::write(&a.onnx, &model, &info)?;
        println!(
            "onnx: {} ({}, opset {}, {:.2} MB)",
            a.onnx.display(),
            arch.describe(),
            kiln_onnx::OPSET,
            bytes as f64 / 1e6
        );
        let list = |v: &[f32]| v.iter().map(f32::to_string).collect::<Vec<_>>().join(", ");
        println!(
            "  input `{}` [batch, 3, {side}, {side}] = (x / 255 - {}) / {}; output `{}` [batch, {classes}]; class names in the metadata",
            kiln_onnx::INPUT,
            list(&info.mean),
            list(&info.std),
            kiln_onnx::OUTPUT
        );
        Ok(a.onnx.clone())
    }
}
