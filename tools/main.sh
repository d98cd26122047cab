#!/usr/bin/env bash
# The main job: sets up and builds clinception, then classifies the sample
# photo tools/data/chelsea.png on the default OpenCL device and prints the
# per-layer profile. Uses the real weights when they are at
# models/inception_v3.safetensors (or $CLINCEPTION_WEIGHTS), else seeded
# random weights.
set -euo pipefail
cd "$(dirname "$0")/.."
tools/setup.sh

weights="${CLINCEPTION_WEIGHTS:-models/inception_v3.safetensors}"
build/clinception devices
if [ -f "$weights" ]; then
  args=(--weights "$weights")
else
  echo "no weight file at $weights: running with seeded random weights, so the classes mean" \
       "nothing (the README says how to get the real weights)"
  args=(--random-weights)
fi
build/clinception classify "${args[@]}" --profile tools/data/chelsea.png
