"""The installed package: where it loads from, its version and the devices."""

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import clinception


def test_imported_from_the_installation_not_the_checkout(repo, tmp_path):
    """In a fresh interpreter started in another folder, the package and its
    library come from the environment's site-packages, beside each other."""
    env = {k: v for k, v in os.environ.items() if k not in ("CLINCEPTION_LIBRARY", "PYTHONPATH")}
    script = (
        "import json, clinception, clinception._capi as c; "
        "print(json.dumps({'file': clinception.__file__, 'library': c.path, 'version': clinception.__version__}))"
    )
    result = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, env=env, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    found = json.loads(result.stdout)
    package = Path(found["file"]).resolve().parent
    assert repo not in package.parents, f"imported from the checkout: {package}"
    assert Path(sys.prefix).resolve() in package.parents, f"{package} is not in {sys.prefix}"
    assert Path(found["library"]).resolve().parent == package
    assert found["version"] == clinception.__version__


def test_version_is_the_library_and_the_project_version(repo):
    header = (repo / "include" / "clinception.h").read_text()
    meson = (repo / "meson.build").read_text()
    header_version = re.search(r'#define CLN_VERSION_STRING "([^"]+)"', header).group(1)
    project_version = re.search(r"version\s*:\s*'([^']+)'", meson).group(1)
    assert clinception.__version__ == header_version == project_version


def test_devices_lists_the_opencl_devices():
    devices = clinception.devices()
    assert devices, "no OpenCL device"
    for device in devices:
        assert {"index", "name", "platform", "type", "compute_units", "global_memory"} <= device.keys()
        assert re.fullmatch(r"\d+:\d+", device["index"])
        assert device["type"] in ("gpu", "cpu", "other")
        assert device["name"] and device["platform"]
        assert device["compute_units"] >= 1 and device["global_memory"] > 0
    assert any(d["type"] == "cpu" for d in devices), "the tests run on PoCL's CPU device"


def test_public_names_have_docstrings():
    for name in clinception.__all__:
        if name == "__version__":
            continue
        value = getattr(clinception, name)
        assert value.__doc__ and value.__doc__.strip(), name
    for name in ("forward", "features", "feature_shape", "classify", "close"):
        assert getattr(clinception.Model, name).__doc__, name
    assert issubclass(clinception.Error, RuntimeError)
