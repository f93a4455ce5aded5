import geopandas as gpd
import numpy as np
import pytest
import rasterio
import shapely
from affine import Affine
from shapely.geometry import Polygon, box

from landslide4sense.annotation import clean_labels, prepare_labels, rasterize_labels, read_labels
from landslide4sense.errors import InputDataError
from landslide4sense.geo import Grid, snapped_grid
from tests.helpers import KAGHAN, needs

GRID = Grid("EPSG:32633", Affine(10, 0, 500000, 0, -10, 4000000), 10, 10)


def test_pixel_aligned_square_rasterizes_to_its_pixel_count():
    square = box(500020, 3999930, 500050, 3999960)  # 3 x 3 pixels, edges on pixel edges
    mask = rasterize_labels([square], GRID.transform, (10, 10))
    assert mask.dtype == np.uint8 and mask.sum() == 9
    assert mask[4:7, 2:5].all()
    ell = Polygon(
        [
            (500000, 4000000),
            (500040, 4000000),
            (500040, 3999990),
            (500010, 3999990),
            (500010, 3999950),
            (500000, 3999950),
        ]
    )
    assert rasterize_labels([ell], GRID.transform, (10, 10)).sum() == 4 + 4


def test_only_pixels_whose_centre_is_inside_are_burnt():
    """A 3 x 3 pixel square shifted 0.4 pixel right and down touches 4 x 4 pixels, but only
    3 x 3 centres lie inside it."""
    x0, top = GRID.transform.c, GRID.transform.f
    square = box(x0 + 24, top - 64, x0 + 54, top - 34)
    mask = rasterize_labels([square], GRID.transform, (10, 10))
    expected = np.zeros((10, 10), np.uint8)
    expected[3:6, 2:5] = 1
    assert np.array_equal(mask, expected)


def test_empty_geometry_list_gives_zeros():
    assert rasterize_labels([], GRID.transform, (3, 4)).sum() == 0


def write_labels(path, geoms, crs="EPSG:32633", **cols):
    gpd.GeoDataFrame(cols, geometry=geoms, crs=crs).to_file(path)
    return path


def test_labels_in_another_crs_land_on_the_same_pixels(tmp_path):
    squares = [box(500020, 3999930, 500050, 3999960), box(500060, 3999980, 500080, 4000000)]
    native = prepare_labels(write_labels(tmp_path / "a.gpkg", squares), GRID, tmp_path / "a")
    lonlat = gpd.GeoSeries(squares, crs=GRID.crs).to_crs("EPSG:4326")
    other = prepare_labels(
        write_labels(tmp_path / "b.geojson", list(lonlat), "EPSG:4326"), GRID, tmp_path / "b"
    )
    with rasterio.open(native.mask) as a, rasterio.open(other.mask) as b:
        assert a.read(1).sum() == 9 + 4
        assert (a.read(1) == b.read(1)).all()
    assert other.report.crs == "EPSG:4326" and other.report.polygons == 2


def test_empty_label_file_means_zero_landslides(tmp_path):
    empty = write_labels(tmp_path / "empty.gpkg", [])
    result = prepare_labels(empty, GRID, tmp_path / "out")
    assert result.report.polygons == 0 and result.report.area_m2 == 0
    with rasterio.open(result.mask) as src:
        assert src.read(1).sum() == 0 and src.shape == (10, 10)


def test_labels_outside_the_aoi_are_an_error(tmp_path):
    far = write_labels(tmp_path / "far.gpkg", [box(600000, 3000000, 600100, 3000100)])
    with pytest.raises(InputDataError) as err:
        prepare_labels(far, GRID, tmp_path / "out")
    assert str(far) in str(err.value) and "intersects the region's AOI" in str(err.value)
    assert not (tmp_path / "out" / "mask.tif").exists()


def test_unreadable_and_crs_less_files(tmp_path):
    bad = tmp_path / "bad.gpkg"
    bad.write_bytes(b"SQLite format 3\0 this is not a geopackage")
    with pytest.raises(InputDataError, match="cannot read the label file"):
        read_labels(bad)
    with pytest.warns(UserWarning, match="'crs' was not provided"):  # what we want to write
        gpd.GeoDataFrame(geometry=[box(0, 0, 1, 1)]).to_file(tmp_path / "nocrs.shp")
    with pytest.raises(InputDataError, match="has no CRS"):
        read_labels(tmp_path / "nocrs.shp")


def test_clean_labels_repairs_splits_and_drops():
    bowtie = Polygon([(0, 0), (10, 10), (10, 0), (0, 10)])  # self-intersecting
    tiny = box(100, 100, 101, 101)
    gdf = gpd.GeoDataFrame(geometry=[bowtie, None, tiny, box(20, 20, 40, 40)], crs="EPSG:32633")
    clean, report = clean_labels(gdf, "EPSG:32633", min_area_m2=5.0)
    assert report.features_read == 4 and report.invalid_repaired == 1
    assert report.empty_dropped == 1 and report.slivers_dropped == 1
    assert report.polygons == 3  # the bow-tie becomes two triangles
    assert clean.geometry.is_valid.all()
    assert report.area_m2 == pytest.approx(50 + 400)


def test_seeded_inventory_mask_area_matches_polygons(tmp_path):
    """Fixture-free twin of the Kaghan test below: 300 seeded irregular polygons in lon/lat,
    overlapping, one self-intersecting, on a 10 m grid: the mask's area is the polygons'."""
    rng = np.random.default_rng(5)
    grid = Grid("EPSG:32633", Affine(10, 0, 500000, 0, -10, 4000000), 400, 400)
    shapes = []
    for x, y in rng.uniform(200, 3800, (300, 2)):
        angles = np.sort(rng.uniform(0, 2 * np.pi, 7))
        radii = rng.uniform(15, 60, 7)
        ring = np.c_[500000 + x + radii * np.cos(angles), 4000000 - y + radii * np.sin(angles)]
        shapes.append(Polygon(ring))
    shapes.append(
        Polygon([(501000, 3999000), (501100, 3998900), (501100, 3999000), (501000, 3998900)])
    )
    lonlat = list(gpd.GeoSeries(shapes, crs=grid.crs).to_crs("EPSG:4326"))
    result = prepare_labels(
        write_labels(tmp_path / "l.geojson", lonlat, "EPSG:4326"), grid, tmp_path
    )
    assert result.report.features_read == 301 and result.report.invalid_repaired >= 1
    union = shapely.union_all(shapely.make_valid(np.array(shapes))).area
    assert result.report.area_m2 == pytest.approx(union, rel=1e-3)
    with rasterio.open(result.mask) as src:
        mask_area = float(src.read(1).sum()) * 100.0
    assert abs(mask_area - union) / union < 0.02


@needs(KAGHAN)
def test_kaghan_inventory_mask_area_matches_polygons(tmp_path):
    with rasterio.open(KAGHAN / "AW3D30.tif") as dem:
        grid = snapped_grid(str(dem.crs), tuple(dem.bounds), 10.0)
    result = prepare_labels(KAGHAN / "landslides.shp", grid, tmp_path)
    assert result.report.features_read == 3820
    assert result.report.invalid_repaired == 1
    with rasterio.open(result.mask) as src:
        mask_area = float(src.read(1).sum()) * 100.0
    assert result.report.area_m2 == pytest.approx(8.12e6, rel=0.02)
    assert abs(mask_area - result.report.area_m2) / result.report.area_m2 < 0.02
