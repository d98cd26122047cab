#!/usr/bin/env bash
# Installs the Python package from this checkout into a virtual environment
# outside it, with `pip install` as a user does (meson-python from PyPI builds
# the library into the package), and runs tests/python/ with pytest from a
# scratch folder, so that nothing is imported from the checkout.
# usage: tests/python/run.sh [PYTEST ARGUMENTS...]
#   CLN_PYTHON_VENV  the environment (default ~/.cache/clinception/venv), made
#                    by Debian's python3 with its packages visible (numpy,
#                    torch, torchvision, scipy, PIL, pytest: tools/setup.sh --tests)
#   CLN_PYTHON       the interpreter that makes it (default /usr/bin/python3)
#   CLN_TEST_DEVICE  the device the tests run on (default cpu)
# The references need pytorch-fid's wheel in build/pytorch-fid/ (tools/setup.sh
# --tests fetches it). Exits non-zero when a test fails or none ran.
set -euo pipefail
repo=$(cd "$(dirname "$0")/../.." && pwd -P)
venv=${CLN_PYTHON_VENV:-${XDG_CACHE_HOME:-$HOME/.cache}/clinception/venv}
python=${CLN_PYTHON:-/usr/bin/python3}
mkdir -p "$(dirname "$venv")"
venv=$(cd "$(dirname "$venv")" && pwd -P)/$(basename "$venv")
case "$venv/" in
  "$repo"/*) echo "tests/python/run.sh: the environment $venv must be outside the checkout" >&2; exit 2 ;;
esac

[ -x "$venv/bin/python" ] || "$python" -m venv --system-site-packages "$venv"
# meson's build folder, one per checkout, kept between runs so that a rerun
# compiles only what changed
build="$venv/meson-build/$(printf '%s' "$repo" | sha256sum | cut -c1-16)"
# (pip builds and installs a folder again whatever the version installed)
nice "$venv/bin/python" -m pip install --quiet --disable-pip-version-check \
  --config-settings=build-dir="$build" "$repo"

# the installed library, not one a developer points at
unset CLINCEPTION_LIBRARY
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
cd "$scratch"
status=0
CLN_SOURCE_DIR="$repo" CLINCEPTION_CACHE_DIR="$scratch/cache" PYTHONDONTWRITEBYTECODE=1 \
  "$venv/bin/python" -m pytest -v -p no:cacheprovider --rootdir "$repo/tests/python" \
  "$repo/tests/python" "$@" || status=$?
if [ "$status" -eq 5 ]; then
  echo "tests/python/run.sh: pytest ran no test" >&2
fi
exit "$status"
