"""OBIA candidates on a seeded synthetic pre/post pair whose answer is known."""

import numpy as np
import pytest

from landslide4sense.acquisition.demo import FIELD_BARE, GRAVEL, SCAR
from landslide4sense.annotation import band_files, make_candidates, rasterize_labels
from landslide4sense.errors import MissingInputError
from landslide4sense.regions import parse_region
from tests.helpers import OBIA_REGION


@pytest.mark.parametrize("algorithm", ["slic", "felzenszwalb"])
def test_candidates_recover_scars_and_reject_distractors(pair, algorithm):
    root, grid, slope, classes = pair
    region = parse_region({**OBIA_REGION, "annotation": {"segmentation": {"algorithm": algorithm}}})
    gdf = make_candidates(
        region, grid, band_files(root / "pre" / "obia"), band_files(root / "post" / "obia"), slope
    )
    pred = rasterize_labels(gdf.geometry.values, grid.transform, (grid.height, grid.width)) > 0
    scar, field, gravel = classes == SCAR, classes == FIELD_BARE, classes == GRAVEL
    assert scar.sum() > 1000 and field.sum() > 1000 and gravel.sum() > 1000  # all present
    f1 = 2 * (pred & scar).sum() / (pred.sum() + scar.sum())
    assert f1 >= 0.8
    assert (pred & field).sum() / field.sum() < 0.01  # bright flat field: rejected (slope)
    assert (pred & gravel).sum() / gravel.sum() < 0.01  # gravel bar: bright in both dates
    assert list(gdf.columns) == [
        "cand_id",
        "d_ndvi",
        "d_brightness",
        "rel_ndvi_drop",
        "slope",
        "area_m2",
        "geometry",
    ]
    assert (gdf["d_ndvi"] <= -0.2).all() and (gdf["slope"] >= 12).all()
    assert (gdf["area_m2"] >= region.annotation.rules.min_area_m2).all()
    assert gdf.crs.to_string() == grid.crs and gdf.geometry.is_valid.all()


def test_missing_bands_are_listed(tmp_path):
    (tmp_path / "s2").mkdir()
    with pytest.raises(MissingInputError, match="B02, B03, B04, B08"):
        band_files(tmp_path)


def test_nothing_in_common_is_an_error(pair, tmp_path):
    root, grid, slope, _ = pair
    with pytest.raises(Exception, match="no pixel in common"):
        pre, post = band_files(root / "pre" / "obia"), band_files(root / "post" / "obia")
        make_candidates(parse_region(OBIA_REGION), grid, pre, post, np.full_like(slope, np.nan))
