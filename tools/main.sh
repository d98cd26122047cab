#!/usr/bin/env bash
# The main job: sets up and builds clinception, then runs Inception v3 on a
# sample batch on the default OpenCL device, with the real weights when they
# are at models/inception_v3.safetensors (or $CLINCEPTION_WEIGHTS), else with
# seeded random weights.
set -euo pipefail
cd "$(dirname "$0")/.."
tools/setup.sh

weights="${CLINCEPTION_WEIGHTS:-models/inception_v3.safetensors}"
input=build/sample_input.npy
/usr/bin/python3 -c "
import numpy as np
np.save('$input', np.random.default_rng(0).uniform(-1, 1, (1, 3, 299, 299)).astype(np.float32))"

build/clinception devices
if [ -f "$weights" ]; then
  args=(--weights "$weights" --transform-input)
else
  echo "no weight file at $weights: running with seeded random weights, so the classes mean" \
       "nothing (the README says how to get the real weights)"
  args=(--random-weights)
fi
build/clinception infer "${args[@]}" --input "$input" --output build/sample_logits.npy --repeat 3
