"""What QGIS needs to correct candidates: stored layer styles, RGB composites to draw on, and
a project that opens them all.

QGIS reads a layer's default style from the GeoPackage's ``layer_styles`` table (its own
convention, written here as QGIS writes it): candidates as orange outlines, corrected labels
in vermillion, and the ``corrections`` layer drawn by its ``op`` (add, delete, reshape) with a
drop-down (value map) for ``op`` and defaults for ``editor`` and ``edited_at``, so a correction
is valid as soon as it is drawn. :func:`write_rgb` writes a true-colour composite as a
Cloud-Optimized GeoTIFF on the region's grid, to digitise against. :func:`write_project`
writes a QGIS project (``.qgz``) beside the GeoPackage: the corrections layer (editable, with
its style and form) over the candidates (labelled by ``cand_id``) over the post- and pre-event
composites, every path relative so the folder can move.
"""

from __future__ import annotations

import datetime as dt
import logging
import sqlite3
import xml.etree.ElementTree as ET
import zipfile
from pathlib import Path

import numpy as np
import rasterio

from landslide4sense.annotation.corrections import OPS
from landslide4sense.files import atomic_path
from landslide4sense.geo import Grid, read_on_grid

log = logging.getLogger(__name__)

#: Okabe-Ito colours (safe for colour-vision deficiencies), as QGIS "r,g,b,a" strings.
ORANGE, VERMILLION = "230,159,0", "213,94,0"
OP_COLOURS = {"add": "0,158,115", "delete": "204,121,167", "reshape": "0,114,178"}
RGB_BANDS = ("B04", "B03", "B02")
STYLED_LAYERS = ("candidates", "labels", "corrections")
#: QGIS expressions that fill a new correction's editor and time (merge requires both).
CORRECTION_DEFAULTS = {
    "editor": "@user_full_name",
    "edited_at": "format_date(now(), 'yyyy-MM-ddThh:mm:ss')",
}
RENDERER = {"symbollevels": "0", "forceraster": "0", "enableorderby": "0"}

LAYER_STYLES_DDL = """CREATE TABLE IF NOT EXISTS layer_styles (
    id INTEGER PRIMARY KEY AUTOINCREMENT, f_table_catalog TEXT(256),
    f_table_schema TEXT(256), f_table_name TEXT(256), f_geometry_column TEXT(256),
    styleName TEXT(30), styleQML TEXT, styleSLD TEXT, useAsDefault BOOLEAN,
    description TEXT, owner TEXT(30), ui TEXT(30), update_time DATETIME DEFAULT
    (strftime('%Y-%m-%dT%H:%M:%fZ','now')))"""


def _option(
    parent: ET.Element, name: str | None, value: str | None = None, kind: str = "QString"
) -> ET.Element:
    attrs = {"type": kind}
    if name is not None:
        attrs["name"] = name
    if value is not None:
        attrs["value"] = value
    return ET.SubElement(parent, "Option", attrs)


def _fill_symbol(
    parent: ET.Element, name: str, rgb: str, fill_alpha: int, width: float, outline: str = "solid"
) -> None:
    symbol = ET.SubElement(
        parent,
        "symbol",
        {"type": "fill", "name": name, "alpha": "1", "clip_to_extent": "1", "force_rhr": "0"},
    )
    layer = ET.SubElement(
        symbol, "layer", {"class": "SimpleFill", "enabled": "1", "pass": "0", "locked": "0"}
    )
    options = _option(layer, None, kind="Map")
    for key, value in (
        ("color", f"{rgb},{fill_alpha}"),
        ("outline_color", f"{rgb},255"),
        ("outline_width", str(width)),
        ("outline_width_unit", "MM"),
        ("style", "solid"),
        ("outline_style", outline),
    ):
        _option(options, key, value)


def style_qml(layer: str) -> str:
    """The QGIS style (QML) of one annotation layer: ``candidates``, ``labels`` or
    ``corrections``."""
    root = ET.Element("qgis", {"version": "3.22.0", "styleCategories": "Symbology|Fields|Forms"})
    if layer == "corrections":
        attrs = {"type": "categorizedSymbol", "attr": "op", **RENDERER}
        renderer = ET.SubElement(root, "renderer-v2", attrs)
        categories = ET.SubElement(renderer, "categories")
        symbols = ET.SubElement(renderer, "symbols")
        for i, op in enumerate(OPS):
            ET.SubElement(
                categories,
                "category",
                {"value": op, "label": op, "symbol": str(i), "render": "true"},
            )
            _fill_symbol(symbols, str(i), OP_COLOURS[op], 90, 0.8)
        fields = ET.SubElement(root, "fieldConfiguration")
        widget = ET.SubElement(
            ET.SubElement(fields, "field", {"name": "op"}), "editWidget", {"type": "ValueMap"}
        )
        mapping = _option(
            _option(ET.SubElement(widget, "config"), None, kind="Map"), "map", kind="List"
        )
        for op in OPS:
            _option(_option(mapping, None, kind="Map"), op, op)
        defaults = ET.SubElement(root, "defaults")
        for field, expression in CORRECTION_DEFAULTS.items():
            ET.SubElement(
                defaults,
                "default",
                {"field": field, "expression": expression, "applyOnUpdate": "0"},
            )
    else:
        renderer = ET.SubElement(root, "renderer-v2", {"type": "singleSymbol", **RENDERER})
        symbols = ET.SubElement(renderer, "symbols")
        if layer == "candidates":  # outlines only: labels and corrections show through
            _fill_symbol(symbols, "0", ORANGE, 0, 0.6, outline="dash")
        else:
            _fill_symbol(symbols, "0", VERMILLION, 110, 0.8)
    ET.indent(root)
    return "<!DOCTYPE qgis PUBLIC 'http://mrcc.com/qgis.dtd' 'SYSTEM'>\n" + ET.tostring(
        root, encoding="unicode"
    )


def write_layer_styles(gpkg: str | Path, layers: tuple[str, ...] = STYLED_LAYERS) -> None:
    """Store each layer's default style in ``gpkg``'s ``layer_styles`` table (QGIS applies it
    when the layer is opened); a style already stored for a layer is replaced."""
    with sqlite3.connect(gpkg) as db:
        db.execute(LAYER_STYLES_DDL)
        known = db.execute(
            "SELECT 1 FROM gpkg_contents WHERE table_name = 'layer_styles'"
        ).fetchone()
        if not known:  # an attribute table of the GeoPackage, as GDAL registers it
            db.execute(
                "INSERT INTO gpkg_contents (table_name, data_type, identifier, last_change) "
                "VALUES ('layer_styles', 'attributes', 'layer_styles', ?)",
                (dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z"),),
            )
        for layer in layers:
            db.execute("DELETE FROM layer_styles WHERE f_table_name = ?", (layer,))
            db.execute(
                "INSERT INTO layer_styles (f_table_catalog, f_table_schema, f_table_name, "
                "f_geometry_column, styleName, styleQML, styleSLD, useAsDefault, description, "
                "owner, ui) VALUES ('', '', ?, 'geom', ?, ?, '', 1, ?, '', '')",
                (layer, layer, style_qml(layer), f"landslide4sense default style of {layer}"),
            )


def rgb_stretch(composites: list[np.ndarray]) -> np.ndarray:
    """Per band, one 2-98 % reflectance range over several (3, H, W) composites, so that
    their brightness compares (a landslide scar is brighter after the event than before).

    Returns:
        (3, 2): low and high reflectance of red, green and blue.
    """
    bands = np.concatenate([c.reshape(3, -1) for c in composites], axis=1)
    return np.stack([np.nanpercentile(b, [2, 98]) for b in bands])


def read_rgb(bands: dict[str, Path], grid: Grid) -> np.ndarray:
    """Red, green and blue reflectance (0..1, NaN = no data) on ``grid``, as (3, H, W)."""
    return np.stack([read_on_grid(bands[b], grid, sentinel2=True) / 10000.0 for b in RGB_BANDS])


def write_rgb(path: str | Path, rgb: np.ndarray, grid: Grid, stretch: np.ndarray) -> Path:
    """Write a (3, H, W) reflectance composite as an 8-bit RGB Cloud-Optimized GeoTIFF
    (values 1..255 over each band's ``stretch`` range, 0 = no data), atomically."""
    lo, hi = stretch[:, :1, None], stretch[:, 1:, None]
    valid = np.all(np.isfinite(rgb), axis=0)
    scaled = np.clip((np.nan_to_num(rgb) - lo) / (hi - lo + 1e-12), 0, 1) * 254 + 1
    data = np.where(valid, scaled, 0).astype(np.uint8)
    profile = {
        "driver": "COG",
        "width": grid.width,
        "height": grid.height,
        "count": 3,
        "dtype": "uint8",
        "crs": grid.crs,
        "transform": grid.transform,
        "nodata": 0,
        "compress": "deflate",
        "overview_resampling": "average",
    }
    with atomic_path(path) as tmp, rasterio.open(tmp, "w", **profile) as dst:
        dst.write(data)
        for i, name in enumerate(("red (B4)", "green (B3)", "blue (B2)"), 1):
            dst.set_band_description(i, name)
    return Path(path)


QGIS_VERSION = "3.22.0-Białowieża"
#: The project's layers, top first: (layer id, name, GeoPackage layer or None for a raster).
VECTOR_LAYERS = ("corrections", "candidates")
PROJECT_DTD = "<!DOCTYPE qgis PUBLIC 'http://mrcc.com/qgis.dtd' 'SYSTEM'>\n"


def _srs(parent: ET.Element, crs: str) -> None:
    ET.SubElement(ET.SubElement(parent, "spatialrefsys"), "authid").text = crs


def _candidate_labels(layer: ET.Element) -> None:
    """Label each candidate with its ``cand_id`` (what a correction's ``target`` names)."""
    labeling = ET.SubElement(layer, "labeling", {"type": "simple"})
    settings = ET.SubElement(labeling, "settings", {"calloutType": "simple"})
    ET.SubElement(
        settings,
        "text-style",
        {
            "fieldName": "cand_id",
            "isExpression": "0",
            "fontSize": "9",
            "fontWeight": "75",
            "textColor": f"{ORANGE},255",
            "fontSizeUnit": "Point",
        },
    )
    ET.SubElement(
        ET.SubElement(settings, "text-format"), "text-buffer", {"bufferDraw": "1"}
    ).attrib |= {"bufferSize": "1", "bufferColor": "255,255,255,255", "bufferSizeUnits": "MM"}
    ET.SubElement(settings, "placement", {"placement": "1", "offsetType": "0"})
    ET.SubElement(settings, "rendering", {"scaleVisibility": "0", "obstacle": "1"})
    props = _option(ET.SubElement(layer, "customproperties"), None, kind="Map")
    _option(props, "labeling/enabled", "true")


def _vector_layer(name: str, gpkg: str, crs: str) -> ET.Element:
    """A GeoPackage layer of the project, drawn with the style stored for it."""
    layer = ET.Element("maplayer", {"type": "vector", "geometry": "Polygon", "readOnly": "0"})
    ET.SubElement(layer, "id").text = name
    ET.SubElement(layer, "datasource").text = f"./{gpkg}|layername={name}"
    ET.SubElement(layer, "layername").text = name
    _srs(ET.SubElement(layer, "srs"), crs)
    ET.SubElement(layer, "provider", {"encoding": "UTF-8"}).text = "ogr"
    style = ET.fromstring(style_qml(name).split("\n", 1)[1])
    layer.extend(list(style))  # renderer, form and defaults, as the stored style has them
    if name == "candidates":
        _candidate_labels(layer)
    return layer


def _raster_layer(name: str, tif: str, crs: str) -> ET.Element:
    layer = ET.Element("maplayer", {"type": "raster"})
    ET.SubElement(layer, "id").text = name
    ET.SubElement(layer, "datasource").text = f"./{tif}"
    ET.SubElement(layer, "layername").text = name
    _srs(ET.SubElement(layer, "srs"), crs)
    ET.SubElement(layer, "provider").text = "gdal"
    pipe = ET.SubElement(layer, "pipe")
    ET.SubElement(
        pipe,
        "rasterrenderer",
        {
            "type": "multibandcolor",
            "redBand": "1",
            "greenBand": "2",
            "blueBand": "3",
            "opacity": "1",
            "alphaBand": "-1",
        },
    )
    return layer


def project_xml(gpkg: Path, rasters: dict[str, Path], crs: str) -> str:
    """The ``.qgs`` XML of the correction project of ``gpkg`` with ``rasters`` (name: file
    beside it), top layer first; paths relative to the project."""
    root = ET.Element("qgis", {"projectname": gpkg.stem, "version": QGIS_VERSION})
    ET.SubElement(root, "title").text = f"{gpkg.stem}: correct the candidates"
    _srs(ET.SubElement(root, "projectCrs"), crs)
    tree = ET.SubElement(root, "layer-tree-group")
    layers = ET.SubElement(root, "projectlayers")
    order = ET.SubElement(root, "layerorder")
    entries = [(n, _vector_layer(n, gpkg.name, crs)) for n in VECTOR_LAYERS]
    entries += [(n, _raster_layer(n, f.name, crs)) for n, f in rasters.items()]
    for i, (name, layer) in enumerate(entries):
        shown = "Qt::Unchecked" if name.startswith("pre") else "Qt::Checked"
        ET.SubElement(
            tree,
            "layer-tree-layer",
            {
                "id": name,
                "name": name,
                "source": layer.findtext("datasource"),
                "providerKey": layer.findtext("provider"),
                "checked": shown,
                "expanded": "1" if i < len(VECTOR_LAYERS) else "0",
            },
        )
        layers.append(layer)
        ET.SubElement(order, "layer", {"id": name})
    properties = ET.SubElement(root, "properties")
    paths = ET.SubElement(properties, "Paths")
    ET.SubElement(paths, "Absolute", {"type": "bool"}).text = "false"
    ET.indent(root)
    return PROJECT_DTD + ET.tostring(root, encoding="unicode")


def project_path(gpkg: str | Path) -> Path:
    """The QGIS project written beside a label file: ``<name>.qgz``."""
    return Path(gpkg).with_suffix(".qgz")


def write_project(gpkg: str | Path, rasters: dict[str, Path], crs: str) -> Path:
    """Write the QGIS project of ``gpkg`` (:func:`project_xml`) as ``<name>.qgz`` beside it,
    atomically, unless there is one (QGIS saves a user's changes into it; its layers are the
    same files); returns its path."""
    gpkg = Path(gpkg)
    path = project_path(gpkg)
    if path.exists():
        log.info("%s: kept (it opens the same layers)", path)
        return path
    with atomic_path(path) as tmp, zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr(f"{gpkg.stem}.qgs", project_xml(gpkg, rasters, crs))
    return path
