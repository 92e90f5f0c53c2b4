//! Built-in architectures, by name: the walkthrough's ConfigNet and a modern CIFAR ResNet.

use crate::ConfigNetConfig;
use crate::model::{Architecture, LayerSpec};

/// The names [`builtin`] knows.
pub const BUILTIN_NAMES: [&str; 3] = ["confignet", "resnet9", "resnet9-half"];

/// A built-in architecture by name (case-insensitive), or `None`.
///
/// - `confignet`: the walkthrough's ConfigNet(48/96/256, d1 0.1).
/// - `resnet9`: the ResNet-9 of the DAWNBench CIFAR-10 entries (Page, 2018): conv-BN-ReLU
///   blocks of 64, 128, 256 and 512 channels, max pooling, two residual blocks, global average
///   pooling and one linear layer (6.6 M parameters, 0.76 GFLOP per 32x32 image).
/// - `resnet9-half`: the same with half the channels (1.6 M parameters, 0.19 GFLOP), for CPUs.
pub fn builtin(name: &str) -> Option<Architecture> {
    match name.to_ascii_lowercase().as_str() {
        "confignet" => Some(Architecture::ConfigNet(ConfigNetConfig::default())),
        "resnet9" => Some(resnet9("resnet9", 64)),
        "resnet9-half" => Some(resnet9("resnet9-half", 32)),
        _ => None,
    }
}

fn conv_bn_relu(c: usize) -> [LayerSpec; 3] {
    [
        LayerSpec::Conv2d {
            out_channels: c,
            kernel_size: 3,
            stride: 1,
            padding: 1,
            dilation: 1,
            bias: false,
            in_channels: None,
        },
        LayerSpec::BatchNorm2d {
            eps: 1e-5,
            momentum: 0.1,
        },
        LayerSpec::ReLU,
    ]
}

fn pool() -> LayerSpec {
    LayerSpec::MaxPool2d {
        kernel_size: 2,
        stride: None,
        padding: 0,
    }
}

fn residual(c: usize) -> LayerSpec {
    LayerSpec::Residual {
        body: [conv_bn_relu(c), conv_bn_relu(c)].concat(),
        shortcut: None,
    }
}

fn resnet9(name: &str, w: usize) -> Architecture {
    let mut layers = Vec::new();
    layers.extend(conv_bn_relu(w));
    layers.extend(conv_bn_relu(2 * w));
    layers.push(pool());
    layers.push(residual(2 * w));
    layers.extend(conv_bn_relu(4 * w));
    layers.push(pool());
    layers.extend(conv_bn_relu(8 * w));
    layers.push(pool());
    layers.push(residual(8 * w));
    layers.push(LayerSpec::AdaptiveAvgPool2d { output_size: 1 });
    layers.push(LayerSpec::Flatten);
    layers.push(LayerSpec::Linear {
        out_features: None,
        bias: true,
        in_features: None,
    });
    Architecture::Layers {
        name: name.to_string(),
        layers,
    }
}
