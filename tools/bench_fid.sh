#!/usr/bin/env bash
# FID throughput: `clinception fid` against pytorch-fid's own code (Debian's
# torch on the CPU, 2 threads, its default batch of 50) on the same two
# folders of N seeded 299x299 images each, the same seeded FID Inception
# weights, in one run on this machine. Prints each one's seconds and images
# per second for the 2N images, their FIDs, and the ratio of their times
# (below 1: clinception is faster).
# usage: tools/bench_fid.sh [N]   (default 200)
#
# pytorch-fid's wheel comes from PyPI into build/pytorch-fid (tools/setup.sh
# --tests); the weights are tools/make_reference.py's seeded ones, as the real
# pt_inception-2015-12-05 cannot be downloaded here. Set CLINCEPTION_DEVICE
# to pick clinception's OpenCL device.
set -euo pipefail
cd "$(dirname "$0")/.."
n="${1:-200}"
case "$n" in "" | *[!0-9]*) echo "usage: tools/bench_fid.sh [N]" >&2; exit 2 ;; esac
wheel=build/pytorch-fid/pytorch_fid-0.3.0-py3-none-any.whl
[ -x build/clinception ] && [ -f "$wheel" ] || tools/setup.sh --tests
work=build/bench-fid
mkdir -p "$work"
[ -f "$work/model.safetensors" ] ||
  /usr/bin/python3 tools/make_reference.py --network fid --pytorch-fid "$wheel" --out "$work" --seed 3 >/dev/null
for set in a b; do
  if [ "$(ls "$work/$set-$n" 2>/dev/null | wc -l)" != "$n" ]; then
    rm -rf "$work/$set-$n"
    /usr/bin/python3 tools/make_fid_images.py --out "$work/$set-$n" --seed "$([ $set = a ] && echo 11 || echo 12)" \
      --count "$n" --size 299 --tint "$([ $set = a ] && echo 0 || echo 0.1)"
  fi
done

seconds() { /usr/bin/python3 -c 'import sys, time; print(f"{time.time() - float(sys.argv[1]):.2f}")' "$1"; }
start=$(date +%s.%N)
ours=$(build/clinception fid --weights "$work/model.safetensors" --batch 8 --json "$work/a-$n" "$work/b-$n" 2>/dev/null | tail -1)
ours_s=$(seconds "$start")
start=$(date +%s.%N)
theirs=$(/usr/bin/python3 tools/fid_reference.py --pytorch-fid "$wheel" --weights "$work/model.safetensors" \
  --batch 50 "$work/a-$n" "$work/b-$n" 2>/dev/null | tail -1)
theirs_s=$(seconds "$start")
/usr/bin/python3 - "$n" "$ours_s" "$theirs_s" "$ours" "$theirs" <<'EOF'
import json, sys
n, ours_s, theirs_s = int(sys.argv[1]), float(sys.argv[2]), float(sys.argv[3])
ours, theirs = json.loads(sys.argv[4])["fid"], json.loads(sys.argv[5])["fid"]
print(f"clinception fid: {ours_s:.2f} s, {2 * n / ours_s:.1f} images/s, FID {ours:.6f}")
print(f"pytorch-fid:     {theirs_s:.2f} s, {2 * n / theirs_s:.1f} images/s, FID {theirs:.6f}")
print(f"time ratio clinception / pytorch-fid: {ours_s / theirs_s:.2f}; FID relative difference "
      f"{abs(ours - theirs) / abs(theirs):.2e}")
EOF
