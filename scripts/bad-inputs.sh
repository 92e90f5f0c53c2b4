#!/bin/bash
# Tries every bad input a user can give the release binary and prints a Markdown table of what
# each one gets: the exit status and the error (first two lines). Nothing here may panic, train
# on the wrong data or succeed; a row that exits 0 or panics is marked FAIL and the script exits 1.
#   scripts/bad-inputs.sh [path/to/kiln] [CIFAR-10 folder]
# Defaults: target/release/kiln and ../shared/data. Needs python3 (standard library only).
set -u
kiln=$(realpath "${1:-target/release/kiln}")
cifar=$(realpath "${2:-${KILN_DATA:-../shared/data}}")/cifar-10-batches-bin
[ -x "$kiln" ] || { echo "no kiln binary at $kiln (cargo build --release -p kiln-cli)" >&2; exit 2; }
[ -f "$cifar/data_batch_1.bin" ] || { echo "no CIFAR-10 binary folder at $cifar" >&2; exit 2; }
t=$(mktemp -d)
trap 'rm -rf "$t"' EXIT
cd "$t"
failed=0

echo "| bad input | command | exit | message |"
echo "|---|---|---|---|"
# try DESCRIPTION ARGS...: runs kiln ARGS in $t, prints one table row
try() {
    local what=$1
    shift
    "$kiln" "$@" >out.txt 2>err.txt </dev/null
    local rc=$?
    local msg
    # the error and its hint (a TOML error quotes the line: up to 6 lines)
    msg=$(sed -n '/^error/,$p' err.txt | head -6 | tr '\n' ' ' | tr -s ' ' | sed 's/|/\\|/g; s/`/\x27/g')
    local verdict=""
    if [ $rc -eq 0 ] || [ -z "$msg" ] || grep -q "panicked" err.txt; then verdict="FAIL: "; failed=1; fi
    local cmd
    cmd=$(printf '%s ' "$@" | sed "s#$t/##g; s#$cifar#CIFAR#g; s#|#\\\\|#g")
    echo "| $what | \`kiln ${cmd% }\` | $rc | $verdict${msg:-<no message>} |"
}
q() { "$kiln" "$@" >/dev/null 2>&1 </dev/null; }

# made once: a small run on the built-in set, its weights, copies of CIFAR-10 with faults
q --out runs train --name syn --train-size 128 --test-size 64 --epochs 1 --batch-size 32
w=runs/syn/best.safetensors
[ -f "$w" ] || { echo "could not make the small run" >&2; exit 2; }
mkcifar() { mkdir -p "$1" && cp "$cifar"/*.bin "$cifar"/batches.meta.txt "$1"/ && cp "$cifar/SHA256SUMS" "$1"/; }
mkcifar copied && cp copied/data_batch_2.bin copied/data_batch_1.bin
mkcifar copied-nolist && cp copied-nolist/data_batch_2.bin copied-nolist/data_batch_1.bin && rm copied-nolist/SHA256SUMS
mkcifar truncated && rm truncated/SHA256SUMS && truncate -s -100 truncated/data_batch_3.bin
mkcifar badlabel && rm badlabel/SHA256SUMS && printf '\x0c' | dd of=badlabel/data_batch_1.bin bs=1 seek=$((3073 * 7)) conv=notrunc status=none
python3 - "$w" <<'EOF'
import json, struct, sys, random, zipfile, pickle
src = open(sys.argv[1], 'rb').read()
n = struct.unpack('<Q', src[:8])[0]
header = json.loads(src[8:8 + n]); body = bytearray(src[8 + n:])
# a bit flipped in the tensor bytes of Kiln's own file
flipped = bytearray(src); flipped[8 + n + 1000] ^= 0x10
open('flipped.safetensors', 'wb').write(flipped)
# PyTorch's kind of file (no Kiln checksum) with a NaN in its first tensor
meta = header.pop('__metadata__', {})
meta = {k: v for k, v in meta.items() if not k.startswith('kiln.sha256')}
name = sorted(k for k in header)[0]
at = header[name]['data_offsets'][0]
body[at:at + 4] = struct.pack('<f', float('nan'))
h = json.dumps(dict(header, __metadata__=meta)).encode()
open('nan.safetensors', 'wb').write(struct.pack('<Q', len(h)) + h + bytes(body))
# a legacy (non-zip) torch.save file, and a zip whose pickle calls os.system
open('legacy.pt', 'wb').write(b'\x80\x02\x8a\x0al\xfc\x9cF\xf9 j\xa8P\x19.' + pickle.dumps({}, 2))
with zipfile.ZipFile('evil.pt', 'w') as z:
    z.writestr('archive/data.pkl', b"cos\nsystem\n(S'echo pwned'\ntR.")
open('notanimage.png', 'w').write('hello')
# a real 32x32 PNG (grey)
import zlib
def chunk(kind, data):
    return struct.pack('>I', len(data)) + kind + data + struct.pack('>I', zlib.crc32(kind + data))
raw = b''.join(b'\x00' + bytes([128] * 96) for _ in range(32))
png = b'\x89PNG\r\n\x1a\n' + chunk(b'IHDR', struct.pack('>IIBBBBB', 32, 32, 8, 2, 0, 0, 0))
open('grey.png', 'wb').write(png + chunk(b'IDAT', zlib.compress(raw)) + chunk(b'IEND', b''))
EOF
mkdir -p one/train/cat one/test/cat && cp notanimage.png one/train/cat/a.png
printf '[[layer]]\ntype = "conv3d"\n' > unknown.toml
printf '[[layer]]\ntype = "linear"\nout_features = 10\n[[layer]]\ntype = "conv2d"\nout_channels = 8\nkernel_size = 3\n' > order.toml
printf '[[layer]]\ntype = "conv2d"\nout_channels = 8\nkernel_size = 64\n' > big.toml

try "a run made on the built-in set resumed on CIFAR-10" --data "$cifar" --out runs train --resume runs/syn --epochs 2
try "a shaping flag given on resume" --out runs train --resume runs/syn --epochs 2 --lr 0.5
try "resume of a folder that is no run" --out runs train --resume runs/none
try "weights for other classes evaluated on CIFAR-10" --data "$cifar" eval --weights "$w"
try "--train-size 0" train --train-size 0
try "--test-size 0" eval --weights "$w" --test-size 0
try "more training images than the set has" --data "$cifar" train --train-size 60000
try "NaN in a weights file" eval --weights nan.safetensors
try "NaN in a weights file (predict)" predict --weights nan.safetensors grey.png
try "a bit flipped in a Kiln weights file" eval --weights flipped.safetensors
try "a weights file that does not exist" eval --weights missing.safetensors
try "samples beyond the picture limit" samples --weights "$w" --n 100000
try "predict on a missing image" predict --weights "$w" missing.png
try "predict on a file that is no image" predict --weights "$w" notanimage.png
try "a legacy (non-zip) torch.save file" eval --weights legacy.pt
try "a torch.save zip whose pickle calls os.system" eval --weights evil.pt
try "a CIFAR batch copied over another (checksum list)" --data copied eval --weights "$w"
try "a CIFAR batch copied over another (no list)" --data copied-nolist train --epochs 1
try "a truncated CIFAR batch" --data truncated train --epochs 1
try "a label out of range in a CIFAR record" --data badlabel train --epochs 1
try "a data folder that does not exist" --data nowhere train
try "an image folder with one class and no image" --data one train
try "an image size below 8" --data one --image-size 4 train
try "--epochs 0" train --epochs 0
try "--batch-size 0" train --batch-size 0
try "--lr 0" train --lr 0
try "--lr NaN" train --lr NaN
try "--val-split 1.5" train --val-split 1.5
try "--label-smoothing 1" train --label-smoothing 1
try "--momentum with Adam" train --momentum 0.9
try "an unknown layer in a model file" train --model unknown.toml
try "a linear before a conv in a model file" train --model order.toml
try "a kernel larger than the image" train --model big.toml
try "a model file that does not exist" train --model missing.toml
try "--from weights of another network" train --from "$w" --c1 16
try "a shard beyond the count" search --shard 3/2
try "--device cuda on a machine without a GPU (or a build without CUDA)" --device cuda train
try "export of a file that is no weights file" export --weights grey.png --onnx m.onnx
exit $failed
