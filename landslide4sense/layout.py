"""The fixed facts of a benchmark: its bands, patch size, and the names of what it holds on disk.

The layout is the original Landslide4Sense release's (``TrainData/img/image_N.h5`` with dataset
``img``, ``TrainData/mask/mask_N.h5`` with dataset ``mask``, the same under ``TestData/``; N
counts from 1 per split), plus our manifest, metadata, card, figures, the kept versions with
the ``current`` link the published names go through, and the ``.l4s`` folder of the tool's own
state; and how a raw folder names its band files (:func:`find_band`). Every stage takes these
names from here.
"""

from __future__ import annotations

import re
from pathlib import Path

from landslide4sense.choices import Split
from landslide4sense.errors import InputDataError

#: The twelve Sentinel-2 bands of a patch: B1..B12 without B8A (B10 exists only in L1C).
S2_BANDS: tuple[str, ...] = tuple(f"B{i:02d}" for i in range(1, 13))
#: Channel order of every patch (the original release's): the twelve bands, slope, DEM.
STACK_BANDS: tuple[str, ...] = (*S2_BANDS, "slope", "dem")
#: Units of each channel before scaling.
BAND_UNITS: dict[str, str] = {
    **{b: "DN (TOA reflectance x 10000)" for b in S2_BANDS},
    "slope": "degrees",
    "dem": "metres",
}
#: Patches are PATCH_SIZE x PATCH_SIZE pixels of 10 m.
PATCH_SIZE = 128

#: The folder of each split.
SPLIT_DIRS: dict[Split, str] = {
    Split.TRAIN: "TrainData",
    Split.VAL: "ValidData",  # only in the with-valid layout
    Split.TEST: "TestData",
}
IMAGE_DIR, MASK_DIR = "img", "mask"  # the sub-folders of a split folder
IMAGE_STEM, MASK_STEM = "image", "mask"  # image_N.h5, mask_N.h5
IMAGE_KEY, MASK_KEY = "img", "mask"  # the HDF5 dataset in each file

DATASET_JSON = "dataset.json"  # the metadata; its presence marks a complete benchmark
MANIFEST_CSV = "manifest.csv"  # one row per patch
CARD_MD = "card.md"  # the dataset card
HUB_CARD = "README.md"  # the same card under the name the Hugging Face Hub reads (configs)
FIGURES_DIR = "figures"
BROWSE_DIR = "browse"  # the benchmark browser: browse/index.html (static, works offline)
INDEX_PARQUET = "patches.parquet"  # the patch index: footprints in EPSG:4326 + manifest columns
FOOTPRINTS_GPKG = "patches.gpkg"  # the same as a GeoPackage: opens in any GDAL and QGIS
STAC_DIR = "stac"  # the STAC Collection of the patches (collection.json, items/)
CROISSANT_JSON = "croissant.json"  # Croissant metadata (MLCommons)
REGIONS_DIR = "regions"  # copies of the region files the benchmark was built from
TRAINING_DIR = "training"  # training results, one folder per version
STATE_DIR = ".l4s"  # the tool's own: marker, lock, per-region work a re-run resumes from
MARKER = "benchmark.json"  # in STATE_DIR: this folder is a benchmark the tool may write
LOCK_FILE = "lock"  # in STATE_DIR: held by the one run that writes the folder
JOB_FILE = "job.json"  # in a region's patches folder: the job that cut them
VERSIONS_DIR = "versions"  # every kept version, whole: versions/<version>/
CURRENT = "current"  # a link to versions/<version>; the published names link through it
VERSION_FILE = ".l4s-version.json"  # in a version: its files and region jobs, written last
#: The optional single file per split (``release+split-files`` layout), beside its folder.
SPLIT_FILES: dict[Split, str] = {s: f"{d}.h5" for s, d in SPLIT_DIRS.items()}


def image_path(split: Split, n: int) -> str:
    """The image file of patch ``n`` of ``split``, relative to the benchmark folder."""
    return f"{SPLIT_DIRS[split]}/{IMAGE_DIR}/{IMAGE_STEM}_{n}.h5"


def mask_path(split: Split, n: int) -> str:
    """The mask file of patch ``n`` of ``split``, relative to the benchmark folder."""
    return f"{SPLIT_DIRS[split]}/{MASK_DIR}/{MASK_STEM}_{n}.h5"


def numbered(folder: str | Path, stem: str) -> dict[int, Path]:
    """The ``<stem>_N.h5`` files of ``folder`` by N, in increasing N (N may have gaps)."""
    pattern = re.compile(rf"{re.escape(stem)}_(\d+)\.h5")
    found = ((pattern.fullmatch(p.name), p) for p in Path(folder).glob(f"{stem}_*.h5"))
    return dict(sorted((int(m.group(1)), p) for m, p in found if m))


#: Suffixes of raster files in a raw folder (Sentinel-2 bands, DEM).
RASTER_SUFFIXES = (".tif", ".tiff", ".jp2", ".TIF", ".TIFF", ".JP2")


def find_band(folder: Path, band: str) -> Path | None:
    """The file of ``band`` in ``folder``: a stem that is, or ends in ``_``/``-`` plus, the band
    name (``B01``, ``B1``, ``s2_B01``, SAFE's ``T18SVG_20160112T160622_B01``).

    Raises:
        InputDataError: several files match the band.
    """
    number = band[1:].lstrip("0")
    pattern = re.compile(rf"(?:^|[_-])B0?{number}$", re.IGNORECASE)
    if not folder.is_dir():
        return None
    hits = sorted(
        p for p in folder.iterdir() if p.suffix in RASTER_SUFFIXES and pattern.search(p.stem)
    )
    if len(hits) > 1:
        raise InputDataError(
            f"{folder}: several files match band {band} ({', '.join(p.name for p in hits)}); "
            "keep one per band"
        )
    return hits[0] if hits else None
