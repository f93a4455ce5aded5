"""QGIS: default layer styles stored in the GeoPackage, RGB composites beside it."""

import sqlite3
import xml.etree.ElementTree as ET

import numpy as np
import pyogrio
import rasterio

from landslide4sense.acquisition.demo import SCAR
from landslide4sense.annotation import band_files, merge, write_candidates
from landslide4sense.annotation.candidates import rgb_path
from landslide4sense.annotation.corrections import OPS
from landslide4sense.annotation.qgis import write_layer_styles
from landslide4sense.geo import read_on_grid
from landslide4sense.regions import parse_region
from tests.helpers import OBIA_REGION, labels_gpkg


def styles(path) -> dict[str, tuple]:
    with sqlite3.connect(path) as db:
        rows = db.execute(
            "SELECT f_table_name, f_geometry_column, useAsDefault, styleQML FROM layer_styles"
        ).fetchall()
    return {
        name: (geom, default, ET.fromstring(qml.split("\n", 1)[1]))
        for name, geom, default, qml in rows
    }


def test_styles_are_stored_as_qgis_reads_them_and_survive_a_merge(tmp_path):
    path = labels_gpkg(tmp_path, [])
    write_layer_styles(path)
    write_layer_styles(path)  # again: replaced, not duplicated
    found = styles(path)
    assert sorted(found) == ["candidates", "corrections", "labels"]
    with sqlite3.connect(path) as db:
        (geom_column,) = db.execute(
            "SELECT column_name FROM gpkg_geometry_columns WHERE table_name = 'candidates'"
        ).fetchone()
    assert all(geom == geom_column and default == 1 for geom, default, _ in found.values())
    corrections = found["corrections"][2]
    value_map = corrections.find("fieldConfiguration/field[@name='op']/editWidget")
    assert value_map.get("type") == "ValueMap"
    assert [o.get("value") for o in value_map.iter("Option") if o.get("value")] == list(OPS)
    categories = corrections.findall("renderer-v2/categories/category")
    assert [c.get("value") for c in categories] == list(OPS)
    defaults = {d.get("field") for d in corrections.findall("defaults/default")}
    assert defaults == {"editor", "edited_at"}
    # GDAL sees a valid attribute table; a merge rewrites layers and keeps the styles.
    table = pyogrio.read_dataframe(path, layer="layer_styles")
    assert sorted(table["f_table_name"]) == ["candidates", "corrections", "labels"]
    merge(path)
    assert sorted(styles(path)) == ["candidates", "corrections", "labels"]


def test_candidates_come_with_styles_and_cloud_optimized_rgb_composites(pair, tmp_path):
    root, grid, _, classes = pair
    out = tmp_path / "labels.gpkg"
    write_candidates(
        parse_region(OBIA_REGION),
        grid,
        band_files(root / "pre" / "obia"),
        band_files(root / "post" / "obia"),
        root / "post" / "obia" / "dem.tif",
        out,
        tmp_path / "work",
    )
    assert sorted(styles(out)) == ["candidates", "corrections", "labels"]
    red = {}
    for when in ("pre", "post"):
        with rasterio.open(rgb_path(out, when)) as src:
            assert src.tags(ns="IMAGE_STRUCTURE")["LAYOUT"] == "COG"
            assert (src.count, src.dtypes[0], src.nodata) == (3, "uint8", 0)
            assert src.crs.to_string() == grid.crs and src.transform == grid.transform
            assert src.shape == (grid.height, grid.width) and src.overviews(1)
            red[when] = read_on_grid(rgb_path(out, when), grid)
    scar = classes == SCAR
    # One stretch for both dates: the bare scars are brighter after the event than before.
    assert np.nanmean(red["post"][scar]) > np.nanmean(red["pre"][scar]) + 40
    # and a QGIS project beside them, every path relative
    project = read_project(out.with_suffix(".qgz"))
    assert project.find("projectCrs/spatialrefsys/authid").text == grid.crs
    tree = [(e.get("name"), e.get("checked")) for e in project.find("layer-tree-group")]
    assert tree == [
        ("corrections", "Qt::Checked"),
        ("candidates", "Qt::Checked"),
        ("post_rgb", "Qt::Checked"),
        ("pre_rgb", "Qt::Unchecked"),
    ]
    sources = [e.findtext("datasource") for e in project.find("projectlayers")]
    assert sources == [
        "./labels.gpkg|layername=corrections",
        "./labels.gpkg|layername=candidates",
        "./labels_post_rgb.tif",
        "./labels_pre_rgb.tif",
    ]
    assert project.find("properties/Paths/Absolute").text == "false"
    assert {e.get("name"): e.get("providerKey") for e in project.find("layer-tree-group")}[
        "candidates"
    ] == "ogr"


def read_project(path) -> ET.Element:
    """The .qgs inside a .qgz."""
    import zipfile

    with zipfile.ZipFile(path) as z:
        assert z.namelist() == [f"{path.stem}.qgs"]
        return ET.fromstring(z.read(f"{path.stem}.qgs").decode().split("\n", 1)[1])


def test_project_labels_candidates_by_id_and_styles_corrections(tmp_path):
    from landslide4sense.annotation.qgis import write_project

    gpkg = tmp_path / "labels.gpkg"
    path = write_project(gpkg, {"post_rgb": tmp_path / "labels_post_rgb.tif"}, "EPSG:32654")
    assert path == tmp_path / "labels.qgz"
    layers = {e.findtext("layername"): e for e in read_project(path).find("projectlayers")}
    text = layers["candidates"].find("labeling/settings/text-style")
    assert text.get("fieldName") == "cand_id" and text.get("isExpression") == "0"
    assert layers["candidates"].find("customproperties/Option/Option").get("value") == "true"
    corrections = layers["corrections"]
    renderer = corrections.find("renderer-v2")
    assert renderer.get("type") == "categorizedSymbol" and renderer.get("attr") == "op"
    assert [c.get("value") for c in renderer.find("categories")] == list(OPS)
    assert corrections.find("fieldConfiguration/field/editWidget").get("type") == "ValueMap"
    assert {d.get("field") for d in corrections.find("defaults")} == {"editor", "edited_at"}
    raster = layers["post_rgb"]
    assert raster.findtext("provider") == "gdal"
    assert raster.find("pipe/rasterrenderer").get("type") == "multibandcolor"
    path.write_bytes(b"saved by QGIS")  # a user's own project is never replaced
    assert write_project(gpkg, {}, "EPSG:32654").read_bytes() == b"saved by QGIS"
