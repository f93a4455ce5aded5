import pytest
from affine import Affine
from rasterio.warp import transform_bounds

from landslide4sense.errors import ConfigError
from landslide4sense.geo import Grid, snapped_grid, utm_crs
from landslide4sense.regions import parse_region, region_grid


def test_utm_zones():
    assert utm_crs(141.9, 42.7) == "EPSG:32654"  # Hokkaido
    assert utm_crs(75.7, 12.4) == "EPSG:32643"  # Kodagu
    assert utm_crs(-70.5, -33.4) == "EPSG:32719"  # southern hemisphere
    assert utm_crs(180.0, 10.0) == "EPSG:32660"


def test_region_grid_is_snapped_and_covers_the_aoi():
    bbox = (141.8, 42.65, 142.1, 42.85)
    region = parse_region(
        {
            "name": "g",
            "event": {"trigger": "earthquake", "date": "2018-09-06"},
            "aoi": {"bbox": list(bbox)},
            "imagery": {"start": "2018-09-10", "end": "2018-11-30"},
        }
    )
    g = region_grid(region)
    assert g.crs == "EPSG:32654"
    assert g.resolution == 10.0
    assert g.transform.c % 10 == 0 and g.transform.f % 10 == 0
    left, bottom, right, top = transform_bounds("EPSG:4326", g.crs, *bbox, densify_pts=21)
    gl, gb, gr, gt = g.bounds
    assert gl <= left and gb <= bottom and gr >= right and gt >= top
    assert gr - right < 10 and left - gl < 10  # the smallest such grid


def test_300_by_260_grid_gives_exactly_4_tiles():
    g = Grid("EPSG:32633", Affine(10, 0, 500000, 0, -10, 4000000), 300, 260)
    tiles = list(g.tile_windows())
    assert len(tiles) == 4
    assert [(r, c) for r, c, _ in tiles] == [(0, 0), (0, 1), (1, 0), (1, 1)]
    assert tiles[3][2].col_off == 128 and tiles[3][2].row_off == 128


def test_snapped_grid_and_window_bounds():
    g = snapped_grid("EPSG:32633", (500003, 3999001, 501277, 4000009))
    assert g.transform.c == 500000 and g.transform.f == 4000010
    assert (g.width, g.height) == (128, 101)
    assert g.window_bounds(next(iter(g.tile_windows(64)))[2]) == (500000, 3999370, 500640, 4000010)


def test_grid_round_trips_and_rejects_rotation():
    g = Grid("EPSG:32633", Affine(10, 0, 0, 0, -10, 0), 5, 5)
    assert Grid.from_dict(g.to_dict()) == g
    with pytest.raises(ConfigError, match="north-up"):
        Grid("EPSG:32633", Affine(10, 1, 0, 0, -10, 0), 5, 5)


def test_buffered_grows_by_the_margin_and_snaps_to_the_resolution():
    g = Grid("EPSG:32633", Affine(10, 0, 500010, 0, -10, 4000000), 30, 20)  # 500010..500310
    assert g.buffered() == g
    b = g.buffered(100.0)
    assert b.bounds == (499910, 3999700, 500410, 4000100) and b.resolution == 10
    c = g.buffered(100.0, 30.0)  # 499910 -> 499890, 500410 -> 500430, 3999700 -> 3999690
    assert c.bounds == (499890, 3999690, 500430, 4000110)
    assert (c.width, c.height) == (18, 14)
