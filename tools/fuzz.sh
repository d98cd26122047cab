#!/usr/bin/env bash
# Builds the libFuzzer harnesses of tests/fuzz/ in build-fuzz/ (clang, AddressSanitizer and
# UBSan) and runs each for SECONDS (default 60) from its seed corpus; a crash, leak or UB fails.
# usage: tools/fuzz.sh [SECONDS]   (after tools/setup.sh --tests, which installs clang)
set -euo pipefail
cd "$(dirname "$0")/.."

seconds="${1:-60}"
case "$seconds" in
  "" | *[!0-9]* | 0) echo "usage: tools/fuzz.sh [SECONDS]" >&2; exit 2 ;;
esac
if ! command -v clang >/dev/null; then
  echo "tools/fuzz.sh: clang is missing; run tools/setup.sh --tests first" >&2
  exit 1
fi

if [ -f build-fuzz/build.ninja ]; then
  meson configure build-fuzz -Dfuzz=true -Dfuzz_seconds="$seconds"
else
  CC=clang meson setup build-fuzz --werror -Dfuzz=true -Db_lundef=false -Dfuzz_seconds="$seconds"
fi
# Only the harnesses: the rest of the project is built and tested in build/ and build-asan/.
ninja -C build-fuzz tests/fuzz/fuzz_safetensors tests/fuzz/fuzz_npy tests/fuzz/fuzz_image tests/fuzz/fuzz_npz
meson test -C build-fuzz --suite fuzz --no-rebuild --print-errorlogs -v
