//! The ONNX messages Kiln writes (`onnx.proto`, proto2), encoded by hand: only the fields an
//! exported CNN needs, written in field-number order as the `onnx` Python package writes
//! them, so that the bytes are identical to its `SerializeToString()`.
//!
//! onnx.proto is proto2, so its repeated integers (`AttributeProto.ints`, `TensorProto.dims`)
//! are *not* packed: each element carries its own key.

mod wire;

#[cfg(test)]
mod tests;

use wire::Encoder;

/// `TensorProto.DataType.FLOAT`.
const FLOAT: i64 = 1;

/// `ModelProto`: the file.
#[derive(Debug, Clone, PartialEq)]
pub struct Model {
    pub ir_version: i64,
    pub producer_name: String,
    pub producer_version: String,
    pub doc_string: String,
    pub graph: Graph,
    /// `(domain, version)`; `""` is the default ONNX domain.
    pub opset_imports: Vec<(String, i64)>,
    /// `metadata_props`: `(key, value)` in order.
    pub metadata: Vec<(String, String)>,
}

/// `GraphProto`.
#[derive(Debug, Clone, PartialEq)]
pub struct Graph {
    pub nodes: Vec<Node>,
    pub name: String,
    pub initializers: Vec<Tensor>,
    pub inputs: Vec<ValueInfo>,
    pub outputs: Vec<ValueInfo>,
}

/// `NodeProto` in the default domain.
#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    pub inputs: Vec<String>,
    pub outputs: Vec<String>,
    pub name: String,
    pub op_type: &'static str,
    pub attributes: Vec<Attribute>,
}

/// `AttributeProto`.
#[derive(Debug, Clone, PartialEq)]
pub struct Attribute {
    pub name: &'static str,
    pub value: AttrValue,
}

/// An attribute's value (and so its `type`).
#[derive(Debug, Clone, PartialEq)]
pub enum AttrValue {
    Float(f32),
    Int(i64),
    Ints(Vec<i64>),
}

/// `TensorProto` of f32 values, stored as `raw_data` (little-endian).
#[derive(Debug, Clone, PartialEq)]
pub struct Tensor {
    pub dims: Vec<i64>,
    pub name: String,
    pub raw: Vec<u8>,
}

/// `ValueInfoProto` of an f32 tensor.
#[derive(Debug, Clone, PartialEq)]
pub struct ValueInfo {
    pub name: String,
    pub dims: Vec<Dim>,
    pub doc_string: String,
}

/// One dimension of a tensor shape.
#[derive(Debug, Clone, PartialEq)]
pub enum Dim {
    /// A fixed size (`dim_value`).
    Value(i64),
    /// A size chosen at run time, by name (`dim_param`), such as the batch.
    Param(String),
}

impl Attribute {
    pub fn float(name: &'static str, v: f32) -> Self {
        Attribute {
            name,
            value: AttrValue::Float(v),
        }
    }
    pub fn int(name: &'static str, v: i64) -> Self {
        Attribute {
            name,
            value: AttrValue::Int(v),
        }
    }
    pub fn ints(name: &'static str, v: &[i64]) -> Self {
        Attribute {
            name,
            value: AttrValue::Ints(v.to_vec()),
        }
    }
}

impl Tensor {
    /// An f32 initializer of shape `dims`.
    pub fn f32(name: &str, dims: &[usize], values: &[f32]) -> Self {
        Tensor {
            dims: dims.iter().map(|&d| d as i64).collect(),
            name: name.to_string(),
            raw: values.iter().flat_map(|v| v.to_le_bytes()).collect(),
        }
    }
}

impl Model {
    /// The file's bytes.
    pub fn encode(&self) -> Vec<u8> {
        let mut e = Encoder::new();
        e.int(1, self.ir_version);
        e.string(2, &self.producer_name);
        e.string(3, &self.producer_version);
        if !self.doc_string.is_empty() {
            e.string(6, &self.doc_string);
        }
        e.message(7, |m| self.graph.encode(m));
        for (domain, version) in &self.opset_imports {
            e.message(8, |m| {
                m.string(1, domain);
                m.int(2, *version);
            });
        }
        for (key, value) in &self.metadata {
            e.message(14, |m| {
                m.string(1, key);
                m.string(2, value);
            });
        }
        e.finish()
    }
}

impl Graph {
    fn encode(&self, e: &mut Encoder) {
        for n in &self.nodes {
            e.message(1, |m| n.encode(m));
        }
        e.string(2, &self.name);
        for t in &self.initializers {
            e.message(5, |m| t.encode(m));
        }
        for v in &self.inputs {
            e.message(11, |m| v.encode(m));
        }
        for v in &self.outputs {
            e.message(12, |m| v.encode(m));
        }
    }
}

impl Node {
    fn encode(&self, e: &mut Encoder) {
        for i in &self.inputs {
            e.string(1, i);
        }
        for o in &self.outputs {
            e.string(2, o);
        }
        e.string(3, &self.name);
        e.string(4, self.op_type);
        for a in &self.attributes {
            e.message(5, |m| a.encode(m));
        }
    }
}

impl Attribute {
    fn encode(&self, e: &mut Encoder) {
        e.string(1, self.name);
        // AttributeProto.AttributeType: FLOAT 1, INT 2, INTS 7.
        let ty = match &self.value {
            AttrValue::Float(f) => {
                e.float(2, *f);
                1
            }
            AttrValue::Int(i) => {
                e.int(3, *i);
                2
            }
            AttrValue::Ints(v) => {
                for i in v {
                    e.int(8, *i);
                }
                7
            }
        };
        e.int(20, ty);
    }
}

impl Tensor {
    fn encode(&self, e: &mut Encoder) {
        for d in &self.dims {
            e.int(1, *d);
        }
        e.int(2, FLOAT);
        e.string(8, &self.name);
        e.bytes(9, &self.raw);
    }
}

impl ValueInfo {
    fn encode(&self, e: &mut Encoder) {
        e.string(1, &self.name);
        // TypeProto { tensor_type: TypeProto.Tensor { elem_type, shape } }
        e.message(2, |ty| {
            ty.message(1, |t| {
                t.int(1, FLOAT);
                t.message(2, |shape| {
                    for d in &self.dims {
                        shape.message(1, |dim| match d {
                            Dim::Value(v) => dim.int(1, *v),
                            Dim::Param(p) => dim.string(2, p),
                        });
                    }
                });
            });
        });
        if !self.doc_string.is_empty() {
            e.string(3, &self.doc_string);
        }
    }
}
