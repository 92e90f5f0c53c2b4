"""Writes the seeds of the fuzz targets that Python makes best into fuzz/seeds/<target>/:
CIFAR-10 python pickles (Python 2 style by hand, Python 3 with numpy), PNG and JPEG images
(Pillow), and the torch.save fixtures of crates/nn/tests/fixtures/torch, whole and split into
the parts the torch_zip target zips itself. Needs numpy and Pillow (/tmp/torchenv has them).
The Kiln-made seeds come from `cargo test --release -p kiln-tests --test fuzz_corpus --
--ignored`. Run from the repository root: python fuzz/make_seeds.py
"""

import io
import pickle
import struct
import zipfile
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
SEEDS = ROOT / "fuzz" / "seeds"
PART = b"KILNPART"  # fuzz/src/lib.rs: separates data.pkl from the storages


def put(target, name, data):
    d = SEEDS / target
    d.mkdir(parents=True, exist_ok=True)
    (d / name).write_bytes(data)


class Py2Pickle:
    """Protocol 2 as Python 2's cPickle writes a CIFAR-10 batch: str as (SHORT_)BINSTRING."""

    def __init__(self):
        self.out = bytearray(b"\x80\x02")
        self.memo = 0

    def put(self):
        self.out += bytes([ord("q"), self.memo])
        self.memo += 1

    def string(self, s):
        if len(s) < 256:
            self.out += b"U" + bytes([len(s)]) + s
        else:
            self.out += b"T" + struct.pack("<I", len(s)) + s

    def int(self, v):
        if 0 <= v < 256:
            self.out += b"K" + bytes([v])
        else:
            self.out += b"J" + struct.pack("<i", v)

    def glob(self, module, name):
        self.out += b"c" + module.encode() + b"\n" + name.encode() + b"\n"
        self.put()

    def ndarray(self, rows, raw):
        self.glob("numpy.core.multiarray", "_reconstruct")
        self.glob("numpy", "ndarray")
        self.int(0)
        self.out += b"\x85"
        self.string(b"b")
        self.out += b"\x87R"
        self.put()
        self.out += b"("
        self.int(1)
        self.out += b"("
        self.int(rows)
        self.int(3072)
        self.out += b"t"
        self.glob("numpy", "dtype")
        self.string(b"u1")
        self.int(0)
        self.int(1)
        self.out += b"\x87R"
        self.put()
        self.out += b"("
        self.int(3)
        self.string(b"|")
        self.out += b"NNN"
        self.int(-1)
        self.int(-1)
        self.int(0)
        self.out += b"tb\x89"
        self.string(raw)
        self.out += b"tb"


def py2_batch(images, labels):
    p = Py2Pickle()
    p.out += b"}"
    p.put()
    p.out += b"("
    p.string(b"data")
    p.ndarray(len(labels), images)
    p.string(b"labels")
    p.out += b"]"
    p.put()
    p.out += b"("
    for l in labels:
        p.int(l)
    p.out += b"e"
    p.string(b"batch_label")
    p.string(b"testing batch 1 of 1")
    p.out += b"u."
    return bytes(p.out)


def py2_meta(names):
    p = Py2Pickle()
    p.out += b"}"
    p.put()
    p.out += b"("
    p.string(b"label_names")
    p.out += b"]"
    p.put()
    p.out += b"("
    for n in names:
        p.string(n.encode())
    p.out += b"e"
    p.string(b"num_vis")
    p.int(3072)
    p.out += b"u."
    return bytes(p.out)


NAMES = ["airplane", "automobile", "bird", "cat", "deer",
         "dog", "frog", "horse", "ship", "truck"]


def cifar_python():
    rng = np.random.default_rng(1)
    for n in (0, 1, 2):
        # bytes below 0x80: Python 3's latin-1 strings stay one byte a character
        images = rng.integers(0, 128, size=(n, 3072), dtype=np.uint8)
        labels = [int(x) for x in rng.integers(0, 10, size=n)]
        put("cifar_python", f"py2_batch_{n}", py2_batch(images.tobytes(), labels))
        batch = {b"data": images, b"labels": labels, b"batch_label": b"fuzz"}
        for proto in (2, 4):
            put("cifar_python", f"py3_p{proto}_batch_{n}", pickle.dumps(batch, protocol=proto))
    put("cifar_python", "py2_meta", py2_meta(NAMES))
    meta = {b"label_names": [n.encode() for n in NAMES], b"num_vis": 3072}
    put("cifar_python", "py3_meta", pickle.dumps(meta, protocol=2))
    str_keys = {"data": rng.integers(0, 128, size=(1, 3072), dtype=np.uint8), "labels": [3]}
    put("cifar_python", "py3_p5_str_keys", pickle.dumps(str_keys, protocol=5))


def images():
    y, x = np.mgrid[0:40, 0:40]
    rgb = np.stack([x * 6, y * 6, (x + y) * 3], axis=-1).astype(np.uint8)

    def save(name, img, fmt, **kw):
        b = io.BytesIO()
        img.save(b, fmt, **kw)
        put("image", name, b.getvalue())

    save("rgb_8x8.png", Image.fromarray(rgb[:8, :8]), "PNG")
    save("rgb_32x32.png", Image.fromarray(rgb[:32, :32]), "PNG", optimize=True)
    save("gray_5x7.png", Image.fromarray(rgb[:7, :5, 0]), "PNG")
    save("rgba_6x6.png", Image.fromarray(np.dstack([rgb[:6, :6], rgb[:6, :6, :1]])), "PNG")
    save("bits1_9x9.png", Image.fromarray(rgb[:9, :9, 0] > 20), "PNG")
    save("palette_12x10.png", Image.fromarray(rgb[:10, :12]).quantize(16), "PNG")
    save("gray16_4x4.png", Image.fromarray(rgb[:4, :4, 0].astype(np.uint16) * 250), "PNG")
    save("interlaced_10x10.png", Image.fromarray(rgb[:10, :10]), "PNG", interlace=1)
    save("rgb_8x8.jpg", Image.fromarray(rgb[:8, :8]), "JPEG", quality=90)
    save("rgb_40x40_420.jpg", Image.fromarray(rgb), "JPEG", quality=75, subsampling=2)
    save("progressive_16x12.jpg", Image.fromarray(rgb[:12, :16]), "JPEG", progressive=True)
    save("gray_9x9.jpg", Image.fromarray(rgb[:9, :9, 1]), "JPEG")
    save("cmyk_8x8.jpg", Image.fromarray(rgb[:8, :8]).convert("CMYK"), "JPEG")


def torch_files():
    fixtures = ROOT / "crates" / "nn" / "tests" / "fixtures" / "torch"
    for f in sorted(fixtures.glob("*.pt")):
        data = f.read_bytes()
        put("torch_zip", f.name, data)
        try:
            z = zipfile.ZipFile(f)
        except zipfile.BadZipFile:
            continue
        names = z.namelist()
        keys = sorted((n.rsplit("/", 1)[1] for n in names if "/data/" in n), key=int)
        parts = [z.read("archive/data.pkl")] + [z.read(f"archive/data/{k}") for k in keys]
        put("torch_zip", f.stem + ".parts", PART.join(parts))


if __name__ == "__main__":
    cifar_python()
    images()
    torch_files()
    for d in sorted(SEEDS.iterdir()):
        sizes = [p.stat().st_size for p in d.iterdir()]
        print(f"{d.name}: {len(sizes)} seeds, largest {max(sizes)} bytes")
