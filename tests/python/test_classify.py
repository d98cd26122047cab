"""Model.classify: torchvision's classes for the sample photos (its own
preprocessing and forward, tools/make_reference.py --image), the structure of
the results, labels, folders and images that cannot be read."""

import json
import shutil

import numpy as np
import pytest
import torchvision.models._meta

import clinception
from conftest import DEVICE, run_tool


@pytest.fixture(scope="module")
def photos_model(photos_reference):
    with clinception.Model(photos_reference.weights, device=DEVICE) as model:
        yield model


def softmax(logits):
    e = np.exp(logits - logits.max())
    return e / e.sum()


def test_classify_agrees_with_torchvision(photos_model, photos_reference, photos, repo, tmp_path):
    results = photos_model.classify([str(p) for p in photos], top=5, batch=2)
    assert [r["image"] for r in results] == [str(p) for p in photos]
    # tools/compare_classify.py checks them as it checks `clinception classify --json`:
    # torchvision's top-1 class, and at least 4 of its top 5
    lines = tmp_path / "ours.jsonl"
    lines.write_text("".join(json.dumps(r) + "\n" for r in results))
    arguments = [photos_reference.folder / "logits.npy", lines]
    for photo in photos:
        arguments += ["--image", photo]
    run_tool(repo, "compare_classify.py", *arguments)

    names = torchvision.models._meta._IMAGENET_CATEGORIES
    for result, logits in zip(results, photos_reference.logits):
        assert set(result) == {"image", "top"}
        top = result["top"]
        assert len(top) == 5
        probs = [t["prob"] for t in top]
        assert probs == sorted(probs, reverse=True)
        for t in top:
            assert set(t) == {"class", "label", "prob"}
            assert isinstance(t["class"], int) and isinstance(t["label"], str) and isinstance(t["prob"], float)
            assert t["label"] == names[t["class"]]
        # the softmax probability of torchvision's logits
        assert top[0]["prob"] == pytest.approx(softmax(logits)[top[0]["class"]], rel=1e-3)


def test_probabilities_cover_every_class(photos_model, photos):
    (result,) = photos_model.classify(photos[0], top=5000)
    assert len(result["top"]) == 1000
    assert sum(t["prob"] for t in result["top"]) == pytest.approx(1.0, abs=1e-6)


def test_folders_and_broken_images(photos_model, photos, tmp_path):
    """A folder tree in sorted path order; a broken file, a truncated one and
    a missing one named in the error, or reported in place."""
    tree = tmp_path / "tree"
    (tree / "b" / "c").mkdir(parents=True)
    shutil.copy(photos[0], tree / "a_cat.png")
    shutil.copy(photos[1], tree / "b" / "coffee.jpg")
    (tree / "b" / "broken.jpg").write_bytes(b"junk")
    (tree / "b" / "c" / "truncated.png").write_bytes(photos[0].read_bytes()[:3000])
    (tree / "notes.txt").write_text("not an image")
    missing = tmp_path / "missing.png"

    with pytest.raises(clinception.Error) as caught:
        photos_model.classify([tree, missing])
    message = str(caught.value)
    for name in ("broken.jpg", "truncated.png", "missing.png"):
        assert name in message
    assert "a_cat.png" not in message
    assert sorted(path for path, _ in caught.value.failures) == sorted(
        [str(tree / "b" / "broken.jpg"), str(tree / "b" / "c" / "truncated.png"), str(missing)]
    )

    results = photos_model.classify([tree, missing], top=1, errors="report")
    expected = [tree / "a_cat.png", tree / "b" / "broken.jpg", tree / "b" / "c" / "truncated.png",
                tree / "b" / "coffee.jpg", missing]  # fmt: skip
    assert [r["image"] for r in results] == [str(p) for p in expected]
    assert [("error" in r) for r in results] == [False, True, True, False, True]
    good = photos_model.classify([photos[0], photos[1]], top=1)
    assert results[0]["top"] == good[0]["top"] and results[3]["top"] == good[1]["top"]
    (only,) = photos_model.classify(tree / "b" / "c", errors="report")
    assert only["image"] == str(tree / "b" / "c" / "truncated.png") and only["error"]


def test_labels_of_a_fine_tuned_head(fine_tuned_reference, photos):
    with clinception.Model(fine_tuned_reference.weights, device=DEVICE) as model:
        (indexed,) = model.classify(photos[0], top=3)
        assert all(t["label"] == str(t["class"]) for t in indexed["top"])
        names = ["chat", "café", "宇宙", "d", "e", "f", "g"]
        (named,) = model.classify(photos[0], top=3, labels=names)
        assert [t["class"] for t in named["top"]] == [t["class"] for t in indexed["top"]]
        assert all(t["label"] == names[t["class"]] for t in named["top"])
        with pytest.raises(ValueError, match="labels"):
            model.classify(photos[0], labels=names[:6])


def test_classify_arguments(random_model, photos, tmp_path):
    with pytest.raises(ValueError, match="top"):
        random_model.classify(photos[0], top=0)
    with pytest.raises(ValueError, match="errors"):
        random_model.classify(photos[0], errors="ignore")
    empty = tmp_path / "empty"
    empty.mkdir()
    assert random_model.classify(empty) == []
