"""Fixtures of the annotation tests."""

import pytest

from landslide4sense.acquisition.demo import synthesize_scene
from landslide4sense.geo import read_on_grid, write_terrain
from landslide4sense.regions import parse_region, region_grid
from tests.helpers import OBIA_REGION


@pytest.fixture(scope="session")
def pair(tmp_path_factory):
    """Same terrain and cover (seed 4); post adds bare scars on steep slopes and bares the
    fields; a bright gravel river bed is there in both."""
    root = tmp_path_factory.mktemp("pair")
    grid = region_grid(parse_region(OBIA_REGION))
    for variant in ("pre", "post"):
        synthesize_scene(root / variant, "obia", grid, seed=4, variant=variant, margin=300.0)
    _, slope = write_terrain(root / "post" / "obia" / "dem.tif", grid, root / "terrain")
    classes = read_on_grid(root / "post" / "obia" / "classes.tif", grid)
    return root, grid, read_on_grid(slope, grid), classes
