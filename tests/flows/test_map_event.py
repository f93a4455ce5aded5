"""Applying a checkpoint to a region: `l4s predict` (the map-event flow) and model candidates.

On a 3 km x 3 km part of the demo region: its benchmark is built, a model is trained briefly,
then applied to the region. The answers known exactly: the model sees, at every tile, the very
patch the benchmark holds (same stack code, same scaling, the checkpoint's standardisation);
the probability COG lies on the region grid; the polygons are exactly the pixels at or above
the threshold; every candidate says which source proposed it.
"""

import geopandas as gpd
import numpy as np
import pytest
import rasterio
import yaml

from landslide4sense.acquisition.demo import write_demo_inputs
from landslide4sense.annotation import rasterize_labels
from landslide4sense.annotation.corrections import agreement
from landslide4sense.errors import InputDataError
from landslide4sense.files import read_json
from landslide4sense.flows.build import build_benchmark
from landslide4sense.flows.cli import main
from landslide4sense.flows.mapping import map_event
from landslide4sense.geo import GridStack, write_terrain
from landslide4sense.layout import PATCH_SIZE, S2_BANDS
from landslide4sense.regions import load_region, region_grid
from landslide4sense.training import TrainConfig, load_benchmark, train_model
from landslide4sense.training.checkpoint import load
from landslide4sense.training.predict import Blender, model_inputs, predict_region

pytestmark = pytest.mark.usefixtures("prefect_harness")


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    root = tmp_path_factory.mktemp("predict")
    regions, raw = write_demo_inputs(root / "demo")
    spec = yaml.safe_load((regions / "demo-hills.yaml").read_text())
    spec["aoi"] = {"bbox": [138.15, 36.24, 138.185, 36.268]}  # about 3 km a side
    region = root / "small" / "demo-hills.yaml"  # same name: reads RAW/demo-hills
    region.parent.mkdir()
    region.write_text(yaml.safe_dump(spec))
    bench = root / "bench"
    build_benchmark(regions=region, out=bench, raw=raw)
    cfg = TrainConfig(iterations=2, batch_size=2, eval_every=2, device="cpu")
    train_model("ContextNet", load_benchmark(bench), cfg, root / "model")
    return {"region": region, "raw": raw, "bench": bench, "checkpoint": root / "model" / "best.pt"}


def band_paths(raw):
    return {b: raw / "demo-hills" / "s2" / f"{b}.tif" for b in S2_BANDS}


def test_the_model_sees_the_benchmarks_own_patches(trained, tmp_path):
    grid = region_grid(load_region(trained["region"]))
    dem, slope = write_terrain(trained["raw"] / "demo-hills" / "dem.tif", grid, tmp_path)
    data = load_benchmark(trained["bench"])
    info = load(trained["checkpoint"])["info"]
    tiles = {
        (int(r["tile_row"]) * PATCH_SIZE, int(r["tile_col"]) * PATCH_SIZE): int(r["index"])
        for r in _manifest(trained["bench"])
        if r["split"] == "test"
    }
    assert len(tiles) >= 2
    blender = Blender(grid.height, grid.width, PATCH_SIZE, PATCH_SIZE // 2)
    seen = 0
    with GridStack(grid, band_paths(trained["raw"]), slope, dem) as stack:
        for k, windows, _ in model_inputs(stack, info, blender):
            for j, col in enumerate(blender.cols):
                if (blender.rows[k], col) in tiles:
                    patch = data.test.read([tiles[(blender.rows[k], col)] - 1])[0]
                    assert np.allclose(windows[j], patch, atol=1e-5)
                    seen += 1
    assert seen == len(tiles)


def _manifest(bench):
    import csv

    with (bench / "manifest.csv").open() as f:
        return list(csv.DictReader(f))


def test_l4s_predict_writes_a_cog_on_the_region_grid_and_polygons(trained, tmp_path, capsys):
    out = tmp_path / "map"
    code = main(
        [
            "predict",
            str(trained["checkpoint"]),
            str(trained["region"]),
            "--source",
            "local",
            "--raw",
            str(trained["raw"]),
            "--out",
            str(out),
            "--device",
            "cpu",
        ]
    )
    assert code == 0
    printed = capsys.readouterr().out
    assert "landslide polygons" in printed and "by ContextNet" in printed
    grid = region_grid(load_region(trained["region"]))
    with rasterio.open(out / "probability.tif") as src:
        assert src.tags(ns="IMAGE_STRUCTURE")["LAYOUT"] == "COG"
        assert (src.crs.to_string(), src.transform) == (grid.crs, grid.transform)
        assert (src.width, src.height, src.dtypes[0]) == (grid.width, grid.height, "float32")
        prob = src.read(1)
    assert np.isfinite(prob).all() and prob.min() >= 0 and prob.max() <= 1
    assert f"probability: {out / 'probability.tif'}" in printed
    assert gpd.read_file(out / "landslides.gpkg", layer="landslides").crs == grid.crs

    # The polygons are exactly the pixels at or above the threshold.
    threshold = float(np.quantile(prob, 0.8))
    terrain = next((out / ".l4s" / "demo-hills").glob("terrain-*"))
    p = predict_region(
        trained["checkpoint"],
        grid,
        band_paths(trained["raw"]),
        terrain / "slope.tif",
        terrain / "dem.tif",
        tmp_path / "again",
        device="cpu",
        threshold=threshold,
        min_area_m2=0,
    )
    with rasterio.open(p.probability) as src:
        assert np.array_equal(src.read(1), prob)  # the same run gives the same map
    burnt = rasterize_labels(p.landslides.geometry.values, grid.transform, prob.shape)
    assert np.array_equal(burnt.astype(bool), prob >= threshold)
    assert p.area_m2 == pytest.approx((prob >= threshold).sum() * 100.0)


def test_a_foreign_checkpoint_is_refused_before_any_work(trained, tmp_path, capsys):
    fake = tmp_path / "best.pt"
    fake.write_bytes(b"not a checkpoint")
    code = main(
        [
            "predict",
            str(fake),
            str(trained["region"]),
            "--raw",
            str(trained["raw"]),
            "--out",
            str(tmp_path / "map"),
        ]
    )
    err = capsys.readouterr().err
    assert code == 2 and "only checkpoints written by `l4s train`" in err
    with pytest.raises(InputDataError, match="only checkpoints written by `l4s train`"):
        map_event(
            checkpoint=fake, region=trained["region"], out=tmp_path / "map", raw=trained["raw"]
        )  # the flow checks too (deployments skip the CLI)
    assert not (tmp_path / "map").exists()


def test_candidates_from_a_model_beside_obia_say_their_source(trained, tmp_path, capsys):
    raw = trained["raw"] / "demo-hills"
    out = tmp_path / "labels.gpkg"
    # Threshold 0: the model calls every pixel a landslide, one polygon over the whole grid.
    code = main(
        [
            "annotate",
            "candidates",
            str(trained["region"]),
            "--pre",
            str(raw / "pre"),
            "--post",
            str(raw),
            "--dem",
            str(raw / "dem.tif"),
            "--out",
            str(out),
            "--from-model",
            str(trained["checkpoint"]),
            "--device",
            "cpu",
            "--threshold",
            "0",
        ]
    )
    assert code == 0
    cand = gpd.read_file(out, layer="candidates")
    model = cand[cand["source"] == "model:ContextNet"]
    obia = cand[cand["source"] == "obia"]
    assert len(model) == 1 and len(obia) >= 1 and len(cand) == len(model) + len(obia)
    assert list(cand["cand_id"]) == list(range(1, len(cand) + 1))
    grid = region_grid(load_region(trained["region"]))
    assert model.area.iloc[0] == pytest.approx(grid.width * grid.height * 100.0)
    assert model["probability"].between(0, 1).all() and obia["probability"].isna().all()
    assert obia["d_ndvi"].notna().all() and model["d_ndvi"].isna().all()
    assert f"({len(model)} model:ContextNet, {len(obia)} obia;" in capsys.readouterr().out

    assert main(["annotate", "merge", str(out)]) == 0
    by_source = agreement(out)["by_source"]
    assert {s: v["candidates"] for s, v in by_source.items()} == {
        "model:ContextNet": 1,
        "obia": len(obia),
    }
    # Uncorrected, the labels are the union of the candidates: the model's whole-grid polygon.
    assert by_source["model:ContextNet"]["iou"] == pytest.approx(1.0)
    assert 0 < by_source["obia"]["iou"] < 0.5
    assert main(["annotate", "report", str(out)]) == 0
    report = (tmp_path / "annotation_report.md").read_text()
    assert (
        f"| labels.gpkg | model:ContextNet | 1 | {by_source['model:ContextNet']['iou']:.3f}"
        in report
    )


def test_candidates_need_obia_or_a_model(trained, tmp_path, capsys):
    raw = trained["raw"] / "demo-hills"
    code = main(
        [
            "annotate",
            "candidates",
            str(trained["region"]),
            "--post",
            str(raw),
            "--dem",
            str(raw / "dem.tif"),
            "--out",
            str(tmp_path / "x.gpkg"),
        ]
    )
    assert code == 2 and "--pre (OBIA), --from-model CHECKPOINT, or both" in capsys.readouterr().err


def test_the_dataset_version_travels_with_the_checkpoint(trained):
    info = load(trained["checkpoint"])["info"]
    assert info.dataset_version == read_json(trained["bench"] / "dataset.json")["version"]


def test_the_map_event_deployment_entrypoint_loads():
    from pathlib import Path

    from prefect.flows import load_flow_from_entrypoint

    root = Path(__file__).resolve().parents[2]
    spec = next(
        d
        for d in yaml.safe_load((root / "prefect.yaml").read_text())["deployments"]
        if d["name"] == "map-event"
    )
    loaded = load_flow_from_entrypoint(str(root / spec["entrypoint"]))
    assert loaded.name == "map-event" and spec["work_pool"]["name"] == "gpu"
