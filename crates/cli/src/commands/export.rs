//! `kiln export`: a weights file as an ONNX model.

use std::path::PathBuf;

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
        let a = &self.args;
        let net = model_file::open(&a.weights, dev)?;
        let model = &net.model;
        let arch = model.architecture();
        let [ch, h, w] = model.input_shape();
        let classes = model.classes();
        let info = ExportInfo {
            mean: net.normalize.mean().to_vec(),
            std: net.normalize.std().to_vec(),
            ..ExportInfo::new(net.class_names.clone())
        };
        let bytes = kiln_onnx::write(&a.onnx, model, &info)?;
        println!(
            "onnx: {} ({}, opset {}, {:.2} MB)",
            a.onnx.display(),
            arch.describe(),
            kiln_onnx::OPSET,
            bytes as f64 / 1e6
        );
        let list = |v: &[f32]| {
            let items: Vec<String> = v.iter().map(f32::to_string).collect();
            format!("[{}]", items.join(", "))
        };
        println!(
            "  input `{}` [batch, {ch}, {h}, {w}] = (x / 255 - {}) / {}; output `{}` [batch, {classes}]; class names in the metadata",
            kiln_onnx::INPUT,
            list(&info.mean),
            list(&info.std),
            kiln_onnx::OUTPUT
        );
        Ok(a.onnx.clone())
    }
}
