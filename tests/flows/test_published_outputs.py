"""What a build publishes for other tools, on the demo regions in the with-valid layout:
TorchGeo's three splits and the original loader (by their rules), the patch index, the STAC
Collection, Croissant, the card's header, portable provenance, and the Prefect UI's view."""

import hashlib
import json
import os
from pathlib import Path

import geopandas as gpd
import numpy as np
import pystac
import pytest
import yaml

from landslide4sense.acquisition.demo import write_demo_inputs
from landslide4sense.files import read_json
from landslide4sense.flows.build import build_benchmark
from tests.readers import (
    original_loader_files,
    original_loader_sample,
    torchgeo_sample,
    torchgeo_samples,
)

pytestmark = pytest.mark.usefixtures("prefect_harness")


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """The demo built with ValidData; the first and the second (unchanged) flow runs."""
    root = tmp_path_factory.mktemp("published")
    regions, raw = write_demo_inputs(root)
    out = root / "bench"
    runs = [
        build_benchmark(regions=regions, out=out, raw=raw, valid=True, return_state=True)
        for _ in range(2)
    ]
    return root, out, runs


def digests(files) -> set[str]:
    return {hashlib.sha256(Path(f).read_bytes()).hexdigest() for f in files}


def test_torchgeo_loads_three_splits_and_validation_is_not_in_training(built):
    _, out, _ = built
    meta = read_json(out / "dataset.json")
    samples = {s: torchgeo_samples(out, s) for s in ("train", "val", "test")}
    assert {s: len(v) for s, v in samples.items()} == {
        s: meta["counts"][s] for s in ("train", "val", "test")
    }
    # demo-hills 100 tiles: 25 train of which 3 validate; demo-valley 64: 16 of which 2
    assert meta["counts"]["regions"]["demo-hills"] == {"train": 22, "val": 3, "test": 75}
    assert meta["counts"]["regions"]["demo-valley"] == {"train": 14, "val": 2, "test": 48}
    sample = torchgeo_sample(*samples["train"][0])
    assert sample["image"].shape == (14, 128, 128) and sample["mask"].shape == (1, 128, 128)
    assert torchgeo_sample(*samples["val"][0]).keys() == {"image"}
    images = {s: digests(img for img, _ in v) for s, v in samples.items()}
    assert not images["val"] & images["train"] and not images["val"] & images["test"]
    # The statistics in dataset.json are those of TrainData alone (validation held out).
    stack = np.stack([torchgeo_sample(*s)["image"] for s in samples["train"]])
    mean = stack.mean(axis=(0, 2, 3), dtype=np.float64)
    np.testing.assert_allclose(mean, meta["train_mean"], rtol=1e-5)


def test_the_original_loader_finds_every_file_of_its_list(built):
    _, out, _ = built
    meta = read_json(out / "dataset.json")
    for split, folder in (("train", "TrainData"), ("val", "ValidData"), ("test", "TestData")):
        lines = [f"{folder}/img/image_{i}.h5\n" for i in range(1, meta["counts"][split] + 1)]
        files = original_loader_files(f"{out}/", lines)
        assert all(os.path.exists(img) and os.path.exists(lab) for img, lab in files)
    image, label = original_loader_sample(*files[-1])
    assert image.shape == (14, 128, 128) and set(np.unique(label)) <= {0.0, 1.0}
    # Given our statistics (the card's advice), it standardises the training split exactly.
    lines = [f"TrainData/img/image_{i}.h5" for i in range(1, meta["counts"]["train"] + 1)]
    train = np.stack(
        [original_loader_sample(*f)[0] for f in original_loader_files(f"{out}/", lines)]
    )
    mean = np.array(meta["train_mean"])[None, :, None, None]
    std = np.array(meta["train_std"])[None, :, None, None]
    z = (train - mean) / std
    np.testing.assert_allclose(z.mean(axis=(0, 2, 3)), 0, atol=1e-4)
    np.testing.assert_allclose(z.std(axis=(0, 2, 3)), 1, atol=1e-3)


def test_index_stac_and_croissant_describe_the_same_patches(built):
    _, out, _ = built
    manifest = gpd.pd.read_csv(out / "manifest.csv")
    index = gpd.read_parquet(out / "patches.parquet")
    assert index.crs == "EPSG:4326" and list(index["id"]) == list(manifest["id"])
    assert set(index["crs"]) == {"EPSG:32653", "EPSG:32654"}  # two UTM zones, one layer
    assert read_json(out / "dataset.json")["split_overlaps"] == []
    collection = pystac.Collection.from_file(str(out / "stac" / "collection.json"))
    items = list(collection.get_items())
    assert len(items) == len(manifest)
    assert {i.properties["ml-aoi:split"] for i in items} == {"train", "validate", "test"}
    assert all(Path(i.assets["image"].get_absolute_href()).exists() for i in items[:5])
    mlc = pytest.importorskip("mlcroissant")
    dataset = mlc.Dataset(jsonld=str(out / "croissant.json"))
    assert not dataset.metadata.ctx.issues.errors and not dataset.metadata.ctx.issues.warnings
    assert len(list(dataset.records("patches"))) == len(manifest)


def test_the_browser_footprints_and_hub_card_cover_every_patch(built):
    import pyogrio

    _, out, _ = built
    manifest = gpd.pd.read_csv(out / "manifest.csv")
    page = (out / "browse" / "patches.js").read_text()
    data = json.loads(page.split("=", 1)[1].rstrip(";\n"))
    folders = {"train": "TrainData", "val": "ValidData", "test": "TestData"}
    splits, numbers = manifest["split"], manifest["index"]
    expected = [f"{folders[s]}/{n}" for s, n in zip(splits, numbers, strict=True)]
    assert data["keys"] == expected and len(expected) == 164
    assert data["version"] == read_json(out / "dataset.json")["version"]
    assert len(data["figures"]) == 3 and all((out / "browse" / f).exists() for f in data["figures"])
    sheets = data["thumbs"]["sheets"] + data["strips"]["sheets"]
    assert all((out / "browse" / s).exists() for s in sheets) and len(sheets) == 4  # 1 + 3
    info = pyogrio.read_info(out / "patches.gpkg", layer="patches")
    assert info["features"] == 164 and info["crs"] == "EPSG:4326"
    assert (out / "README.md").read_text() == (out / "card.md").read_text()


def test_the_card_header_parses_and_nothing_names_the_builders_paths(built):
    root, out, _ = built
    card = (out / "card.md").read_text()
    header = yaml.safe_load(card.split("---\n")[1])
    assert header["license"] == "cc-by-4.0" and header["task_ids"] == ["semantic-segmentation"]
    assert "## How to use it" in card and "times as many in the" in card  # uneven shares
    forbidden = {str(root.resolve()), str(Path.cwd().resolve()), str(Path.home())}
    for path in out.rglob("*"):
        if path.is_file() and ".l4s" not in path.relative_to(out).parts:
            data = path.read_bytes()
            for prefix in forbidden:
                assert prefix.encode() not in data, f"{path.relative_to(out)} names {prefix}"
    regions = read_json(out / "dataset.json")["regions"]
    assert regions[0]["labels"]["source"] == "RAW/demo-hills/labels.gpkg"
    assert regions[0]["details"]["raw"] == "RAW/demo-hills"


def test_prefect_shows_the_card_counts_and_cached_stages(built):
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import (
        ArtifactFilter,
        ArtifactFilterFlowRunId,
        ArtifactFilterKey,
        FlowRunFilter,
        FlowRunFilterId,
    )

    *_, (first, second) = built
    with get_client(sync_client=True) as client:
        arts = {  # those of the second run (other tests publish under the same keys)
            a.key: a
            for a in client.read_artifacts(
                artifact_filter=ArtifactFilter(
                    key=ArtifactFilterKey(any_=["dataset-card", "dataset-counts"]),
                    flow_run_id=ArtifactFilterFlowRunId(any_=[second.state_details.flow_run_id]),
                )
            )
        }
        runs = []
        for state in (first, second):
            states: dict[str, set[str]] = {}
            for t in client.read_task_runs(
                flow_run_filter=FlowRunFilter(
                    id=FlowRunFilterId(any_=[state.state_details.flow_run_id])
                )
            ):
                states.setdefault(t.name.rsplit("-", 1)[0], set()).add(t.state.name)
            runs.append(states)
    assert "## How to use it" in arts["dataset-card"].data
    table = json.loads(arts["dataset-counts"].data)
    assert {"region": "all", "train": 36, "val": 5, "test": 123} in table
    for stage in ("make_terrain", "make_labels", "cut_regions"):  # skipped: inputs unchanged
        assert runs[0][stage] == {"Completed"} and runs[1][stage] == {"Cached"}, stage


def test_add_region_keeps_the_benchmarks_layout(built):
    from landslide4sense.errors import ConfigError
    from landslide4sense.flows.build import add_region

    root, out, _ = built
    before = (out / "dataset.json").read_bytes()
    with pytest.raises(ConfigError, match="with-valid layout, not release; leave --valid"):
        add_region(
            region=root / "regions" / "demo-hills.yaml", out=out, raw=root / "raw", valid=False
        )
    assert (out / "dataset.json").read_bytes() == before  # nothing published
