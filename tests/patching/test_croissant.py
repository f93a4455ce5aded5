import hashlib
import json

import pandas as pd
import pytest

from landslide4sense.choices import Split
from landslide4sense.patching import assemble
from landslide4sense.patching.croissant import MANIFEST_COLUMNS, croissant
from tests.helpers import two_regions

mlc = pytest.importorskip("mlcroissant", reason="mlcroissant validates croissant.json (dev)")


def test_croissant_validates_offline_and_yields_the_manifest_rows(tmp_path):
    out = tmp_path / "bench"
    meta = assemble(out, two_regions(tmp_path), "raw", figures=False)
    manifest = out / "manifest.csv"
    sha = hashlib.sha256(manifest.read_bytes()).hexdigest()
    doc = croissant(
        meta, sha, "https://spdx.org/licenses/CC-BY-4.0.html", [Split.TRAIN, Split.TEST]
    )
    path = out / "croissant.json"
    path.write_text(json.dumps(doc))

    dataset = mlc.Dataset(jsonld=str(path))  # raises mlc.ValidationError on any error
    issues = dataset.metadata.ctx.issues
    assert not issues.errors and not issues.warnings
    assert dataset.metadata.version == f"1.0.0+{meta.version}"

    rows = pd.read_csv(manifest)
    records = list(dataset.records("patches"))
    assert len(records) == len(rows) == 8
    first = records[0]
    assert first["patches/id"] == b"train_1" and first["patches/tile_col"] == 0
    assert first["patches/landslide_fraction"] == rows["landslide_fraction"][0]
    assert set(MANIFEST_COLUMNS) == set(rows.columns)  # every column is described
    splits = {r["splits/name"]: r["splits/url"] for r in dataset.records("splits")}
    assert splits == {"train": "cr:TrainingSplit", "test": "cr:TestSplit"}


def test_a_missing_checksum_is_an_error(tmp_path):
    meta = assemble(tmp_path / "bench", two_regions(tmp_path), "raw", figures=False)
    doc = croissant(meta, "", "https://spdx.org/licenses/CC-BY-4.0.html", [Split.TRAIN])
    del doc["distribution"][0]["sha256"]
    (tmp_path / "croissant.json").write_text(json.dumps(doc))
    with pytest.raises(mlc.ValidationError, match="sha256"):
        mlc.Dataset(jsonld=str(tmp_path / "croissant.json"))
