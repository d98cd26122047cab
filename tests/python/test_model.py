"""Model: logits and features against torchvision's float64 forward of the same
weights (tools/make_reference.py), on one device and on two, and the errors."""

import os
import subprocess
import sys

import numpy as np
import pytest

import clinception
from conftest import DEVICE, relative_l2

TOLERANCE = 1e-4  # relative L2, as the C end-to-end tests


@pytest.fixture(scope="module")
def random_weights_model(random_reference):
    with clinception.Model(random_reference.weights, device=DEVICE) as model:
        yield model


def test_forward_matches_torchvision(random_weights_model, random_reference):
    logits = random_weights_model.forward(random_reference.input)
    assert logits.dtype == np.float32 and logits.shape == (2, 1000)
    assert random_weights_model.num_classes == 1000
    assert relative_l2(logits, random_reference.logits) <= TOLERANCE


def test_forward_takes_any_array_like(random_weights_model, random_reference):
    """float64, non-contiguous and nested lists become the same float32 batch."""
    x = random_reference.input
    reference = random_reference.logits[:1]
    as_float64 = random_weights_model.forward(x[:1].astype(np.float64))
    assert relative_l2(as_float64, reference) <= TOLERANCE
    transposed = np.ascontiguousarray(x[:1].transpose(0, 1, 3, 2)).transpose(0, 1, 3, 2)
    assert not transposed.flags.c_contiguous
    assert relative_l2(random_weights_model.forward(transposed), reference) <= TOLERANCE
    assert relative_l2(random_weights_model.forward(x[:1].tolist()), reference) <= TOLERANCE


@pytest.mark.parametrize("layer", ["avgpool", "Mixed_6e"])
def test_features_match_torchvision(random_weights_model, random_reference, layer):
    features = random_weights_model.features(random_reference.input, layer)
    reference = random_reference.features(layer)
    assert features.dtype == np.float32
    assert features.shape == reference.shape  # (2, 2048) and (2, 768, 4, 5)
    assert features.shape[1:] == random_weights_model.feature_shape(layer, 91, 107)
    assert relative_l2(features, reference) <= TOLERANCE


def test_fc_features_are_the_logits(random_weights_model, random_reference):
    fc = random_weights_model.features(random_reference.input, "fc")
    assert fc.shape == (2, 1000)
    assert relative_l2(fc, random_reference.logits) <= TOLERANCE


def test_fine_tuned_head_with_transform_input(fine_tuned_reference):
    with clinception.Model(fine_tuned_reference.weights, device=DEVICE) as model:
        assert model.num_classes == 7
        logits = model.forward(fine_tuned_reference.input, transform_input=True)
        assert logits.shape == (2, 7)
        assert relative_l2(logits, fine_tuned_reference.logits) <= TOLERANCE
        # without the transform the model is another function
        assert relative_l2(model.forward(fine_tuned_reference.input), fine_tuned_reference.logits) > 1e-2
        pooled = model.features(fine_tuned_reference.input, "maxpool1", transform_input=True)
        assert pooled.ndim == 4
        assert relative_l2(pooled, fine_tuned_reference.features("maxpool1")) <= TOLERANCE


def test_fid_inception_matches_pytorch_fid(fid_case):
    reference = fid_case["reference"]
    with clinception.Model(reference.weights, network="fid", device=DEVICE) as model:
        assert model.num_classes == 1008 and model.network == "fid"
        logits = model.forward(reference.input)
        assert relative_l2(logits, reference.logits) <= TOLERANCE
        # the same file as Inception v3 runs other pool branches
        with clinception.Model(reference.weights, device=DEVICE) as other:
            assert relative_l2(other.forward(reference.input), reference.logits) > 10 * TOLERANCE


def test_two_devices_match_torchvision(random_reference, tmp_path):
    """device="all" over two PoCL devices: a model on each, the batch split
    between them, the logits as torchvision's."""
    script = (
        "import sys, numpy as np, clinception\n"
        "with clinception.Model(sys.argv[1], device='all') as m:\n"
        "    assert len(m.devices) == 2, m.devices\n"
        "    np.save(sys.argv[3], m.forward(np.load(sys.argv[2])))\n"
    )
    out = tmp_path / "logits.npy"
    env = dict(os.environ, POCL_DEVICES="pthread pthread")
    env.pop("CLINCEPTION_DEVICE", None)
    result = subprocess.run(
        [sys.executable, "-c", script, str(random_reference.weights), str(random_reference.folder / "input.npy"),
         str(out)],
        env=env, capture_output=True, text=True, cwd=tmp_path,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert relative_l2(np.load(out), random_reference.logits) <= TOLERANCE


def test_seeded_random_weights_are_reproducible(random_model):
    x = np.random.default_rng(3).standard_normal((1, 3, 75, 80)).astype(np.float32)
    with clinception.Model(seed=1, device=DEVICE) as same, clinception.Model(seed=2, device=DEVICE) as other:
        np.testing.assert_array_equal(same.forward(x), random_model.forward(x))
        assert not np.array_equal(other.forward(x), random_model.forward(x))


# ---- errors ---------------------------------------------------------------


def test_malformed_weights_file_is_named(tmp_path):
    broken = tmp_path / "broken.safetensors"
    broken.write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{not json at all")
    with pytest.raises(clinception.Error) as caught:
        clinception.Model(broken, device=DEVICE)
    assert str(broken) in str(caught.value)
    assert caught.value.status == "CLN_ERR_FORMAT"


def test_missing_weights_file_is_named(tmp_path):
    missing = tmp_path / "missing.safetensors"
    with pytest.raises(clinception.Error, match="missing.safetensors") as caught:
        clinception.Model(missing, device=DEVICE)
    assert caught.value.status == "CLN_ERR_IO"


def test_random_weights_need_a_seed():
    with pytest.raises(ValueError, match="seed"):
        clinception.Model(device=DEVICE)
    with pytest.raises(ValueError, match="seed"):
        clinception.Model(seed=-1, device=DEVICE)


def test_unknown_network_names_the_networks():
    with pytest.raises(clinception.Error, match="inception_v3") as caught:
        clinception.Model(seed=1, network="resnet50", device=DEVICE)
    assert "fid" in str(caught.value) and "resnet50" in str(caught.value)


def test_unknown_device():
    with pytest.raises(clinception.Error, match="no-such-device"):
        clinception.Model(seed=1, device="no-such-device")


@pytest.mark.parametrize(
    "shape, words",
    [((3, 80, 80), "shape"), ((1, 4, 80, 80), "shape"), ((1, 3, 74, 80), "75"), ((0, 3, 80, 80), "no image")],
)
def test_bad_input_shapes(random_model, shape, words):
    with pytest.raises(ValueError, match=words):
        random_model.forward(np.zeros(shape, dtype=np.float32))


def test_unknown_layer_lists_the_layers(random_model):
    with pytest.raises(clinception.Error, match="Mixed_6e"):
        random_model.features(np.zeros((1, 3, 80, 80), dtype=np.float32), "Mixed_9z")


def test_closed_model_refuses_to_run():
    model = clinception.Model(seed=1, device=DEVICE)
    model.close()
    model.close()  # a second close does nothing
    with pytest.raises(clinception.Error, match="closed"):
        model.forward(np.zeros((1, 3, 80, 80), dtype=np.float32))
