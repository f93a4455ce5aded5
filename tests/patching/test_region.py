from pathlib import Path

import numpy as np
import pytest
import rasterio
from affine import Affine
from shapely.geometry import box

from landslide4sense.errors import EmptyResultError
from landslide4sense.geo import Grid
from landslide4sense.patching import (
    RegionJob,
    collect_tiles,
    cut_blocks,
    patch_rows,
    read_image,
    read_mask,
)
from landslide4sense.records import DropCounts
from tests.helpers import RELEASE_DIVISORS, known_job, write_raster

GRID = Grid("EPSG:32633", Affine(10, 0, 500000, 0, -10, 4000000), 300, 260)  # 2 x 2 whole tiles


def make_job(tmp_path, scaling="raw", aoi=None, hole=True) -> RegionJob:
    return known_job(tmp_path, GRID, scaling=scaling, aoi=aoi, hole=(200, 200) if hole else None)


def cut(job):
    for a, b in job.blocks():
        patch_rows(job, a, b)
    return collect_tiles(job)


def test_tiles_patches_and_dropped_counts(tmp_path):
    job = make_job(tmp_path)
    tiles = cut(job)
    assert [(t.row, t.col) for t in tiles.tiles] == [(0, 0), (0, 1), (1, 0)]
    assert tiles.dropped == DropCounts(nodata=1, outside_aoi=0)
    img = read_image(job.patch_paths(0, 1)[0])
    assert img.shape == (128, 128, 14) and img.dtype == np.float32
    assert np.array_equal(img[5, 7, :12], 100 * np.arange(1, 13, dtype=np.float32))
    assert np.allclose(img[..., 12], 12) and np.allclose(img[..., 13], 800)
    mask = read_mask(job.patch_paths(0, 1)[1])
    assert mask.dtype == np.uint8 and mask.shape == (128, 128)
    assert mask.sum() == 100 and mask[10:20, 12:22].all()
    assert tiles.tiles[1].landslide_px == 100 and tiles.tiles[0].landslide_px == 0
    assert tiles.tiles[0].sum[0] == pytest.approx(100 * 128 * 128)
    assert tiles.tiles[0].bounds == (500000, 3998720, 501280, 4000000)


def test_l4s_scaling_divides_by_the_constants(tmp_path):
    job = make_job(tmp_path, scaling="l4s")
    cut(job)
    img = read_image(job.patch_paths(0, 0)[0])
    expected = np.r_[100 * np.arange(1, 13), 12, 800] / RELEASE_DIVISORS
    assert np.allclose(img[64, 64], expected, rtol=1e-6)


def test_tiles_outside_the_aoi_are_dropped(tmp_path):
    left, _, _, top = GRID.bounds
    job = make_job(tmp_path, aoi=box(left, top - 500, left + 500, top), hole=False)
    tiles = cut(job)
    assert [(t.row, t.col) for t in tiles.tiles] == [(0, 0)]
    assert tiles.dropped == DropCounts(nodata=0, outside_aoi=3)


def test_done_blocks_are_skipped_and_results_are_deterministic(tmp_path):
    job = make_job(tmp_path)
    index = patch_rows(job, 0, 1)
    first = index.read_bytes(), job.patch_paths(0, 0)[0].read_bytes()
    stamp = index.stat().st_mtime_ns
    assert patch_rows(job, 0, 1) == index and index.stat().st_mtime_ns == stamp
    index.unlink()
    patch_rows(job, 0, 1)
    assert (index.read_bytes(), job.patch_paths(0, 0)[0].read_bytes()) == first


def test_unfinished_blocks_and_empty_regions(tmp_path):
    job = make_job(tmp_path)
    with pytest.raises(FileNotFoundError):
        collect_tiles(job)
    empty = make_job(tmp_path / "e", aoi=box(0, 0, 1, 1))
    with pytest.raises(EmptyResultError, match="none of its 4 tiles is valid"):
        cut(empty)


def test_job_round_trips(tmp_path):
    job = make_job(tmp_path)
    assert RegionJob.load(job.save(tmp_path / "job.json")) == job
    assert job.blocks() == [(0, 1), (1, 2)]


def noisy_job(folder: Path) -> RegionJob:
    """3 x 3 tiles (3 blocks) of seeded noise in every band, one pixel missing."""
    grid = Grid("EPSG:32633", Affine(10, 0, 500000, 0, -10, 4000000), 400, 390)
    job = known_job(folder, grid, scaling="l4s")
    rng = np.random.default_rng(5)
    for path in job.bands.values():
        noise = rng.integers(1, 5000, (grid.height, grid.width), dtype=np.uint16)
        noise[300, 20] = 0 if path.endswith("B07.tif") else noise[300, 20]
        write_raster(Path(path), noise, grid.crs, grid.transform)
    return job


def files(folder: Path) -> dict:
    return {p.relative_to(folder): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


def test_processes_cut_the_same_bytes_as_one_process(tmp_path):
    one = noisy_job(tmp_path)
    two = one.model_copy(update={"work": str(tmp_path / "work-2")})
    cut_blocks([(one, a, b) for a, b in one.blocks()], processes=1)
    seen = []
    indexes = cut_blocks(
        [(two, a, b) for a, b in two.blocks()],
        processes=2,
        progress=lambda done, total: seen.append((done, total)),
    )
    assert indexes == [two.index_path(a, b) for a, b in two.blocks()]
    assert seen == [(1, 3), (2, 3), (3, 3)]
    ours = files(Path(two.work))
    assert ours == files(Path(one.work))
    assert len([p for p in ours if p.parent.name == "img"]) == 8  # one tile has a missing pixel
    assert {p.parts[0] for p in ours} == {"rows_0000_0001", "rows_0001_0002", "rows_0002_0003"}
    stamps = [i.stat().st_mtime_ns for i in indexes]
    cut_blocks([(two, a, b) for a, b in two.blocks()], processes=2)  # done: nothing recut
    assert [i.stat().st_mtime_ns for i in indexes] == stamps


def test_a_failing_block_leaves_no_block_behind(tmp_path):
    job = noisy_job(tmp_path)
    Path(job.bands["B05"]).write_bytes(b"not a GeoTIFF")
    with pytest.raises(rasterio.errors.RasterioIOError, match="B05"):
        cut_blocks([(job, a, b) for a, b in job.blocks()], processes=2)
    assert not Path(job.work).exists() or not any(Path(job.work).iterdir())
