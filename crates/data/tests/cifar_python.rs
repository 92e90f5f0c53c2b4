//! The python-version reader on pickles laid out as the official ones: bytes written here the
//! way Python 2's cPickle writes a dict holding a numpy array (protocol 2), and, where python3
//! is installed, pickles that python3 writes (with numpy when it is importable).

use std::path::Path;

use kiln_data::{ChecksumSource, Checksums, DataError, Layout, Split, detect_layout, load};

/// A protocol-2 pickle writer for exactly the objects of a CIFAR-10 batch, using Python 2
/// `str` opcodes (SHORT_BINSTRING / BINSTRING) as the official files do.
#[derive(Default)]
struct Py2Pickle {
    out: Vec<u8>,
    memo: u8,
}

impl Py2Pickle {
    fn put(&mut self) {
        self.out.extend([b'q', self.memo]);
        self.memo = self.memo.wrapping_add(1);
    }
    fn string(&mut self, s: &[u8]) {
        if s.len() < 256 {
            self.out.extend([b'U', s.len() as u8]);
        } else {
            self.out.push(b'T');
            self.out.extend((s.len() as u32).to_le_bytes());
        }
        self.out.extend(s);
    }
    fn int(&mut self, v: i64) {
        match v {
            0..=255 => self.out.extend([b'K', v as u8]),
            256..=65535 => {
                self.out.push(b'M');
                self.out.extend((v as u16).to_le_bytes());
            }
            _ if i32::try_from(v).is_ok() => {
                self.out.push(b'J');
                self.out.extend((v as i32).to_le_bytes());
            }
            _ => {
                self.out.extend([0x8a, 8]); // LONG1
                self.out.extend(v.to_le_bytes());
            }
        }
    }
    fn global(&mut self, module: &str, name: &str) {
        self.out.push(b'c');
        self.out.extend(format!("{module}\n{name}\n").bytes());
        self.put();
    }
    /// numpy's pickle of an array of `shape`, dtype byte order `order` ("|" for uint8).
    fn ndarray(&mut self, shape: &[usize], order: &[u8], fortran: bool, raw: &[u8]) {
        self.global("numpy.core.multiarray", "_reconstruct");
        self.global("numpy", "ndarray");
        self.int(0);
        self.out.push(0x85); // TUPLE1
        self.string(b"b");
        self.out.push(0x87); // TUPLE3
        self.out.push(b'R');
        self.put();
        self.out.push(b'(');
        self.int(1);
        self.out.push(b'(');
        shape.iter().for_each(|&d| self.int(d as i64));
        self.out.push(b't'); // TUPLE (the shape)
        self.global("numpy", "dtype");
        self.string(b"u1");
        self.int(0);
        self.int(1);
        self.out.push(0x87);
        self.out.push(b'R');
        self.put();
        self.out.push(b'(');
        self.int(3);
        self.string(order);
        self.out.extend(b"NNN");
        self.int(-1);
        self.int(-1);
        self.int(0);
        self.out.extend(b"tb"); // TUPLE, BUILD (dtype state)
        self.out.push(if fortran { 0x88 } else { 0x89 }); // NEWTRUE / NEWFALSE: Fortran order
        self.string(raw);
        self.out.extend(b"tb"); // TUPLE, BUILD (array state)
    }
    fn batch(images: &[u8], labels: &[i64]) -> Vec<u8> {
        let labels: Vec<Option<i64>> = labels.iter().map(|&l| Some(l)).collect();
        Py2Pickle::batch_parts(&[labels.len(), 3072], b"|", false, images, &labels)
    }
    /// A batch with each part chosen; a label `None` is pickled as a string.
    fn batch_parts(
        shape: &[usize],
        order: &[u8],
        fortran: bool,
        raw: &[u8],
        labels: &[Option<i64>],
    ) -> Vec<u8> {
        let mut p = Py2Pickle::default();
        p.out.extend([0x80, 2, b'}']);
        p.put();
        p.out.push(b'(');
        p.string(b"data");
        p.ndarray(shape, order, fortran, raw);
        p.string(b"labels");
        p.out.push(b']');
        p.put();
        p.out.push(b'(');
        labels.iter().for_each(|l| match l {
            Some(l) => p.int(*l),
            None => p.string(b"cat"),
        });
        p.out.push(b'e');
        p.string(b"batch_label");
        p.string(b"training batch 1 of 5");
        p.out.extend(b"u.");
        p.out
    }
    fn meta(names: &[&str]) -> Vec<u8> {
        let mut p = Py2Pickle::default();
        p.out.extend([0x80, 2, b'}']);
        p.put();
        p.out.push(b'(');
        p.string(b"num_cases_per_batch");
        p.int(10000);
        p.string(b"label_names");
        p.out.push(b']');
        p.put();
        p.out.push(b'(');
        names.iter().for_each(|n| p.string(n.as_bytes()));
        p.out.extend(b"eu.");
        p.out
    }
}

const NAMES: [&str; 10] = [
    "airplane",
    "automobile",
    "bird",
    "cat",
    "deer",
    "dog",
    "frog",
    "horse",
    "ship",
    "truck",
];

/// Image `i` of file `f`: a recognisable byte pattern.
fn pattern(f: usize, n: usize) -> (Vec<u8>, Vec<i64>) {
    let images = (0..n * 3072)
        .map(|k| ((k * 7 + f * 31) % 256) as u8)
        .collect();
    let labels = (0..n).map(|i| ((i + f) % 10) as i64).collect();
    (images, labels)
}

/// The tree of Python-2-style pickles with a checksum list of its own (it is not the official
/// release, whose MD5s apply to a folder without a list).
fn write_py2_tree(root: &Path, n: usize) {
    write_py2_tree_unlisted(root, n);
    kiln_data::write_checksums(root).unwrap();
}

fn write_py2_tree_unlisted(root: &Path, n: usize) {
    let dir = root.join("cifar-10-batches-py");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("batches.meta"), Py2Pickle::meta(&NAMES)).unwrap();
    for f in 0..6 {
        let (images, labels) = pattern(f, n);
        let name = if f < 5 {
            format!("data_batch_{}", f + 1)
        } else {
            "test_batch".into()
        };
        std::fs::write(dir.join(name), Py2Pickle::batch(&images, &labels)).unwrap();
    }
}

#[test]
fn reads_python2_style_pickles() {
    let tmp = tempfile::tempdir().unwrap();
    write_py2_tree(tmp.path(), 12);
    let dir = tmp.path().join("cifar-10-batches-py");
    assert_eq!(
        detect_layout(tmp.path()).unwrap(),
        Layout::CifarPython(dir.clone())
    );
    assert_eq!(
        detect_layout(&dir).unwrap(),
        Layout::CifarPython(dir.clone())
    );
    let train = load(tmp.path(), Split::Train).unwrap();
    let test = load(&dir, Split::Test).unwrap();
    assert_eq!(train.len(), 60);
    assert_eq!(test.len(), 12);
    assert_eq!(train.class_names(), NAMES.map(String::from));
    let (img2, lab2) = pattern(2, 12);
    assert_eq!(train.image(24 + 5), &img2[5 * 3072..6 * 3072]);
    assert_eq!(train.label(24 + 5), lab2[5] as usize);
    let (img5, _) = pattern(5, 12);
    assert_eq!(test.images(), &img5[..]);
    // Verified against the folder's own list, without warnings.
    assert!(train.warnings().is_empty(), "{:?}", train.warnings());
    assert_eq!(
        train.integrity().sources,
        [ChecksumSource::File(dir.join("SHA256SUMS"))]
    );
    assert_eq!(
        train.integrity().verified.len(),
        6,
        "5 batches and batches.meta"
    );
}

#[test]
fn without_a_list_the_official_md5s_apply() {
    let tmp = tempfile::tempdir().unwrap();
    write_py2_tree_unlisted(tmp.path(), 4);
    let dir = tmp.path().join("cifar-10-batches-py");
    let err = load(tmp.path(), Split::Test).unwrap_err();
    let msg = err.to_string();
    assert!(
        matches!(
            &err,
            DataError::ChecksumMismatch {
                list: ChecksumSource::OfficialCifarPython,
                algorithm: kiln_data::Algorithm::Md5,
                ..
            }
        ),
        "{msg}"
    );
    // batches.meta is read first; its official MD5 is torchvision's.
    assert!(
        msg.contains("batches.meta")
            && msg.contains("5ff9c542aee3614f3951f8cda6e48888")
            && msg.contains("official CIFAR-10 python release")
            && msg.contains("SHA256SUMS or MD5SUMS of their own"),
        "{msg}"
    );
    // Skipping checksums loads them; a list of the folder's own replaces the official MD5s.
    let test = kiln_data::load_with(&dir, Split::Test, Checksums::Skip).unwrap();
    assert_eq!(test.len(), 4);
    let written = kiln_data::write_checksums(&dir).unwrap();
    assert_eq!(written.not_official.len(), 7, "{written:?}");
    assert_eq!(load(&dir, Split::Test).unwrap().len(), 4);
}

#[test]
fn python_pickle_errors_are_clear() {
    let tmp = tempfile::tempdir().unwrap();
    write_py2_tree(tmp.path(), 4);
    let dir = tmp.path().join("cifar-10-batches-py");
    // The files below are broken on purpose with their list left as it was: checksums are
    // skipped so that the format checks behind them are what answers.
    let load_unchecked = |split| kiln_data::load_with(&dir, split, Checksums::Skip);
    // Truncated pickle: the list catches it first, the format check without the list.
    let bytes = std::fs::read(dir.join("test_batch")).unwrap();
    std::fs::write(dir.join("test_batch"), &bytes[..bytes.len() / 2]).unwrap();
    let err = load(&dir, Split::Test).unwrap_err();
    assert!(matches!(err, DataError::ChecksumMismatch { .. }), "{err}");
    let err = load_unchecked(Split::Test).unwrap_err();
    assert!(matches!(err, DataError::Format { .. }), "{err}");
    assert!(err.to_string().contains("test_batch"), "{err}");
    // Label out of range.
    let (images, mut labels) = pattern(5, 4);
    labels[3] = 10;
    std::fs::write(dir.join("test_batch"), Py2Pickle::batch(&images, &labels)).unwrap();
    let err = load_unchecked(Split::Test).unwrap_err().to_string();
    assert!(
        err.contains("test_batch") && err.contains("record 3") && err.contains("10"),
        "{err}"
    );
    // Missing file.
    std::fs::remove_file(dir.join("data_batch_3")).unwrap();
    let err = load(&dir, Split::Train).unwrap_err();
    assert!(
        matches!(&err, DataError::Missing { layout: Layout::CifarPython(d), .. } if d == &dir),
        "{err:?}"
    );
    let msg = err.to_string();
    assert!(
        msg.contains("data_batch_3") && msg.contains("CIFAR-10 python folder"),
        "{msg}"
    );
    assert!(!msg.contains("kiln") && !msg.contains("--"), "{msg}");
}

#[test]
fn wrong_pickle_shapes_and_types_name_the_file_and_the_record() {
    let tmp = tempfile::tempdir().unwrap();
    write_py2_tree(tmp.path(), 4);
    let dir = tmp.path().join("cifar-10-batches-py");
    let (img, lab) = pattern(5, 4);
    let lab: Vec<Option<i64>> = lab.into_iter().map(Some).collect();
    let mut str_label = lab.clone();
    str_label[2] = None;
    let cases: Vec<(Vec<u8>, &str)> = vec![
        (
            Py2Pickle::batch_parts(&[4, 3000], b"|", false, &img[..12000], &lab),
            "'data' has 3000 columns, expected 3072",
        ),
        (
            Py2Pickle::batch_parts(&[4, 3, 1024], b"|", false, &img, &lab),
            "'data' has 3 dimensions, expected 2",
        ),
        (
            Py2Pickle::batch_parts(&[4, 3072], b"<", false, &img, &lab),
            "multi-byte dtype (byte order '<')",
        ),
        (
            Py2Pickle::batch_parts(&[4, 3072], b"|", true, &img, &lab),
            "Fortran order",
        ),
        (
            Py2Pickle::batch_parts(&[4, 3072], b"|", false, &img[..7000], &lab),
            "'data' holds 7000 bytes for shape [4, 3072] of uint8: record 2 is cut short",
        ),
        (
            Py2Pickle::batch_parts(&[4, 3072], b"|", false, &img, &str_label),
            "record 2: the label is a string, not an integer",
        ),
        (
            Py2Pickle::batch_parts(&[4, 3072], b"|", false, &img, &lab[..3]),
            "3 labels for 4 images: record 3 has no label",
        ),
        (Py2Pickle::meta(&NAMES), "no 'data' entry"),
        (vec![0x80, 2, b']', b'.'], "the pickle does not hold a dict"),
    ];
    for (bytes, needle) in cases {
        std::fs::write(dir.join("test_batch"), bytes).unwrap();
        let err = kiln_data::load_with(&dir, Split::Test, Checksums::Skip).unwrap_err();
        let msg = err.to_string();
        assert!(matches!(err, DataError::Format { .. }), "{msg}");
        assert!(
            msg.contains("test_batch") && msg.contains(needle),
            "expected {needle:?} in: {msg}"
        );
    }
}

/// A batch as numpy 2 pickles it at protocol 5 (`pickle.dumps(batch, protocol=5)`, less the
/// FRAME and MEMOIZE opcodes): the array is `numpy._core.numeric._frombuffer(raw, dtype('u1'),
/// shape, order)`.
fn protocol5_batch(raw: &[u8], rows: usize, labels: &[i64], order: &str) -> Vec<u8> {
    let text = |p: &mut Vec<u8>, t: &str| {
        p.extend([0x8c, t.len() as u8]); // SHORT_BINUNICODE
        p.extend(t.as_bytes());
    };
    let mut p = b"\x80\x05}(C\x04data".to_vec();
    text(&mut p, "numpy._core.numeric");
    text(&mut p, "_frombuffer");
    p.extend(b"\x93(\x8e"); // STACK_GLOBAL, MARK, BINBYTES8
    p.extend((raw.len() as u64).to_le_bytes());
    p.extend(raw);
    text(&mut p, "numpy");
    text(&mut p, "dtype");
    p.push(0x93);
    text(&mut p, "u1");
    p.extend(b"\x89\x88\x87R(K\x03"); // dtype('u1', False, True), its state
    text(&mut p, "|");
    p.extend(b"NNNJ\xff\xff\xff\xffJ\xff\xff\xff\xffK\x00tbJ");
    p.extend((rows as i32).to_le_bytes());
    p.extend(b"M\x00\x0c\x86"); // the shape (rows, 3072)
    text(&mut p, order);
    p.extend(b"tRC\x06labels](");
    labels.iter().for_each(|&l| p.extend([b'K', l as u8]));
    p.extend(b"eu.");
    p
}

#[test]
fn reads_numpy_protocol_5_arrays() {
    use kiln_data::cifar_python::parse_batch;
    let (img, lab) = pattern(1, 3);
    let p = protocol5_batch(&img, 3, &lab, "C");
    let (images, labels) = parse_batch(Path::new("p5"), &p, 10).unwrap();
    assert_eq!(images, img);
    assert_eq!(labels, lab.iter().map(|&l| l as usize).collect::<Vec<_>>());
    let p = protocol5_batch(&img, 3, &lab, "F");
    let err = parse_batch(Path::new("p5"), &p, 10).unwrap_err();
    assert!(err.to_string().contains("Fortran order"), "{err}");
    let p = protocol5_batch(&img[..3072], 3, &lab, "C");
    let err = parse_batch(Path::new("p5"), &p, 10).unwrap_err();
    assert!(err.to_string().contains("record 1 is cut short"), "{err}");
}

/// python3 writes the batches: with numpy when importable, else with stand-in modules that
/// reduce to the same numpy globals and state, so the bytes have numpy's structure.
const PY_WRITER: &str = r#"
import pickle, sys, types
out, n = sys.argv[1], int(sys.argv[2])
try:
    import numpy as np
    def array(raw, rows): return np.frombuffer(raw, dtype=np.uint8).reshape(rows, 3072)
    flavour = "numpy " + np.__version__
except ImportError:
    mod = types.ModuleType("numpy"); core = types.ModuleType("numpy.core")
    multi = types.ModuleType("numpy.core.multiarray")
    sys.modules.update({"numpy": mod, "numpy.core": core, "numpy.core.multiarray": multi})
    def _reconstruct(*a): raise RuntimeError
    _reconstruct.__module__ = "numpy.core.multiarray"; multi._reconstruct = _reconstruct
    class dtype:
        def __init__(self, *a): pass
        def __reduce__(self): return (dtype, ("u1", False, True), (3, "|", None, None, None, -1, -1, 0))
    class ndarray:
        def __init__(self, raw, rows): self.raw, self.rows = raw, rows
        def __reduce__(self):
            return (_reconstruct, (ndarray, (0,), b"b"), (1, (self.rows, 3072), dtype(), False, self.raw))
    for c in (dtype, ndarray): c.__module__ = "numpy"; setattr(mod, c.__name__, c)
    def array(raw, rows): return ndarray(raw, rows)
    flavour = "stand-in numpy modules"
names = [s.encode() for s in "airplane automobile bird cat deer dog frog horse ship truck".split()]
with open(out + "/batches.meta", "wb") as f:
    pickle.dump({b"label_names": names, b"num_vis": 3072}, f, protocol=2)
for k, name in enumerate(["data_batch_%d" % i for i in range(1, 6)] + ["test_batch"]):
    raw = bytes(((j * 7 + k * 31) % 256) for j in range(n * 3072))
    labels = [(i + k) % 10 for i in range(n)]
    with open(out + "/" + name, "wb") as f:
        pickle.dump({b"data": array(raw, n), b"labels": labels, b"batch_label": b"x"}, f, protocol=2)
print(flavour)
"#;

#[test]
fn reads_pickles_written_by_python3() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("cifar-10-batches-py");
    std::fs::create_dir_all(&dir).unwrap();
    let run = std::process::Command::new("python3")
        .args(["-c", PY_WRITER, dir.to_str().unwrap(), "9"])
        .output();
    let out = match run {
        Ok(o) if o.status.success() => o,
        Ok(o) => panic!("python3 failed: {}", String::from_utf8_lossy(&o.stderr)),
        Err(_) => {
            common_skip();
            return;
        }
    };
    println!(
        "pickles written by python3 with {}",
        String::from_utf8_lossy(&out.stdout).trim()
    );
    kiln_data::write_checksums(&dir).unwrap();
    let train = load(tmp.path(), Split::Train).unwrap();
    let test = load(tmp.path(), Split::Test).unwrap();
    assert_eq!((train.len(), test.len()), (45, 9));
    assert_eq!(train.class_names(), NAMES.map(String::from));
    let (img3, lab3) = pattern(3, 9);
    assert_eq!(train.image(27 + 8), &img3[8 * 3072..]);
    assert_eq!(train.label(27 + 8), lab3[8] as usize);
    assert_eq!(test.images(), &pattern(5, 9).0[..]);
}

/// Pickles that crashed or swamped the reader when it was serde-pickle (found by fuzzing, see
/// fuzz/regressions/cifar_python/): each is now a plain format error, at once.
#[test]
fn hostile_pickles_are_format_errors_without_a_crash() {
    use kiln_data::cifar_python::{parse_batch, parse_label_names};
    let path = Path::new("hostile");
    // both readers' messages, each a format error, quickly
    let refuse = |bytes: &[u8]| {
        let start = std::time::Instant::now();
        let errs = [
            parse_batch(path, bytes, 10).unwrap_err(),
            parse_label_names(path, bytes).unwrap_err(),
        ];
        assert!(start.elapsed().as_secs_f64() < 2.0);
        errs.map(|e| {
            assert!(matches!(e, DataError::Format { .. }), "{e}");
            e.to_string()
        })
    };
    let nested = |n: usize| {
        let mut p = std::iter::repeat_n(b']', n).collect::<Vec<u8>>();
        p.extend(std::iter::repeat_n(b'a', n - 1));
        p
    };
    // lists nested 4,000 deep (8 KB) overflowed the stack; 1,000,000 deep now
    let mut p = b"\x80\x02".to_vec();
    p.extend(nested(1_000_000));
    p.push(b'.');
    for e in refuse(&p) {
        assert!(e.contains("does not hold a dict"), "{e}");
    }
    // the same under the keys of a dict
    let mut p = b"\x80\x02}(U\x04data".to_vec();
    p.extend(nested(1_000_000));
    p.extend(b"U\x0blabel_names");
    p.extend(nested(1_000_000));
    p.extend(b"u.");
    let [batch, names] = refuse(&p);
    assert!(batch.contains("not a pickled numpy array"), "{batch}");
    assert!(names.contains("not a string"), "{names}");
    // one 64 KB name repeated 100,000 times through the memo: 6.5 GB if copied
    let mut p = b"\x80\x02}U\x0blabel_names](T\x00\x00\x01\x00".to_vec();
    p.extend([b'n'; 65536]);
    p.extend(b"q\x01");
    for _ in 0..100_000 {
        p.extend(b"h\x01");
    }
    p.extend(b"es.");
    let err = parse_label_names(path, &p).unwrap_err();
    assert!(err.to_string().contains("longer than the file"), "{err}");
    // a shape whose product overflows
    let shape = [1usize << 62, 3072];
    let p = Py2Pickle::batch_parts(&shape, b"|", false, &[], &[]);
    let err = parse_batch(path, &p, 10).unwrap_err();
    assert!(err.to_string().contains("cut short"), "{err}");
    // no classes at all
    let (images, labels) = pattern(0, 2);
    let err = parse_batch(path, &Py2Pickle::batch(&images, &labels), 0).unwrap_err();
    assert!(matches!(err, DataError::Invalid(_)), "{err}");
}

fn common_skip() {
    kiln_tensor::testing::skip(
        kiln_tensor::testing::Need::Python,
        "reading python3-written pickles",
        "python3 is absent",
    );
}
