//! Checkpoints: the model's weights, the optimizer's state, the epoch, the early-stopping
//! state, the history and the run's configuration, in ONE safetensors file written to a
//! temporary name, flushed and renamed, so a crash never leaves a broken or missing checkpoint
//! and the parts can never disagree. The random streams are counter-based (seed, epoch, step),
//! so the epoch number is the whole generator state.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use kiln_nn::state_dict::{self, HostTensor};
use kiln_nn::{Module, Optimizer, OptimizerState, TensorKind};
use kiln_tensor::Backend;
use serde::{Deserialize, Serialize};

use crate::fit::FitState;
use crate::{Result, RunConfig, TrainError};

const MODEL: &str = "model.";
const OPTIM: &str = "optim.";
const STATE_KEY: &str = "kiln_checkpoint";

/// Everything of a run's progress besides the tensors.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CheckpointState {
    /// What the run is (a resumed run must be the same, its epochs excepted).
    pub config: RunConfig,
    pub fit: FitState,
    pub optimizer_kind: String,
    pub optimizer_step: u64,
    pub optimizer_lr: f32,
}

/// Writes a checkpoint atomically.
pub fn save<B: Backend>(
    path: &Path,
    model: &dyn Module<B>,
    opt: &dyn Optimizer<B>,
    state: &CheckpointState,
) -> Result<()> {
    save_with(path, model, opt, state, |f, b| {
        std::io::Write::write_all(f, b)
    })
}

/// [`save`] with the function that writes the bytes (tests inject failures through it).
pub fn save_with<B: Backend>(
    path: &Path,
    model: &dyn Module<B>,
    opt: &dyn Optimizer<B>,
    state: &CheckpointState,
    write: impl FnOnce(&mut std::fs::File, &[u8]) -> std::io::Result<()>,
) -> Result<()> {
    let mut tensors: BTreeMap<String, HostTensor> = BTreeMap::new();
    for (name, t) in state_dict::state_dict(model)? {
        tensors.insert(format!("{MODEL}{name}"), t);
    }
    let os = opt.state()?;
    for (name, shape, data) in os.buffers {
        tensors.insert(
            format!("{OPTIM}{name}"),
            HostTensor {
                shape,
                data,
                kind: TensorKind::Buffer,
            },
        );
    }
    let json = serde_json::to_string(state).map_err(|e| TrainError::Config(e.to_string()))?;
    let meta = HashMap::from([(STATE_KEY.to_string(), json)]);
    let bytes = state_dict::to_safetensors_bytes(&tensors, Some(meta))?;
    state_dict::write_atomic_with(path, &bytes, write)?;
    Ok(())
}

/// A checkpoint read into host memory: the run's state and its tensors.
#[derive(Debug, Clone)]
pub struct Checkpoint {
    pub state: CheckpointState,
    tensors: state_dict::NamedTensors,
}

/// Reads and checks a checkpoint (its checksum, its run state) without loading it anywhere.
pub fn read(path: &Path) -> Result<Checkpoint> {
    let bytes = std::fs::read(path).map_err(crate::error::io_err(path))?;
    parse(&bytes, path)
}

/// [`read`] from bytes; `path` names the source in errors.
pub fn parse(bytes: &[u8], path: &Path) -> Result<Checkpoint> {
    let bad = |reason: String| TrainError::Checkpoint {
        path: path.to_path_buf(),
        reason,
    };
    let (tensors, meta) = state_dict::parse_safetensors(bytes, path)?;
    let json = meta
        .get(STATE_KEY)
        .ok_or_else(|| bad("not a Kiln checkpoint (no run state inside)".into()))?;
    let state: CheckpointState = serde_json::from_str(json).map_err(|e| {
        bad(format!(
            "unreadable run state ({e}); was it written by another version of Kiln?"
        ))
    })?;
    Ok(Checkpoint { state, tensors })
}

/// Reads a checkpoint into a model and an optimizer; returns the run's state. The model and
/// optimizer are changed only when everything loads.
pub fn load<B: Backend>(
    path: &Path,
    model: &mut dyn Module<B>,
    opt: &mut dyn Optimizer<B>,
) -> Result<CheckpointState> {
    read(path)?.restore(path, model, opt)
}

impl Checkpoint {
    /// Loads the tensors into a model and an optimizer (both unchanged on any error).
    pub fn restore<B: Backend>(
        self,
        path: &Path,
        model: &mut dyn Module<B>,
        opt: &mut dyn Optimizer<B>,
    ) -> Result<CheckpointState> {
        let Checkpoint { state, tensors } = self;
        let mut model_t = BTreeMap::new();
        let mut buffers = Vec::new();
        for (name, (shape, data)) in tensors {
            if let Some(n) = name.strip_prefix(MODEL) {
                model_t.insert(n.to_string(), (shape, data));
            } else if let Some(n) = name.strip_prefix(OPTIM) {
                buffers.push((n.to_string(), shape, data));
            }
        }
        let os = OptimizerState {
            kind: state.optimizer_kind.clone(),
            step: state.optimizer_step,
            lr: state.optimizer_lr,
            buffers,
        };
        state_dict::load_tensors(model, &model_t, &path.display().to_string())?;
        opt.load_state(&os)?;
        Ok(state)
    }
}
