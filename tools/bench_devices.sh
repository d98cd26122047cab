#!/usr/bin/env bash
# Scaling over devices (and, where clinception-mpi is built, over MPI ranks)
# on this machine's CPU through PoCL, in one run: `clinception bench` of
# batch B at 299x299 on one device of one thread, one device of two threads,
# and two devices of one thread each (POCL_DEVICES="pthread pthread"); then
# `clinception-mpi bench` on 1 and 2 ranks of one one-thread device each.
# Prints images/s for each and the scaling efficiency of two against one
# (rate of 2 / (2 x rate of 1)); on a 2-core machine the honest comparison
# is 2 x 1 thread against 1 x 2 threads, also printed.
# usage: tools/bench_devices.sh [ITERS] [BATCH]   (defaults 10 and 2)
set -euo pipefail
cd "$(dirname "$0")/.."
iters="${1:-10}"
batch="${2:-2}"
case "$iters$batch" in "" | *[!0-9]*) echo "usage: tools/bench_devices.sh [ITERS] [BATCH]" >&2; exit 2 ;; esac
[ -x build/clinception ] || tools/setup.sh

rate() { # the aggregate images/s of a bench --json line
  /usr/bin/python3 -c 'import json, sys; print("%.3f" % json.loads(sys.stdin.read().splitlines()[-1])["images_per_s"])'
}
bench() { build/clinception bench --random-weights --batch "$batch" --iters "$iters" --json "$@" 2>/dev/null | rate; }

one_1=$(POCL_DEVICES=basic bench --device 0:0)
one_2=$(POCL_DEVICES=pthread POCL_MAX_PTHREAD_COUNT=2 POCL_CPU_MAX_CU_COUNT=2 bench --device 0:0)
two_1=$(POCL_DEVICES="basic basic" bench --device all)
echo "1 device x 1 thread:   $one_1 images/s"
echo "1 device x 2 threads:  $one_2 images/s"
echo "2 devices x 1 thread:  $two_1 images/s"
/usr/bin/python3 -c 'import sys; a, b, c = map(float, sys.argv[1:]); print(f"devices: scaling efficiency {c / (2 * a):.2f} (2 devices against 2 x 1); 2 x 1 thread / 1 x 2 threads = {c / b:.2f}")' "$one_1" "$one_2" "$two_1"

if [ -x build/clinception-mpi ] && command -v mpirun >/dev/null; then
  mpi() {
    POCL_DEVICES=basic OMPI_MCA_rmaps_base_oversubscribe=1 \
      mpirun --allow-run-as-root --oversubscribe -n "$1" build/clinception-mpi bench --random-weights \
      --batch "$batch" --iters "$iters" --json 2>/dev/null | rate
  }
  rank_1=$(mpi 1)
  rank_2=$(mpi 2)
  echo "1 rank x 1 thread:     $rank_1 images/s"
  echo "2 ranks x 1 thread:    $rank_2 images/s"
  /usr/bin/python3 -c 'import sys; a, b, c = map(float, sys.argv[1:]); print(f"ranks: scaling efficiency {c / (2 * a):.2f}; 2 ranks x 1 thread / 1 device x 2 threads = {c / b:.2f}")' "$rank_1" "$one_2" "$rank_2"
fi
