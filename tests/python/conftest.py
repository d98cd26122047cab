"""Fixtures of the Python package's tests: the checkout ($CLN_SOURCE_DIR, set by
tests/python/run.sh), the references that tools/make_reference.py,
tools/make_fid_images.py and tools/fid_reference.py make with torchvision and
pytorch-fid, and comparison helpers. The package under test is the installed
one, never the checkout's python/ folder."""

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

# The device every test runs on (the C tests' choice: PoCL's CPU device).
DEVICE = os.environ.get("CLN_TEST_DEVICE", "cpu")
PYTORCH_FID_WHEEL = "pytorch_fid-0.3.0-py3-none-any.whl"
PHOTOS = ("chelsea.png", "coffee.jpg", "astronaut.png")


def relative_l2(ours, reference):
    """||ours - reference|| / ||reference|| in float64."""
    ours = np.asarray(ours, dtype=np.float64)
    reference = np.asarray(reference, dtype=np.float64)
    assert ours.shape == reference.shape, f"shape {ours.shape}, reference {reference.shape}"
    assert np.all(np.isfinite(ours)), "not finite"
    return float(np.linalg.norm(ours - reference) / np.linalg.norm(reference))


@pytest.fixture(scope="session")
def repo():
    """The checkout whose tools/ make the references."""
    path = os.environ.get("CLN_SOURCE_DIR")
    if not path:
        pytest.fail("CLN_SOURCE_DIR is not set: run the suite through tests/python/run.sh")
    path = Path(path).resolve()
    if not (path / "tools" / "make_reference.py").is_file():
        pytest.fail(f"CLN_SOURCE_DIR={path} is not a clinception checkout")
    return path


@pytest.fixture(scope="session")
def pytorch_fid_wheel(repo):
    """pytorch-fid's wheel, which tools/setup.sh --tests fetches into build/."""
    wheel = Path(os.environ.get("CLN_PYTORCH_FID", repo / "build" / "pytorch-fid" / PYTORCH_FID_WHEEL))
    if not wheel.is_file():
        pytest.fail(f"{wheel} is missing: tools/setup.sh --tests fetches it")
    return wheel


@pytest.fixture(scope="session")
def pytorch_fid(pytorch_fid_wheel):
    """pytorch-fid's fid_score module, imported from its wheel."""
    if str(pytorch_fid_wheel) not in sys.path:
        sys.path.insert(0, str(pytorch_fid_wheel))
    import pytorch_fid.fid_score

    return pytorch_fid.fid_score


def run_tool(repo, script, *args):
    """Runs tools/SCRIPT with this interpreter (which sees Debian's torch);
    fails the test with its output if it fails. Returns its standard output."""
    command = [sys.executable, str(repo / "tools" / script), *map(str, args)]
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode != 0:
        pytest.fail(f"{' '.join(command)} failed ({result.returncode}):\n{result.stdout}\n{result.stderr}")
    return result.stdout


class Reference:
    """A folder written by tools/make_reference.py: model.safetensors,
    input.npy, logits.npy (torchvision's, float64) and features_LAYER.npy."""

    def __init__(self, folder):
        self.folder = folder
        self.weights = folder / "model.safetensors"

    @property
    def input(self):
        return np.load(self.folder / "input.npy")

    @property
    def logits(self):
        return np.load(self.folder / "logits.npy")

    def features(self, layer):
        return np.load(self.folder / f"features_{layer}.npy")


@pytest.fixture(scope="session")
def make_reference(repo, tmp_path_factory):
    """make_reference(name, *arguments) -> Reference, made once per session."""
    made = {}

    def make(name, *arguments):
        if name not in made:
            folder = tmp_path_factory.mktemp(name)
            run_tool(repo, "make_reference.py", "--out", folder, *arguments)
            made[name] = Reference(folder)
        return made[name]

    return make


@pytest.fixture(scope="session")
def random_reference(make_reference):
    """Inception v3 with seeded random weights (1000 classes, aux head), two
    91 x 107 inputs, the logits and two layers' outputs."""
    return make_reference(
        "random", "--seed", 21, "--batch", 2, "--height", 91, "--width", 107,
        "--features", "avgpool", "--features", "Mixed_6e",
    )  # fmt: skip


@pytest.fixture(scope="session")
def fine_tuned_reference(make_reference):
    """A fine-tuned head of 7 classes without the aux head, made with
    transform_input=True, two 83 x 97 inputs."""
    return make_reference(
        "fine_tuned", "--seed", 32, "--batch", 2, "--height", 83, "--width", 97,
        "--no-aux", "--classes", 7, "--transform-input", "--features", "maxpool1",
    )  # fmt: skip


@pytest.fixture(scope="session")
def photos(repo):
    """The sample photos of tools/data (PNG and JPEG, not square)."""
    return [repo / "tools" / "data" / name for name in PHOTOS]


@pytest.fixture(scope="session")
def photos_reference(make_reference, photos):
    """Inception v3 calibrated on the photos, and torchvision's logits of
    them through its own preprocessing (Resize 342, CenterCrop 299, ...)."""
    arguments = []
    for photo in photos:
        arguments += ["--image", photo]
    return make_reference("photos", "--seed", 5, *arguments)


@pytest.fixture(scope="session")
def fid_case(repo, pytorch_fid_wheel, make_reference, tmp_path_factory):
    """The FID Inception built by pytorch-fid's code with seeded weights (its
    logits of one 299 x 299 input), two folders of seeded synthetic images
    (PNG and JPEG, 40 to 400 pixels a side) and pytorch-fid's statistics of
    each at 2048 dims (its save_fid_stats)."""
    reference = make_reference("fid", "--network", "fid", "--pytorch-fid", pytorch_fid_wheel, "--seed", 52)
    folder = tmp_path_factory.mktemp("fid_images")
    case = {"reference": reference, "weights": reference.weights}
    for name, seed, count, tint in (("a", 53, 12, 0.0), ("b", 54, 11, 0.15)):
        images = folder / name
        run_tool(repo, "make_fid_images.py", "--out", images, "--seed", seed, "--count", count, "--tint", tint)
        stats = folder / f"{name}.npz"
        run_tool(
            repo, "fid_reference.py", "--pytorch-fid", pytorch_fid_wheel, "--weights", reference.weights,
            "--dims", 2048, "--save-stats", images, stats,
        )  # fmt: skip
        case[name] = images
        case[f"{name}_npz"] = stats
    return case


@pytest.fixture(scope="module")
def random_model():
    """A model of seeded random weights, for the tests of arguments."""
    import clinception

    with clinception.Model(seed=1, device=DEVICE) as model:
        yield model
