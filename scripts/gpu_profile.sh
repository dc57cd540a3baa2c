#!/usr/bin/env bash
# The reference model's speed on a GPU, in one go (a few minutes on a datacentre GPU):
# r50 at 360x640, window 5, batch 1, full model against the baseline, in fp32, TF32, fp16,
# bf16, fp16 + channels-last and (WITH_COMPILE=1, the default) fp16 + torch.compile; the
# tiny config; the deformable attention core's two forms. Records and tables go to OUT_DIR,
# and a Markdown summary to OUT_DIR/summary.md (the table docs/profile.md shows).
#
# Usage: scripts/gpu_profile.sh [OUT_DIR]
# Environment: PYTHON (python3), ITERS (50), WARMUP (10), BREAKDOWN (10), WITH_COMPILE (1);
# DEVICE (cuda), CONFIG (r50), SIZE (360x640), WINDOW (5) only to smoke-test the script
# elsewhere.
# Needs a Python with a CUDA build of torch and r2bench's dependencies; nothing is
# downloaded (the text encoder is a random one of distilroberta-base's size).
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${1:-gpu-profile}
PY=${PYTHON:-python3}
DEVICE=${DEVICE:-cuda}
SIZE=${SIZE:-360x640}
WINDOW=${WINDOW:-5}
mkdir -p "$OUT"
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1

DEVICE=$DEVICE "$PY" - <<'PY' || exit 1
import importlib.util, os, sys
need = ("torch", "transformers", "tokenizers", "safetensors", "numpy", "scipy", "click",
        "tqdm", "PIL", "numba", "pycocotools")
missing = [m for m in need if importlib.util.find_spec(m) is None]
if missing:
    sys.exit(f"gpu_profile: missing Python packages: {', '.join(missing)}")
import torch
if os.environ["DEVICE"] == "cuda" and not torch.cuda.is_available():
    sys.exit("gpu_profile: this torch sees no CUDA device")
name = torch.cuda.get_device_name() if torch.cuda.is_available() else "no GPU"
print(f"torch {torch.__version__}, CUDA {torch.version.cuda}, {name}")
PY
nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm --format=csv \
    > "$OUT/nvidia-smi.csv" 2>&1 && cat "$OUT/nvidia-smi.csv"

run() {  # NAME, then profile options
    local name=$1; shift
    echo "== $name"
    "$PY" -m r2bench profile --device "$DEVICE" --warmup "${WARMUP:-10}" \
        --iters "${ITERS:-50}" --breakdown-iters "${BREAKDOWN:-10}" -q \
        --out "$OUT/$name.json" "$@" | tee "$OUT/$name.txt" || echo "$name: failed"
}
R50=(--config "${CONFIG:-r50}" --size "$SIZE" --window "$WINDOW" --compare)
run r50-fp32 "${R50[@]}" --precision fp32
[ "$DEVICE" = cuda ] && run r50-tf32 "${R50[@]}" --precision tf32
run r50-fp16 "${R50[@]}" --precision fp16
run r50-bf16 "${R50[@]}" --precision bf16
run r50-fp16-channels-last "${R50[@]}" --precision fp16 --channels-last
run tiny-fp32 --config tiny --size 96x160 --window "$WINDOW" --compare

echo "== deformable attention core, r50 encoder shapes ($WINDOW frames, $SIZE)"
DEVICE=$DEVICE SIZE=$SIZE WINDOW=$WINDOW "$PY" - <<'PY' | tee "$OUT/deform-attn.txt"
import math, os, time
import torch
from reference_model.ms_deform_attn import ms_deform_attn_gather, ms_deform_attn_grid_sample
dev = torch.device(os.environ["DEVICE"])
h, w = map(int, os.environ["SIZE"].split("x"))
sides = [(math.ceil(h / 4), math.ceil(w / 4))]
for _ in range(4):  # strides 8, 16, 32, 64: each stride-2 layer rounds up
    sides.append((math.ceil(sides[-1][0] / 2), math.ceil(sides[-1][1] / 2)))
shapes = torch.tensor(sides[1:], device=dev)
n, m, d, p = int(os.environ["WINDOW"]), 8, 32, 4
s = int(shapes.prod(-1).sum())
gen = torch.Generator(device=dev).manual_seed(0)
value = torch.randn(n, s, m, d, device=dev, generator=gen)
loc = torch.rand(n, s, m, 4, p, 2, device=dev, generator=gen) * 1.2 - 0.1
w8 = torch.rand(n, s, m, 4 * p, device=dev, generator=gen).softmax(-1).view(n, s, m, 4, p)
sync = torch.cuda.synchronize if dev.type == "cuda" else (lambda: None)
print(f"levels {shapes.tolist()}")
with torch.inference_mode():
    ref = ms_deform_attn_grid_sample(value, shapes, loc, w8)
    for name, fn in (("grid_sample", ms_deform_attn_grid_sample),
                     ("gather", ms_deform_attn_gather)):
        for _ in range(3):
            out = fn(value, shapes, loc, w8)
        times = []
        for _ in range(20):
            sync(); start = time.perf_counter()
            fn(value, shapes, loc, w8)
            sync(); times.append((time.perf_counter() - start) * 1e3)
        times.sort()
        err = (out - ref).abs().max().item()
        print(f"{name:<12} median {times[len(times) // 2]:.3f} ms  max |diff| {err:.1e}")
PY

if [ "${WITH_COMPILE:-1}" = 1 ]; then
    export -f run; export OUT PY DEVICE
    timeout 420 bash -c 'run r50-fp16-compile "$@" --precision fp16 --compile' _ "${R50[@]}" \
        || echo "r50-fp16-compile: failed or ran past 420 s"
fi

"$PY" - "$OUT" <<'PY' | tee "$OUT/summary.md"
import json, pathlib, sys
out = pathlib.Path(sys.argv[1])
print("| run | device | r2 FPS | baseline FPS | r2 / baseline latency | r2 median ms "
      "| r2 p90 ms | peak GiB |")
print("|---|---|---:|---:|---:|---:|---:|---:|")
for path in sorted(out.glob("*.json")):
    rec = json.loads(path.read_text())
    rows = rec["compare"]["variants"]
    r2, base = rows["r2"], rows["baseline"]
    print(f"| {path.stem} | {rec['software']['device_name']} | {r2['fps']:.1f} | "
          f"{base['fps']:.1f} | {rec['compare']['latency_ratio']:.3f} | "
          f"{r2['latency_ms']['median']:.1f} | {r2['latency_ms']['p90']:.1f} | "
          f"{rec['peak_memory_bytes'] / 2**30:.2f} |")
PY
