//! TensorBoard event files, written without TensorFlow or a protobuf crate.
//!
//! A file is a sequence of TFRecords: `u64 length | masked crc32c(length) | data | masked
//! crc32c(data)` (little-endian), each `data` one protobuf `Event`:
//!
//! ```text
//! Event   { double wall_time = 1; int64 step = 2; oneof { string file_version = 3; Summary summary = 5; } }
//! Summary { repeated Value value = 1; }
//! Value   { string tag = 1; float simple_value = 2; }
//! ```
//!
//! The first event says `file_version: "brain.Event:2"`; every scalar is one more event.

use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use crate::error::io_err;
use crate::{Result, TrainError};

/// Appends scalars to a new TensorBoard event file. Writes are buffered: call
/// [`SummaryWriter::flush`] (after each epoch, say) to make them visible to TensorBoard;
/// dropping the writer flushes too, ignoring errors.
pub struct SummaryWriter {
    path: PathBuf,
    file: BufWriter<File>,
}

/// Numbers the files of this process, so two writers created in the same second differ.
static NEXT_FILE: AtomicU64 = AtomicU64::new(0);

impl SummaryWriter {
    /// Creates `dir` and a new event file in it, named as TensorBoard's own writers name
    /// theirs: `events.out.tfevents.<unix secs>.<hostname>.<pid>.<n>`. Writes the file-version
    /// event and flushes it.
    pub fn create(dir: &Path) -> Result<Self> {
        std::fs::create_dir_all(dir).map_err(io_err(dir))?;
        let secs = wall_time() as u64;
        let host = hostname();
        let pid = std::process::id();
        let (path, file) = loop {
            let n = NEXT_FILE.fetch_add(1, Ordering::Relaxed);
            let path = dir.join(format!("events.out.tfevents.{secs:010}.{host}.{pid}.{n}"));
            match OpenOptions::new().write(true).create_new(true).open(&path) {
                Ok(file) => break (path, file),
                // Another writer (of an earlier process with our pid) took the name.
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
                Err(e) => return Err(io_err(&path)(e)),
            }
        };
        let mut writer = Self {
            path,
            file: BufWriter::new(file),
        };
        writer.write_record(&file_version_event(wall_time()))?;
        writer.flush()?;
        Ok(writer)
    }

    /// Appends `value` (stored as f32, as TensorBoard's `simple_value` is) for `tag` at `step`.
    pub fn add_scalar(&mut self, tag: &str, value: f64, step: u64) -> Result<()> {
        let step = i64::try_from(step).map_err(|_| {
            TrainError::Config(format!(
                "TensorBoard step {step} is beyond the largest step an event file holds ({})",
                i64::MAX
            ))
        })?;
        self.write_record(&scalar_event(wall_time(), step, tag, value as f32))
    }

    /// Writes the buffered events to the file.
    pub fn flush(&mut self) -> Result<()> {
        self.file.flush().map_err(io_err(&self.path))
    }

    /// The event file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn write_record(&mut self, data: &[u8]) -> Result<()> {
        self.file
            .write_all(&record(data))
            .map_err(io_err(&self.path))
    }
}

impl Drop for SummaryWriter {
    fn drop(&mut self) {
        let _ = self.file.flush();
    }
}

/// Seconds since the Unix epoch (0 for a clock set before it).
fn wall_time() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

/// This machine's name, reduced to characters safe in a file name ("localhost" if unknown).
fn hostname() -> String {
    let raw = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .or_else(|| std::env::var("COMPUTERNAME").ok())
        .unwrap_or_default();
    let name: String = raw
        .trim()
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    if name.is_empty() {
        "localhost".to_string()
    } else {
        name
    }
}

/// One TFRecord holding `data`.
fn record(data: &[u8]) -> Vec<u8> {
    let len = (data.len() as u64).to_le_bytes();
    let mut out = Vec::with_capacity(data.len() + 16);
    out.extend_from_slice(&len);
    out.extend_from_slice(&masked_crc32c(&len).to_le_bytes());
    out.extend_from_slice(data);
    out.extend_from_slice(&masked_crc32c(data).to_le_bytes());
    out
}

/// CRC-32C (Castagnoli) lookup table, reflected polynomial 0x82F63B78.
const CRC32C_TABLE: [u32; 256] = {
    let mut table = [0u32; 256];
    let mut i = 0;
    while i < 256 {
        let mut c = i as u32;
        let mut k = 0;
        while k < 8 {
            c = if c & 1 != 0 {
                (c >> 1) ^ 0x82F6_3B78
            } else {
                c >> 1
            };
            k += 1;
        }
        table[i] = c;
        i += 1;
    }
    table
};

fn crc32c(data: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &b in data {
        crc = CRC32C_TABLE[((crc ^ b as u32) & 0xFF) as usize] ^ (crc >> 8);
    }
    !crc
}

/// TFRecord's masked CRC: `((crc >> 15) | (crc << 17)) + 0xa282ead8`.
fn masked_crc32c(data: &[u8]) -> u32 {
    crc32c(data).rotate_right(15).wrapping_add(0xA282_EAD8)
}

// Protobuf wire types.
const VARINT: u64 = 0;
const FIXED64: u64 = 1;
const LEN: u64 = 2;
const FIXED32: u64 = 5;

fn put_varint(buf: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        buf.push(v as u8 | 0x80);
        v >>= 7;
    }
    buf.push(v as u8);
}

fn put_key(buf: &mut Vec<u8>, field: u64, wire: u64) {
    put_varint(buf, field << 3 | wire);
}

fn put_len(buf: &mut Vec<u8>, field: u64, bytes: &[u8]) {
    put_key(buf, field, LEN);
    put_varint(buf, bytes.len() as u64);
    buf.extend_from_slice(bytes);
}

/// `Event.wall_time` and `Event.step` (omitted when 0, as proto3 does).
fn event_head(wall_time: f64, step: i64) -> Vec<u8> {
    let mut buf = Vec::new();
    put_key(&mut buf, 1, FIXED64);
    buf.extend_from_slice(&wall_time.to_le_bytes());
    if step != 0 {
        put_key(&mut buf, 2, VARINT);
        put_varint(&mut buf, step as u64);
    }
    buf
}

fn file_version_event(wall_time: f64) -> Vec<u8> {
    let mut buf = event_head(wall_time, 0);
    put_len(&mut buf, 3, b"brain.Event:2");
    buf
}

fn scalar_event(wall_time: f64, step: i64, tag: &str, value: f32) -> Vec<u8> {
    let mut val = Vec::new();
    put_len(&mut val, 1, tag.as_bytes());
    put_key(&mut val, 2, FIXED32);
    val.extend_from_slice(&value.to_le_bytes());
    let mut summary = Vec::new();
    put_len(&mut summary, 1, &val);
    let mut buf = event_head(wall_time, step);
    put_len(&mut buf, 5, &summary);
    buf
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    #[test]
    fn crc32c_matches_published_values() {
        assert_eq!(crc32c(b"123456789"), 0xE306_9283);
        assert_eq!(crc32c(b""), 0);
        // RFC 3720, appendix B.4.
        assert_eq!(crc32c(&[0u8; 32]), 0x8A91_36AA);
        assert_eq!(crc32c(&[0xFFu8; 32]), 0x62A8_AB43);
        assert_eq!(crc32c(&(0u8..32).collect::<Vec<_>>()), 0x46DD_794E);
        // TensorBoard's masked_crc32c(b"123456789").
        assert_eq!(masked_crc32c(b"123456789"), 0xC78A_B0E5);
    }

    /// Byte-exact against TensorBoard's RecordWriter and event_pb2 (Python, tensorboard 2.21).
    #[test]
    fn records_match_tensorboards_own_writer() {
        assert_eq!(
            record(&file_version_event(1_700_000_000.25)),
            hex("1800000000000000a37f4b220900001040fc54d9411a0d627261696e2e4576656e743a32338d2fe9")
        );
        assert_eq!(
            record(&scalar_event(1_700_000_001.5, 300, "loss/train", -0.125)),
            hex(concat!(
                "2100000000000000017becf60900006040fc54d94110ac022a130a110a0a6c6f73732f747261",
                "696e15000000be34a562ed"
            ))
        );
    }

    /// What the decoder below reads from one event.
    #[derive(Debug, Default)]
    struct Decoded {
        wall_time: f64,
        step: i64,
        file_version: Option<String>,
        values: Vec<(String, f32)>,
    }

    fn varint(b: &[u8], at: &mut usize) -> u64 {
        let (mut v, mut shift) = (0u64, 0);
        loop {
            let byte = b[*at];
            *at += 1;
            v |= u64::from(byte & 0x7F) << shift;
            if byte < 0x80 {
                return v;
            }
            shift += 7;
        }
    }

    /// Splits a protobuf message into (field, wire type, payload); varints come as 8 LE bytes.
    fn fields(b: &[u8]) -> Vec<(u64, u64, Vec<u8>)> {
        let (mut at, mut out) = (0, Vec::new());
        while at < b.len() {
            let key = varint(b, &mut at);
            let payload = match key & 7 {
                VARINT => varint(b, &mut at).to_le_bytes().to_vec(),
                FIXED64 => b[at..at + 8].to_vec(),
                FIXED32 => b[at..at + 4].to_vec(),
                LEN => {
                    let n = varint(b, &mut at) as usize;
                    b[at..at + n].to_vec()
                }
                w => panic!("unexpected wire type {w}"),
            };
            at += match key & 7 {
                FIXED64 => 8,
                FIXED32 => 4,
                LEN => payload.len(),
                _ => 0,
            };
            out.push((key >> 3, key & 7, payload));
        }
        out
    }

    fn decode_event(b: &[u8]) -> Decoded {
        let mut ev = Decoded::default();
        for (field, wire, p) in fields(b) {
            match (field, wire) {
                (1, FIXED64) => ev.wall_time = f64::from_le_bytes(p.try_into().unwrap()),
                (2, VARINT) => ev.step = i64::from_le_bytes(p.try_into().unwrap()),
                (3, LEN) => ev.file_version = Some(String::from_utf8(p).unwrap()),
                (5, LEN) => {
                    for (f, w, value) in fields(&p) {
                        assert_eq!((f, w), (1, LEN), "Summary.value");
                        let (mut tag, mut v) = (String::new(), f32::NAN);
                        for (f, w, q) in fields(&value) {
                            match (f, w) {
                                (1, LEN) => tag = String::from_utf8(q).unwrap(),
                                (2, FIXED32) => v = f32::from_le_bytes(q.try_into().unwrap()),
                                other => panic!("unexpected Value field {other:?}"),
                            }
                        }
                        ev.values.push((tag, v));
                    }
                }
                other => panic!("unexpected Event field {other:?}"),
            }
        }
        ev
    }

    /// Reads every record of an event file, checking its length and both CRCs.
    fn read_records(path: &Path) -> Vec<Decoded> {
        let bytes = std::fs::read(path).unwrap();
        let (mut at, mut out) = (0, Vec::new());
        while at < bytes.len() {
            assert!(bytes.len() - at >= 12, "truncated record header at {at}");
            let len_bytes = &bytes[at..at + 8];
            let len = u64::from_le_bytes(len_bytes.try_into().unwrap()) as usize;
            let len_crc = u32::from_le_bytes(bytes[at + 8..at + 12].try_into().unwrap());
            assert_eq!(len_crc, masked_crc32c(len_bytes), "length CRC at {at}");
            let data = &bytes[at + 12..at + 12 + len];
            let end = at + 12 + len;
            let data_crc = u32::from_le_bytes(bytes[end..end + 4].try_into().unwrap());
            assert_eq!(data_crc, masked_crc32c(data), "data CRC at {at}");
            out.push(decode_event(data));
            at = end + 4;
        }
        out
    }

    #[test]
    fn writer_output_decodes_to_what_was_written() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("runs/a");
        let before = wall_time();
        let mut w = SummaryWriter::create(&dir).unwrap();
        let written = [
            ("loss/train", 2.5, 0),
            ("loss/train", -0.0, 1),
            ("accuracy/test", 0.1, 1),
            ("lr", 1e-7, 1 << 40),
            ("images_per_sec", 3.5e4, 200),
        ];
        for (tag, v, step) in written {
            w.add_scalar(tag, v, step).unwrap();
        }
        w.flush().unwrap();
        let after = wall_time();
        let name = w.path().file_name().unwrap().to_str().unwrap().to_string();
        assert!(name.starts_with("events.out.tfevents."), "{name}");
        assert_eq!(w.path().parent(), Some(dir.as_path()));

        let events = read_records(w.path());
        assert_eq!(events.len(), 1 + written.len());
        assert_eq!(events[0].file_version.as_deref(), Some("brain.Event:2"));
        assert!(events[0].values.is_empty());
        for (ev, (tag, v, step)) in events[1..].iter().zip(written) {
            assert_eq!(ev.step, step as i64);
            assert!(ev.file_version.is_none());
            assert_eq!(ev.values.len(), 1);
            assert_eq!(ev.values[0].0, tag);
            assert_eq!(ev.values[0].1.to_bits(), (v as f32).to_bits(), "{tag}");
        }
        for ev in &events {
            assert!(ev.wall_time >= before.floor() && ev.wall_time <= after + 1.0);
        }
    }

    #[test]
    fn dropping_flushes_and_each_writer_gets_its_own_file() {
        let tmp = tempfile::tempdir().unwrap();
        let mut a = SummaryWriter::create(tmp.path()).unwrap();
        let b = SummaryWriter::create(tmp.path()).unwrap();
        assert_ne!(a.path(), b.path());
        for step in 0..1000 {
            a.add_scalar("x", step as f64, step).unwrap();
        }
        let path = a.path().to_path_buf();
        drop(a);
        let events = read_records(&path);
        assert_eq!(events.len(), 1001);
        assert_eq!(events[1000].values[0].1, 999.0);
        assert_eq!(read_records(b.path()).len(), 1);
    }

    #[test]
    fn steps_beyond_int64_are_refused() {
        let tmp = tempfile::tempdir().unwrap();
        let mut w = SummaryWriter::create(tmp.path()).unwrap();
        w.add_scalar("x", 1.0, i64::MAX as u64).unwrap();
        let err = w.add_scalar("x", 1.0, i64::MAX as u64 + 1).unwrap_err();
        assert!(matches!(err, TrainError::Config(_)), "{err}");
        w.flush().unwrap();
        assert_eq!(read_records(w.path())[1].step, i64::MAX);
    }

    #[test]
    fn an_unusable_folder_is_an_io_error_naming_it() {
        let tmp = tempfile::tempdir().unwrap();
        let file = tmp.path().join("plain-file");
        std::fs::write(&file, b"x").unwrap();
        let err = SummaryWriter::create(&file.join("run")).err().unwrap();
        assert!(matches!(err, TrainError::Io { .. }), "{err}");
        assert!(err.to_string().contains("plain-file"), "{err}");
    }
}
