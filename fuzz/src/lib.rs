//! The library entry points the fuzz targets drive, one function per target. The stable
//! replay test (`tests/tests/fuzz_corpus.rs`) includes this file by path, so the corpus and
//! every fixed crash run through exactly the code the fuzzer ran. Each function returns the
//! reader's verdict (`Err` carries its message); a panic is a bug in the reader.

use std::path::Path;

/// Names the source in error messages.
const SOURCE: &str = "fuzz-input";

/// An entry point: the reader's verdict on some bytes.
pub type Entry = fn(&[u8]) -> Result<(), String>;

/// The fuzz targets: (name, entry point).
pub const TARGETS: [(&str, Entry); 6] = [
    ("safetensors", safetensors),
    ("torch_zip", torch_zip),
    ("checkpoint", checkpoint),
    ("cifar_binary", cifar_binary),
    ("cifar_python", cifar_python),
    ("image", image),
];

/// A safetensors state dict: `parse_safetensors`, then, when it accepts the bytes,
/// `parse_weights` (format sniffing, `module.` prefix removal).
pub fn safetensors(data: &[u8]) -> Result<(), String> {
    let path = Path::new(SOURCE);
    kiln_nn::state_dict::parse_safetensors(data, path).map_err(|e| e.to_string())?;
    weights(data)
}

/// A torch.save zip archive. An input starting with `PK` is read as a whole archive;
/// any other is split at [`PART`] into `data.pkl` and the storages `data/0`, `data/1`, ...
/// and zipped here (with correct CRCs), so mutations reach the unpickler.
pub fn torch_zip(data: &[u8]) -> Result<(), String> {
    if data.starts_with(b"PK") {
        return weights(data);
    }
    weights(&torch_archive(data))
}

/// A Kiln checkpoint: safetensors with the run state as JSON in its metadata.
pub fn checkpoint(data: &[u8]) -> Result<(), String> {
    kiln_train::checkpoint::parse(data, Path::new(SOURCE))
        .map(|_| ())
        .map_err(|e| e.to_string())
}

/// CIFAR-10 binary records (any whole number of them); the same bytes also go through the
/// full-batch reader and the `batches.meta.txt` reader, whose verdicts are not returned.
pub fn cifar_binary(data: &[u8]) -> Result<(), String> {
    use kiln_data::cifar_binary::{parse_class_names, parse_record_bytes, parse_records};
    let path = Path::new(SOURCE);
    let _ = parse_class_names(path, Some(data));
    let (mut images, mut labels) = (Vec::new(), Vec::new());
    let _ = parse_records(path, data, 10, &mut images, &mut labels);
    parse_record_bytes(path, data, 10, &mut images, &mut labels).map_err(|e| e.to_string())
}

/// A CIFAR-10 python batch pickle; the same bytes also go through the `batches.meta` reader,
/// whose verdict is not returned.
pub fn cifar_python(data: &[u8]) -> Result<(), String> {
    use kiln_data::cifar_python::{parse_batch, parse_label_names};
    let path = Path::new(SOURCE);
    let _ = parse_label_names(path, data);
    parse_batch(path, data, 10)
        .map(|_| ())
        .map_err(|e| e.to_string())
}

/// A PNG or JPEG image, decoded to 3x32x32.
pub fn image(data: &[u8]) -> Result<(), String> {
    kiln_data::image_folder::decode_image_bytes(Path::new(SOURCE), data, 32, 32)
        .map(|_| ())
        .map_err(|e| e.to_string())
}

fn weights(data: &[u8]) -> Result<(), String> {
    kiln_nn::state_dict::parse_weights(data, Path::new(SOURCE))
        .map(|_| ())
        .map_err(|e| e.to_string())
}

/// Separates `data.pkl` from the storages in a [`torch_zip`] input.
pub const PART: &[u8] = b"KILNPART";

/// A stored zip archive as torch.save lays it out: `archive/data.pkl` (the first part of
/// `data`), then `archive/data/<i>` for each further part.
pub fn torch_archive(data: &[u8]) -> Vec<u8> {
    let mut parts = split(data, PART).into_iter();
    let mut files = vec![("archive/data.pkl".to_string(), parts.next().unwrap_or(&[]))];
    files.extend(
        parts
            .enumerate()
            .map(|(i, p)| (format!("archive/data/{i}"), p)),
    );
    zip_stored(&files)
}

/// Splits `data` at every occurrence of `sep`.
fn split<'a>(data: &'a [u8], sep: &[u8]) -> Vec<&'a [u8]> {
    let mut out = Vec::new();
    let mut rest = data;
    while let Some(i) = rest.windows(sep.len()).position(|w| w == sep) {
        out.push(&rest[..i]);
        rest = &rest[i + sep.len()..];
    }
    out.push(rest);
    out
}

/// A zip archive of stored (uncompressed) entries.
fn zip_stored(files: &[(String, &[u8])]) -> Vec<u8> {
    let mut z = Vec::new();
    let mut central = Vec::new();
    for (name, data) in files {
        let (crc, len, offset) = (crc32(data), data.len() as u32, z.len() as u32);
        // local header: signature, version, flags, method, time, date
        z.extend(0x0403_4b50u32.to_le_bytes());
        z.extend([20, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
        z.extend(crc.to_le_bytes());
        z.extend(len.to_le_bytes());
        z.extend(len.to_le_bytes());
        z.extend((name.len() as u16).to_le_bytes());
        z.extend(0u16.to_le_bytes());
        z.extend(name.as_bytes());
        z.extend(*data);
        // central entry: signature, versions, flags, method, time, date
        central.extend(0x0201_4b50u32.to_le_bytes());
        central.extend([20, 0, 20, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
        central.extend(crc.to_le_bytes());
        central.extend(len.to_le_bytes());
        central.extend(len.to_le_bytes());
        central.extend((name.len() as u16).to_le_bytes());
        // extra and comment lengths, disk, attributes
        central.extend([0u8; 12]);
        central.extend(offset.to_le_bytes());
        central.extend(name.as_bytes());
    }
    let (cd_at, cd_len, n) = (z.len() as u32, central.len() as u32, files.len() as u16);
    z.extend(central);
    z.extend(0x0605_4b50u32.to_le_bytes());
    z.extend([0u8; 4]);
    z.extend(n.to_le_bytes());
    z.extend(n.to_le_bytes());
    z.extend(cd_len.to_le_bytes());
    z.extend(cd_at.to_le_bytes());
    z.extend(0u16.to_le_bytes());
    z
}

/// CRC-32 (IEEE, reflected), bit by bit: the inputs are small.
fn crc32(data: &[u8]) -> u32 {
    let mut c = !0u32;
    for &b in data {
        c ^= u32::from(b);
        for _ in 0..8 {
            c = if c & 1 != 0 {
                0xedb8_8320 ^ (c >> 1)
            } else {
                c >> 1
            };
        }
    }
    !c
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc32_check_value() {
        assert_eq!(crc32(b"123456789"), 0xcbf4_3926);
    }

    #[test]
    fn split_keeps_empty_parts() {
        assert_eq!(split(b"aXXbXX", b"XX"), [&b"a"[..], b"b", b""]);
        assert_eq!(split(b"", b"XX"), [&b""[..]]);
    }
}
