#!/usr/bin/env bash
# clinception against PyTorch's own CPU path on this machine: both time whole
# 299x299 forwards of Inception v3, alternating, at batch 1 and 8, for ROUNDS
# rounds; prints each median, the median of the rounds and the ratio
# clinception / PyTorch (below 1: clinception is faster).
# usage: tools/bench_vs_torch.sh [ROUNDS] [ITERS]   (defaults 3 and 10)
# Set CLINCEPTION_DEVICE to pick the OpenCL device; PyTorch uses 2 threads.
set -euo pipefail
cd "$(dirname "$0")/.."
rounds="${1:-3}"
iters="${2:-10}"
[ -x build/clinception ] || tools/setup.sh
median_of() { sort -n | awk '{a[NR]=$1} END {print (a[int((NR+1)/2)] + a[int(NR/2)+1]) / 2}'; }
field() { /usr/bin/python3 -c "import json,sys; print(json.loads(sys.stdin.read().strip().splitlines()[-1])['$1'])"; }

for batch in 1 8; do
  ours=() torch=()
  for r in $(seq "$rounds"); do
    t=$(/usr/bin/python3 tools/torch_bench.py --batch "$batch" --iters "$iters" | field median_ms)
    o=$(build/clinception bench --random-weights --batch "$batch" --iters "$iters" --json 2>/dev/null \
        | field median_ms)
    printf 'batch %d round %d: PyTorch %8.1f ms, clinception %8.1f ms\n' "$batch" "$r" "$t" "$o"
    torch+=("$t") ours+=("$o")
  done
  tm=$(printf '%s\n' "${torch[@]}" | median_of)
  om=$(printf '%s\n' "${ours[@]}" | median_of)
  awk -v b="$batch" -v t="$tm" -v o="$om" 'BEGIN {
    printf "batch %d: PyTorch %.1f ms (%.1f ms/image), clinception %.1f ms (%.1f ms/image), ratio %.2f\n",
           b, t, t / b, o, o / b, o / t }'
done
