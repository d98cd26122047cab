#!/usr/bin/env bash
# Sets up and runs every test: the whole suite in build/, then again in
# build-asan/ under AddressSanitizer and UndefinedBehaviorSanitizer with the
# fault-injection walk (tests/test_faults.c), the Python package installed by
# pip into a virtual environment outside the checkout and tested with pytest
# (tests/python/run.sh), then each fuzzer of tests/fuzz/ for 60 s
# (tools/fuzz.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
tools/setup.sh --tests
meson test -C build --print-errorlogs -v
meson test -C build-asan --print-errorlogs -v
tests/python/run.sh
tools/fuzz.sh 60
