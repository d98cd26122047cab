"""fid and fid_stats against pytorch-fid's own code: its InceptionV3 around the
same seeded FID Inception (tools/fid_reference.py), its statistics files
(save_fid_stats) and its calculate_frechet_distance."""

import json

import numpy as np
import pytest

import clinception
from conftest import DEVICE, relative_l2, run_tool

TOLERANCE = 1e-3  # relative, as the C end-to-end tests


@pytest.fixture(scope="module")
def fid_model(fid_case):
    with clinception.Model(fid_case["weights"], network="fid", device=DEVICE) as model:
        yield model


def pytorch_fid_stats(fid_case, name):
    with np.load(fid_case[f"{name}_npz"]) as f:
        return f["mu"].astype(np.float64), f["sigma"].astype(np.float64)


@pytest.fixture(scope="module")
def reference_fid(fid_case, pytorch_fid):
    """pytorch-fid's FID of the two folders at 2048 dims, from its statistics."""
    (m1, s1), (m2, s2) = pytorch_fid_stats(fid_case, "a"), pytorch_fid_stats(fid_case, "b")
    return float(pytorch_fid.calculate_frechet_distance(m1, s1, m2, s2))


def test_fid_of_folders_matches_pytorch_fid(fid_case, fid_model, reference_fid):
    ours = clinception.fid(fid_case["a"], fid_case["b"], weights=fid_model)
    assert reference_fid > 0
    assert ours == pytest.approx(reference_fid, rel=TOLERANCE)


def test_fid_with_a_weights_file_a_list_and_a_statistics_file(fid_case, reference_fid):
    """weights as a path (the model loaded and freed inside), images as a
    list of paths against pytorch-fid's statistics file."""
    a = sorted(str(p) for p in fid_case["a"].iterdir())
    ours = clinception.fid(a, fid_case["b_npz"], weights=fid_case["weights"], device=DEVICE)
    assert ours == pytest.approx(reference_fid, rel=TOLERANCE)


def test_fid_at_192_dims_matches_pytorch_fid(repo, fid_case, fid_model, pytorch_fid_wheel):
    out = run_tool(
        repo, "fid_reference.py", "--pytorch-fid", pytorch_fid_wheel, "--weights", fid_case["weights"],
        "--dims", 192, fid_case["a"], fid_case["b"],
    )  # fmt: skip
    theirs = json.loads(out.strip().splitlines()[-1])["fid"]
    ours = clinception.fid(fid_case["a"], fid_case["b"], weights=fid_model, dims=192)
    assert ours == pytest.approx(theirs, rel=TOLERANCE)


def test_fid_stats_match_pytorch_fid(fid_case, fid_model):
    mu, sigma = clinception.fid_stats(fid_case["a"], weights=fid_model)
    their_mu, their_sigma = pytorch_fid_stats(fid_case, "a")
    assert mu.dtype == sigma.dtype == np.float64
    assert mu.shape == (2048,) and sigma.shape == (2048, 2048)
    assert relative_l2(mu, their_mu) <= TOLERANCE
    assert relative_l2(sigma, their_sigma) <= TOLERANCE
    np.testing.assert_array_equal(sigma, sigma.T)


def test_statistics_files_and_pairs(fid_case, fid_model, reference_fid):
    """Two of pytorch-fid's .npz need no weights, nor a file and a (mu, sigma)
    pair."""
    both_files = clinception.fid(fid_case["a_npz"], fid_case["b_npz"])
    assert both_files == pytest.approx(reference_fid, rel=TOLERANCE)
    read = clinception.fid_stats(fid_case["a_npz"])
    np.testing.assert_array_equal(read[0], pytorch_fid_stats(fid_case, "a")[0])
    pair = clinception.fid_stats(fid_case["b"], weights=fid_model)
    mixed = clinception.fid(fid_case["a_npz"], pair)
    assert mixed == pytest.approx(reference_fid, rel=TOLERANCE)


def test_fid_errors(fid_case, fid_model, random_model, tmp_path):
    with pytest.raises(ValueError, match="dims"):
        clinception.fid(fid_case["a_npz"], fid_case["b_npz"], dims=100)
    with pytest.raises(ValueError, match="weights"):
        clinception.fid(fid_case["a"], fid_case["b_npz"])
    with pytest.raises(ValueError, match="fid"):
        clinception.fid(fid_case["a"], fid_case["b_npz"], weights=random_model)
    broken = tmp_path / "broken.npz"
    broken.write_bytes(b"PK\x03\x04 not a zip")
    with pytest.raises(clinception.Error, match="broken.npz"):
        clinception.fid(broken, fid_case["b_npz"])
    # statistics of another width
    small = clinception.fid_stats(fid_case["b"], weights=fid_model, dims=64)
    with pytest.raises(clinception.Error):
        clinception.fid(fid_case["a_npz"], small)
    # an image that cannot be read: named, or left out
    images = sorted(fid_case["b"].iterdir())
    (tmp_path / "broken.png").write_bytes(b"junk")
    with pytest.raises(clinception.Error, match="broken.png"):
        clinception.fid_stats(images + [tmp_path / "broken.png"], weights=fid_model, dims=64)
    with pytest.warns(RuntimeWarning, match="broken.png"):
        skipped = clinception.fid_stats(images + [tmp_path / "broken.png"], weights=fid_model, dims=64, errors="skip")
    np.testing.assert_allclose(skipped[0], small[0], rtol=1e-6)
    # fewer than two images have no covariance
    with pytest.raises(clinception.Error):
        clinception.fid_stats(images[:1], weights=fid_model, dims=64)
