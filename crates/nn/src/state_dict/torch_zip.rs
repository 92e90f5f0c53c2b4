//! `torch.save` files (PyTorch >= 1.6): a zip archive `<name>/data.pkl` (the pickled state
//! dict, tensors pointing by persistent id at storages) beside `<name>/data/<key>` (each
//! storage's raw little-endian bytes), `<name>/byteorder` and `<name>/version`.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use super::NamedTensors;
use super::data_pkl::{self, PickleError, TensorRef};
use super::dtype::{ElemType, to_f32};
use super::zip::Archive;
use crate::{NnError, Result};

/// Parses a torch.save archive into f32 tensors; `path` names the source in errors.
pub(crate) fn parse(bytes: &[u8], path: &Path) -> Result<NamedTensors> {
    let format = |reason: String| NnError::TorchFormat {
        path: path.to_path_buf(),
        reason,
    };
    let zip = Archive::parse(bytes).map_err(format)?;
    // PyTorch names the archive's folder after the file; every record lives under it.
    let prefix = zip
        .names()
        .first()
        .and_then(|n| n.split_once('/'))
        .map(|(p, _)| p.to_string())
        .ok_or_else(|| format("the archive has no `<name>/data.pkl` record".into()))?;
    let record = |name: &str| zip.data(&format!("{prefix}/{name}"));
    if zip.contains(&format!("{prefix}/constants.pkl")) {
        return Err(format(
            "it is a TorchScript archive (torch.jit.save); save the weights with `torch.save(model.state_dict(), path)`".into(),
        ));
    }
    if let Some(order) = record("byteorder") {
        let order = order.map_err(format)?;
        if order != b"little" {
            return Err(format(format!(
                "its byte order is `{}`; Kiln reads little-endian archives",
                String::from_utf8_lossy(order).trim()
            )));
        }
    }
    let pkl = record("data.pkl")
        .ok_or_else(|| format(format!("the archive has no `{prefix}/data.pkl` record")))?
        .map_err(format)?;
    let entries = data_pkl::state_dict(pkl).map_err(|e| match e {
        PickleError::Format(r) => format(format!("data.pkl: {r}")),
        PickleError::Forbidden { module, name } => NnError::ForbiddenGlobal {
            path: path.to_path_buf(),
            module,
            name,
        },
    })?;

    // The values may not need more memory than the file itself allows: 4 bytes per f32 for
    // every byte of input (room for views sharing storages, refusing views that repeat one
    // storage without end).
    let mut budget = bytes.len() as u64;
    let mut storages: HashMap<String, &[u8]> = HashMap::new();
    let mut out = BTreeMap::new();
    for (name, t) in entries {
        let elem = match &t.storage.elem {
            Ok(e) if e.readable() => *e,
            Ok(e) => return Err(dtype_error(path, &name, e.name())),
            Err(torch_name) => return Err(dtype_error(path, &name, torch_name)),
        };
        let key = &t.storage.key;
        let data = match storages.get(key) {
            Some(d) => *d,
            None => {
                let d = record(&format!("data/{key}"))
                    .ok_or_else(|| {
                        format(format!(
                            "tensor `{name}` points at storage `{key}`, which the archive lacks"
                        ))
                    })?
                    .map_err(format)?;
                storages.insert(key.clone(), d);
                d
            }
        };
        let count = elements(&t).ok_or_else(|| format(format!("tensor `{name}` is too large")))?;
        budget = budget.checked_sub(count).ok_or_else(|| {
            format(format!(
                "its tensors hold more values than the file can store (views repeating one storage?), at `{name}`"
            ))
        })?;
        let values = gather(&t, data, elem).map_err(|r| format(format!("tensor `{name}`: {r}")))?;
        let shape = t.size.iter().map(|&d| d as usize).collect();
        out.insert(name, (shape, values));
    }
    Ok(out)
}

fn dtype_error(path: &Path, name: &str, dtype: &str) -> NnError {
    NnError::Dtype {
        source_name: path.display().to_string(),
        name: name.to_string(),
        dtype: dtype.to_string(),
    }
}

/// The number of elements, `None` on overflow.
fn elements(t: &TensorRef) -> Option<u64> {
    t.size.iter().try_fold(1u64, |n, &d| n.checked_mul(d))
}

/// The tensor's values in row-major order, read through its offset and strides from the
/// storage's bytes. Every index is checked against the storage and the bytes present.
fn gather(t: &TensorRef, data: &[u8], elem: ElemType) -> std::result::Result<Vec<f32>, String> {
    let numel = t.storage.numel;
    let need = numel
        .checked_mul(elem.size() as u64)
        .filter(|&n| n <= data.len() as u64)
        .ok_or_else(|| {
            format!(
                "its storage holds {} bytes, fewer than {numel} {} elements need",
                data.len(),
                elem.name()
            )
        })?;
    let data = &data[..need as usize];
    let count = elements(t).ok_or("too many elements")?;
    if count == 0 {
        return Ok(Vec::new());
    }
    // the last element the view reaches must lie inside the storage
    let last = t
        .size
        .iter()
        .zip(&t.stride)
        .try_fold(t.offset, |acc, (&d, &s)| {
            acc.checked_add((d - 1).checked_mul(s)?)
        });
    if last.is_none_or(|l| l >= numel) {
        return Err(format!(
            "the view (offset {}, size {:?}, stride {:?}) reaches past its storage of {numel} elements",
            t.offset, t.size, t.stride
        ));
    }
    if count > numel {
        return Err(format!(
            "it has {count} elements but its storage only {numel} (an expanded view: save a contiguous copy)"
        ));
    }
    // all indices fit in usize from here: they are below numel, whose bytes are in memory
    let (offset, count) = (t.offset as usize, count as usize);
    let size: Vec<usize> = t.size.iter().map(|&d| d as usize).collect();
    // a dimension of size 1 never steps, whatever its stride says
    let stride: Vec<usize> = (t.size.iter().zip(&t.stride))
        .map(|(&d, &s)| if d == 1 { 0 } else { s as usize })
        .collect();
    let bad = || "an element lies outside its storage".to_string();
    if is_contiguous(&size, &stride) {
        let sz = elem.size();
        let bytes = data
            .get(offset * sz..(offset + count) * sz)
            .ok_or_else(bad)?;
        return to_f32(elem, bytes).ok_or_else(bad);
    }
    // odometer over the indices, last dimension fastest
    let mut out = Vec::with_capacity(count);
    let mut index = vec![0usize; size.len()];
    let mut at = offset;
    for _ in 0..count {
        out.push(elem.get(data, at).ok_or_else(bad)?);
        for d in (0..size.len()).rev() {
            index[d] += 1;
            at += stride[d];
            if index[d] < size[d] {
                break;
            }
            at -= stride[d] * size[d];
            index[d] = 0;
        }
    }
    Ok(out)
}

/// Whether strides are row-major for these sizes (dimensions of size 1 may have any stride).
fn is_contiguous(size: &[usize], stride: &[usize]) -> bool {
    let mut expected = 1usize;
    for (&d, &s) in size.iter().zip(stride).rev() {
        if d != 1 && s != expected {
            return false;
        }
        expected = expected.saturating_mul(d);
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state_dict::data_pkl::StorageRef;

    fn view(numel: u64, offset: u64, size: &[u64], stride: &[u64]) -> TensorRef {
        TensorRef {
            storage: StorageRef {
                key: "0".into(),
                elem: Ok(ElemType::F32),
                numel,
            },
            offset,
            size: size.to_vec(),
            stride: stride.to_vec(),
        }
    }

    fn storage(n: usize) -> Vec<u8> {
        (0..n).flat_map(|i| (i as f32).to_le_bytes()).collect()
    }

    #[test]
    fn strided_views_read_the_right_elements() {
        let d = storage(12);
        let t = view(12, 0, &[4, 3], &[1, 4]); // transpose of a 3x4
        assert_eq!(
            gather(&t, &d, ElemType::F32).unwrap(),
            [0., 4., 8., 1., 5., 9., 2., 6., 10., 3., 7., 11.]
        );
        let t = view(12, 2, &[2, 2], &[6, 2]);
        assert_eq!(gather(&t, &d, ElemType::F32).unwrap(), [2., 4., 8., 10.]);
        let t = view(12, 7, &[], &[]);
        assert_eq!(gather(&t, &d, ElemType::F32).unwrap(), [7.]);
        let t = view(12, 12, &[0, 5], &[5, 1]);
        assert_eq!(gather(&t, &d, ElemType::F32).unwrap(), Vec::<f32>::new());
        let t = view(12, 9, &[3], &[1]);
        assert_eq!(gather(&t, &d, ElemType::F32).unwrap(), [9., 10., 11.]);
    }

    #[test]
    fn views_past_their_storage_are_refused() {
        let d = storage(12);
        for t in [
            view(12, 10, &[3], &[1]),
            view(12, 0, &[4, 3], &[3, 2]),
            view(12, u64::MAX, &[2], &[1]),
            view(12, 0, &[2, 2], &[u64::MAX, 1]),
            view(13, 0, &[13], &[1]), // numel claims more than the bytes
            view(u64::MAX, 0, &[1], &[1]), // numel · 4 overflows
            view(12, 0, &[1000], &[0]), // an expanded view
            view(12, 0, &[u64::MAX, u64::MAX], &[0, 0]),
        ] {
            assert!(gather(&t, &d, ElemType::F32).is_err(), "{t:?}");
        }
    }

    #[test]
    fn contiguity_ignores_unit_dimensions() {
        assert!(is_contiguous(&[2, 3], &[3, 1]));
        assert!(is_contiguous(&[2, 1, 3], &[3, 99, 1]));
        assert!(is_contiguous(&[], &[]));
        assert!(!is_contiguous(&[3, 2], &[1, 3]));
    }
}
