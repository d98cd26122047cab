#!/usr/bin/env bash
# Installs the Debian packages clinception needs (only those missing) and
# builds it in build/ with warnings as errors.
# usage: tools/setup.sh [--tests]
#   --tests  also installs torchvision (the end-to-end reference), scipy and
#            pip (for pytorch-fid's wheel, fetched into the build folders:
#            the FID reference) and clang with libFuzzer (for tools/fuzz.sh),
#            and builds build-asan/ (AddressSanitizer + UndefinedBehaviorSanitizer,
#            with fault injection for tests/test_faults.c)
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(build-essential pkg-config meson ninja-build python3 python3-numpy
          ocl-icd-opencl-dev opencl-headers pocl-opencl-icd libclblast-dev
          libjansson-dev libcriterion-dev libstb-dev libjpeg62-turbo-dev
          liblapacke-dev libopenblas-dev libzip-dev)
tests=false
case "${1:-}" in
  --tests) tests=true; packages+=(python3-torchvision python3-scipy python3-pip openmpi-bin libopenmpi-dev
                                  clang libclang-rt-14-dev python3-venv python3-pytest python3-pil) ;;
  "") ;;
  *) echo "usage: tools/setup.sh [--tests]" >&2; exit 2 ;;
esac

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo=sudo
  echo "installing: ${missing[*]}"
  $sudo apt-get update -q
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q "${missing[@]}"
fi

# pytorch-fid's wheel (pure Python, from PyPI, never committed), which the FID
# tests run with Debian's torch and scipy as their reference
fetch_pytorch_fid() {
  local dir="$1/pytorch-fid"
  [ -f "$dir/pytorch_fid-0.3.0-py3-none-any.whl" ] && return
  mkdir -p "$dir"
  /usr/bin/python3 -m pip download --no-deps --quiet --dest "$dir" pytorch-fid==0.3.0
}

[ -f build/build.ninja ] || meson setup build --werror
ninja -C build
if $tests; then
  fetch_pytorch_fid build
  # the sanitizer build also injects OpenCL faults on demand (tests/test_faults.c)
  [ -f build-asan/build.ninja ] || meson setup build-asan --werror -Db_sanitize=address,undefined \
    -Db_lundef=false -Dfault_injection=true
  meson configure build-asan -Dfault_injection=true
  ninja -C build-asan
  fetch_pytorch_fid build-asan
fi
