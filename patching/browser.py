"""The benchmark browser: ``browse/index.html``, a static page that shows every patch.

The page works from ``file://`` with no server and no network: its data is a script
(``patches.js``: the manifest's columns and each patch's footprint), its images are a few JPEG
sprite sheets (a 64 px thumbnail per patch, the RGB composite with the mask outlined; and per
patch a strip of its 14 bands and mask for the detail view), and the figures are the version's
own. Browsers block ``fetch`` on ``file://`` but not ``<script src>`` or images, hence a script
for the data. Thumbnails are packed :data:`THUMBS_PER_SHEET` to a sheet so a version of
thousands of patches adds a few files, and the page loads a sheet only when one of its patches
scrolls into view. Each patch element carries ``data-patch="<split folder>/<N>"``
(``TrainData/7``). Training results join the page later through ``training.js``
(:func:`write_training`), written empty at publishing.
"""

from __future__ import annotations

import base64
import csv
import io
import json
from collections.abc import Callable, Sequence
from importlib.resources import files
from pathlib import Path
from typing import NamedTuple

import numpy as np

from landslide4sense.files import atomic_path, write_text
from landslide4sense.layout import SPLIT_DIRS, STACK_BANDS
from landslide4sense.records import ManifestRow

THUMB_PX = 64  # a thumbnail's side: a 128 px patch averaged 2 x 2
SHEET_COLUMNS = 16
THUMBS_PER_SHEET = SHEET_COLUMNS * SHEET_COLUMNS  # a 1024 x 1024 sheet
STRIPS_PER_SHEET = 64  # band strips (15 x 64 px wide, 64 px high) per sheet
RGB = (3, 2, 1)  # B04, B03, B02 in the stack
OUTLINE = (240, 228, 66)  # Okabe-Ito yellow, as in the figures
JPEG_QUALITY = 90
RANGE_SAMPLE = 64  # patches, evenly spaced, whose bands set the page's one stretch

Ranges = tuple[np.ndarray, np.ndarray]  # each band's (low, high) values, mapped to 0 and 255
TRAINING_JS = "training.js"  # Table I and the spider plot, once trained (write_training)
#: The figures a version has (patching.figures), shown when drawn.
FIGURES = ("sample_patches.png", "band_values.png", "landslide_share.png")

#: Reads one patch: (image (128, 128, 14) in source units, mask (128, 128)).
PatchReader = Callable[[ManifestRow], tuple[np.ndarray, np.ndarray]]


class PageTitle(NamedTuple):
    """What the page's header says of a benchmark."""

    name: str
    version: str
    created: str  # ISO 8601


def patch_key(row: ManifestRow) -> str:
    """A patch's ``data-patch`` name: its split folder and number (``TrainData/7``)."""
    return f"{SPLIT_DIRS[row.split]}/{row.index}"


def _halve(a: np.ndarray) -> np.ndarray:
    """``a`` averaged over 2 x 2 pixel blocks (the first two axes)."""
    return 0.25 * (a[0::2, 0::2] + a[1::2, 0::2] + a[0::2, 1::2] + a[1::2, 1::2])


def _stretch(a: np.ndarray, axis: int | None = None, ranges: Ranges | None = None) -> np.ndarray:
    """A linear stretch of ``a`` to 0-255 between ``ranges`` (low, high), or a 2-98 % one of
    ``a`` itself: one range for all of ``a``, or one per index of ``axis`` (the last). Patches
    hold no missing pixel (such tiles are dropped)."""
    if ranges is None:
        flat = a.reshape(-1, a.shape[-1]) if axis is not None else a.ravel()
        ranges = tuple(np.percentile(flat, [2, 98], axis=0))
    lo, hi = ranges
    return np.clip(255 * (a - lo) / (hi - lo + 1e-9), 0, 255).round().astype(np.uint8)


def stretch_ranges(images: Sequence[np.ndarray]) -> Ranges:
    """Each band's 2-98 % range over ``images`` (a sample of a benchmark's patches): one
    stretch for every patch, so the page compares them (and a percentile per patch, 2.5 ms,
    would cost a full tile a minute)."""
    return tuple(np.percentile(np.stack(images), [2, 98], axis=(0, 1, 2)))


def thumbnail(image: np.ndarray, mask: np.ndarray, ranges: Ranges | None = None) -> np.ndarray:
    """A patch's 64 x 64 RGB thumbnail (B04, B03, B02 stretched together) with the landslide
    mask's outline in yellow.

    Args:
        image: (128, 128, 14) in source units (the bands' balance matters for the colours).
        mask: (128, 128), 1 = landslide.
        ranges: every band's (low, high) (:func:`stretch_ranges`); None: the patch's own.
    """
    rgb_ranges = (
        None if ranges is None else (ranges[0][list(RGB)].min(), ranges[1][list(RGB)].max())
    )
    rgb = _stretch(_halve(image[..., list(RGB)].astype(np.float32)), ranges=rgb_ranges)
    slides = _halve(mask.astype(np.float32)) > 0  # a pixel of any landslide shows
    rgb[slides & ~_interior(slides)] = OUTLINE
    return rgb


def _interior(a: np.ndarray) -> np.ndarray:
    """Pixels of ``a`` whose four neighbours are all in ``a`` (outside the array is not)."""
    p = np.pad(a, 1)
    return a & p[:-2, 1:-1] & p[2:, 1:-1] & p[1:-1, :-2] & p[1:-1, 2:]


def band_strip(image: np.ndarray, mask: np.ndarray, ranges: Ranges | None = None) -> np.ndarray:
    """A patch's 14 bands (each stretched on its own, between ``ranges`` or the patch's own)
    and its mask side by side, 64 px each: a (64, 15 x 64) grey image."""
    bands = _stretch(_halve(image.astype(np.float32)), axis=-1, ranges=ranges)
    tiles = [*np.moveaxis(bands, -1, 0), np.where(_halve(mask.astype(np.float32)) > 0, 255, 0)]
    return np.concatenate(tiles, axis=1).astype(np.uint8)


def jpeg(pixels: np.ndarray) -> bytes:
    """``pixels`` (grey or RGB uint8) as JPEG bytes."""
    # Pillow only here: the cutting workers import this module (through assemble) for nothing
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, "JPEG", quality=JPEG_QUALITY)
    return buffer.getvalue()


def data_uri(pixels: np.ndarray) -> str:
    """``pixels`` as a ``data:`` URI of a JPEG (a STAC item's own thumbnail)."""
    return "data:image/jpeg;base64," + base64.b64encode(jpeg(pixels)).decode()


def thumb_sheet(thumbs: Sequence[np.ndarray]) -> np.ndarray:
    """Up to :data:`THUMBS_PER_SHEET` thumbnails, row-major on a 16-column sheet."""
    rows = -(-len(thumbs) // SHEET_COLUMNS)
    sheet = np.zeros((rows * THUMB_PX, SHEET_COLUMNS * THUMB_PX, 3), np.uint8)
    for i, t in enumerate(thumbs):
        r, c = divmod(i, SHEET_COLUMNS)
        sheet[r * THUMB_PX : (r + 1) * THUMB_PX, c * THUMB_PX : (c + 1) * THUMB_PX] = t
    return sheet


def _columns(rows: Sequence[ManifestRow]) -> dict[str, list]:
    """The manifest's columns, text columns as their distinct values and each row's code (the
    scene lists repeat on every patch of a region)."""
    columns: dict[str, list] = {}
    for name in ManifestRow.model_fields:
        values = [r.model_dump(mode="json")[name] for r in rows] if rows else []
        if values and isinstance(values[0], str):
            distinct = list(dict.fromkeys(values))
            code = {v: i for i, v in enumerate(distinct)}
            columns[name] = {"values": distinct, "codes": [code[v] for v in values]}
        else:
            columns[name] = values
    return columns


def page_data(
    title: PageTitle, rows: Sequence[ManifestRow], footprints: Sequence, figures: Sequence[str]
) -> dict:
    """What ``patches.js`` holds: the benchmark's name, version and regions, the manifest's
    columns, each patch's ``data-patch`` key and footprint corners (lon, lat), the sheets."""
    corners = []
    for polygon in footprints:  # the four corners of the patch in EPSG:4326
        corners.append([round(v, 6) for xy in list(polygon.exterior.coords)[:4] for v in xy])
    n_thumb = -(-len(rows) // THUMBS_PER_SHEET)
    n_strip = -(-len(rows) // STRIPS_PER_SHEET)
    return {
        "name": title.name,
        "version": title.version,
        "created": title.created,
        "regions": list(dict.fromkeys(r.region for r in rows)),
        "splits": list(dict.fromkeys(SPLIT_DIRS[r.split] for r in rows)),
        "bands": [*STACK_BANDS, "mask"],
        "keys": [patch_key(r) for r in rows],
        "columns": _columns(rows),
        "footprints": corners,
        "thumbs": {
            "px": THUMB_PX,
            "columns": SHEET_COLUMNS,
            "per_sheet": THUMBS_PER_SHEET,
            "sheets": [f"thumbs-{i}.jpg" for i in range(n_thumb)],
        },
        "strips": {
            "px": THUMB_PX,
            "per_sheet": STRIPS_PER_SHEET,
            "sheets": [f"bands-{i}.jpg" for i in range(n_strip)],
        },
        "figures": [f"../figures/{f}" for f in figures],
    }


def _script(name: str, value) -> str:
    """A script that sets ``window.<name>`` to ``value`` (JSON, safe inside ``<script>``)."""
    text = json.dumps(value, separators=(",", ":")).replace("</", "<\\/")
    return f"window.{name} = {text};\n"


def page_html() -> str:
    """The page itself (package data: ``patching/templates/browser.html``)."""
    return files("landslide4sense.patching").joinpath("templates/browser.html").read_text()


def write_browser(
    folder: str | Path,
    title: PageTitle,
    rows: Sequence[ManifestRow],
    footprints: Sequence,
    read_patch: PatchReader,
    figures: Sequence[str] = FIGURES,
) -> list[str]:
    """Write the browser of a benchmark into ``folder`` (``browse/`` of a version), atomically.

    Args:
        folder: where the page goes (created; must not exist).
        title: the benchmark's name, version and date.
        rows: its manifest rows, in the order the page lists them.
        footprints: each row's footprint polygon in EPSG:4326 (the patch index's geometry).
        read_patch: reads a row's image (source units) and mask.
        figures: the figures the version has (names in ``figures/``).

    Returns:
        Each patch's thumbnail as a ``data:`` URI (for its STAC item), in the order of ``rows``.
    """
    uris: list[str] = []
    with atomic_path(folder) as tmp:
        tmp.mkdir(parents=True)
        thumbs: list[np.ndarray] = []
        strips: list[np.ndarray] = []
        sample = rows[:: max(1, len(rows) // RANGE_SAMPLE)]
        ranges = stretch_ranges([read_patch(row)[0] for row in sample]) if rows else None
        for i, row in enumerate(rows):
            image, mask = read_patch(row)
            thumbs.append(thumbnail(image, mask, ranges))
            strips.append(band_strip(image, mask, ranges))
            uris.append(data_uri(thumbs[-1]))
            if len(strips) == STRIPS_PER_SHEET or i == len(rows) - 1:
                sheet = i // STRIPS_PER_SHEET
                (tmp / f"bands-{sheet}.jpg").write_bytes(jpeg(np.concatenate(strips, axis=0)))
                strips = []
            if len(thumbs) == THUMBS_PER_SHEET or i == len(rows) - 1:
                sheet = i // THUMBS_PER_SHEET
                (tmp / f"thumbs-{sheet}.jpg").write_bytes(jpeg(thumb_sheet(thumbs)))
                thumbs = []
        data = page_data(title, rows, footprints, figures)
        write_text(tmp / "patches.js", _script("L4S", data))
        write_text(tmp / TRAINING_JS, _script("L4S_TRAINING", None))
        write_text(tmp / "index.html", page_html())
    return uris


def write_training(folder: str | Path, table_csv: Path, spider_png: Path | None) -> Path:
    """Give a version's browser its Table I (``table_i.csv``) and spider plot, once trained.

    The page was published with an empty ``training.js``; this replaces it (a file the tool
    wrote), with the spider plot inlined so the page needs no path to the training folder.
    """
    with open(table_csv, newline="") as f:
        table = list(csv.reader(f))
    spider = None
    if spider_png is not None and spider_png.exists():
        spider = "data:image/png;base64," + base64.b64encode(spider_png.read_bytes()).decode()
    path = Path(folder) / TRAINING_JS
    write_text(path, _script("L4S_TRAINING", {"table": table, "spider": spider}))
    return path
