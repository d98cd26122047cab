#!/usr/bin/env bash
# clinception against what a CPU user would pick instead, on this machine, in
# one run: ONNX Runtime (CPU provider), OpenVINO (CPU plugin, f32 precision
# hint), PyTorch (Debian's, oneDNN) and `clinception bench`, each timing whole
# 299x299 forwards of Inception v3 on 2 threads, alternating, at batch 1 and
# 8, for ROUNDS rounds of ITERS forwards. Prints every round, then each
# engine's median of the rounds (per forward and per image) and its ratio to
# ONNX Runtime (below 1: faster than ONNX Runtime).
# usage: tools/bench_vs_peers.sh [ROUNDS] [ITERS]   (defaults 3 and 10)
#
# The peers are benchmark-only dependencies: onnxruntime and openvino come
# from PyPI into a virtual environment outside the repository,
# $CLINCEPTION_BENCH_VENV (default ~/.cache/clinception/bench-venv), made on
# the first run; the model is torchvision's, exported to ONNX with Debian's
# torch (tools/export_onnx.py) into build/. Set CLINCEPTION_DEVICE to pick
# clinception's OpenCL device.
set -euo pipefail
cd "$(dirname "$0")/.."
rounds="${1:-3}"
iters="${2:-10}"
case "$rounds$iters" in *[!0-9]*) echo "usage: tools/bench_vs_peers.sh [ROUNDS] [ITERS]" >&2; exit 2 ;; esac
[ -x build/clinception ] || tools/setup.sh
/usr/bin/python3 -c "import torchvision" 2>/dev/null || tools/setup.sh --tests

venv="${CLINCEPTION_BENCH_VENV:-${XDG_CACHE_HOME:-$HOME/.cache}/clinception/bench-venv}"
if ! "$venv/bin/python" -c "import onnxruntime, openvino" 2>/dev/null; then
  if ! /usr/bin/python3 -c "import ensurepip, venv" 2>/dev/null; then
    sudo=""
    [ "$(id -u)" -eq 0 ] || sudo=sudo
    $sudo apt-get update -q && DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q python3-venv
  fi
  echo "making $venv with onnxruntime and openvino from PyPI (benchmark only)" >&2
  /usr/bin/python3 -m venv "$venv"
  "$venv/bin/pip" install -q --disable-pip-version-check onnxruntime openvino
fi
model=build/inception_v3.onnx
[ -f "$model" ] || /usr/bin/python3 tools/export_onnx.py "$model"

field() { /usr/bin/python3 -c "import json,sys; print(json.loads(sys.stdin.read().strip().splitlines()[-1])['$1'])"; }
results=$(mktemp)
trap 'rm -f "$results"' EXIT
ort_version=$("$venv/bin/python" -c "import onnxruntime; print(onnxruntime.__version__)")
ov_version=$("$venv/bin/python" -c "import openvino; print(openvino.__version__.split('-')[0])")
torch_version=$(/usr/bin/python3 -c "import torch; print(torch.__version__)")
device=$(build/clinception bench --random-weights --iters 1 --warmup 0 2>/dev/null | sed -n 's/^device  *//p' | head -n 1)
echo "clinception on: $device"
for batch in 1 8; do
  for r in $(seq "$rounds"); do
    o=$("$venv/bin/python" tools/peer_bench.py --engine onnxruntime --model "$model" \
        --batch "$batch" --iters "$iters" | field median_ms)
    v=$("$venv/bin/python" tools/peer_bench.py --engine openvino --model "$model" \
        --batch "$batch" --iters "$iters" | field median_ms)
    t=$(/usr/bin/python3 tools/torch_bench.py --batch "$batch" --iters "$iters" | field median_ms)
    c=$(build/clinception bench --random-weights --batch "$batch" --iters "$iters" --json 2>/dev/null \
        | field median_ms)
    printf 'batch %d round %d: ONNX Runtime %7.1f  OpenVINO %7.1f  PyTorch %7.1f  clinception %7.1f ms\n' \
      "$batch" "$r" "$o" "$v" "$t" "$c"
    printf '%s onnxruntime %s\n%s openvino %s\n%s pytorch %s\n%s clinception %s\n' \
      "$batch" "$o" "$batch" "$v" "$batch" "$t" "$batch" "$c" >> "$results"
  done
done
/usr/bin/python3 - "$results" "$ort_version" "$ov_version" "$torch_version" <<'PY'
import statistics, sys
rows = [line.split() for line in open(sys.argv[1])]
names = {"onnxruntime": f"ONNX Runtime {sys.argv[2]}", "openvino": f"OpenVINO {sys.argv[3]}",
         "pytorch": f"PyTorch {sys.argv[4]}", "clinception": "clinception"}
med = {(b, e): statistics.median(float(ms) for bb, ee, ms in rows if (bb, ee) == (b, e))
       for b, e, _ in rows}
print()
print("| engine | batch 1, ms | ratio | batch 8, ms per image | ratio |")
print("| --- | --- | --- | --- | --- |")
for e, name in names.items():
    b1, b8 = med[("1", e)], med[("8", e)] / 8
    r1, r8 = b1 / med[("1", "onnxruntime")], b8 / (med[("8", "onnxruntime")] / 8)
    print(f"| {name} | {b1:.1f} | {r1:.2f} | {b8:.1f} | {r8:.2f} |")
print("(medians of the rounds; ratio: time / ONNX Runtime's in this run)")
PY
