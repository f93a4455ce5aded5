"""Validated records of what crosses a stage boundary or the disk.

Stages hand each other these models, never loose dicts: a region's layer provenance (flows to
patching), a block's tile records (cutting to publishing), the manifest rows and the dataset
metadata (publishing to training, and to a later ``add-region``), and the parts of a region
file that the metadata repeats (its event, imagery window and licence; :mod:`regions.schema`
builds the region file's model on them, so the core needs no region code). Every model forbids
unknown keys, so a misspelt field is an error where it is made, not a ``KeyError`` two stages
later.
``dataset.json`` carries a :data:`SCHEMA_VERSION`; :func:`read_dataset_meta` says what to do
with a file written by an older or newer landslide4sense.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PlainSerializer,
    PlainValidator,
    ValidationError,
    model_serializer,
    model_validator,
)

from landslide4sense.choices import RELEASE, DemKind, OutputLayout, Scaling, SourceKind, Split
from landslide4sense.errors import InputDataError, MissingInputError, OutdatedFileError
from landslide4sense.files import write_json, write_text
from landslide4sense.geo import Grid

#: The version of the ``dataset.json`` format this code writes and reads.
SCHEMA_VERSION = 1


class Record(BaseModel):
    """A record: unknown keys are errors."""

    model_config = ConfigDict(extra="forbid")


# The parts of a region file that a benchmark's metadata repeats (its event, imagery window and
# licence): here, so that the metadata does not depend on the region loader; regions.schema
# builds the region file's model from them.

#: Sentinel-2A was launched on 2015-06-23; no Sentinel-2 image is older.
SENTINEL2_START = dt.date(2015, 6, 23)


class StrictModel(BaseModel):
    """A part of a region file: unknown keys are errors, numbers are finite (``.nan`` would pass
    every range check), and it does not change once read."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class Event(StrictModel):
    """What triggered the landslides and when."""

    trigger: Literal["earthquake", "rainfall", "typhoon", "snowmelt", "volcanic", "other"]
    date: dt.date


class Window(StrictModel):
    """A window of Sentinel-2 acquisition dates."""

    start: dt.date
    end: dt.date

    @model_validator(mode="after")
    def _window(self) -> Window:
        if self.start < SENTINEL2_START:
            raise ValueError(
                f"start {self.start} is before Sentinel-2's first image ({SENTINEL2_START}); "
                "choose a later window (for older events the scars stay visible for years)"
            )
        if self.end <= self.start:
            raise ValueError(f"end {self.end} must come after start {self.start}")
        return self


class Imagery(Window):
    """The post-event imagery window, kept apart from the event date."""

    cloud_threshold: float = Field(0.6, ge=0.0, le=1.0)
    max_scene_cloud: float = Field(60.0, ge=0.0, le=100.0)
    #: Earth Engine's block side in px (None: the largest within its request limits); lower
    #: it for long windows, whose medians run out of memory on Earth Engine's side.
    block_px: int | None = Field(None, ge=128, le=32768)


#: The licence of a region's patches when its file names none (SPDX id).
DEFAULT_LICENCE = "CC-BY-4.0"


def _to_grid(value: Any) -> Grid:
    if isinstance(value, Grid):
        return value
    if isinstance(value, dict):
        return Grid.from_dict(value)
    raise ValueError(f"expected a grid (crs, transform, width, height), got {value!r}")


#: A :class:`~landslide4sense.geo.Grid` field, stored as its ``to_dict()``.
GridField = Annotated[
    Grid, PlainValidator(_to_grid), PlainSerializer(lambda g: g.to_dict(), return_type=dict)
]


def _to_layout(value: Any) -> OutputLayout:
    if isinstance(value, OutputLayout):
        return value
    if isinstance(value, str):
        return OutputLayout.named(value)
    raise ValueError(f"expected a layout name, got {value!r}")


#: An :class:`~landslide4sense.choices.OutputLayout` field, stored by its name (``with-valid``).
LayoutField = Annotated[
    OutputLayout, PlainValidator(_to_layout), PlainSerializer(str, return_type=str)
]


class Scene(Record):
    """One Sentinel-2 acquisition that contributed pixels."""

    id: str
    date: str | None = None
    cloud_cover: float | None = None


class MergeReport(Record):
    """Counts of the last merge of corrections into labels (``l4s annotate merge``)."""

    candidates: int = 0
    added: int = 0
    deleted: int = 0
    reshaped: int = 0
    labels: int = 0
    invalid_repaired: int = 0
    slivers_dropped: int = 0
    overlaps_dissolved: int = 0
    area_m2: float = 0.0
    merged_at: str | None = None


class LabelReport(Record):
    """Counts of what label cleaning did, for the log and the dataset card."""

    source: str
    crs: str
    features_read: int = 0
    invalid_repaired: int = 0
    empty_dropped: int = 0
    non_polygon_dropped: int = 0
    slivers_dropped: int = 0
    polygons: int = 0
    area_m2: float = 0.0
    layer: str | None = None
    corrections: MergeReport | None = None  # when the labels were made by correcting candidates


class LabelFile(Record):
    """The label polygons a region is built with: a vector file and its layer."""

    path: Path
    layer: str | None = None  # None: the file's only layer (or its ``labels`` layer)


class _Provenance(Record):
    """Where a region's layers came from (shared by the job and the published metadata)."""

    source: SourceKind
    scenes: list[Scene] = []
    details: dict[str, Any] = {}
    labels: LabelReport | None = None
    event: Event | None = None
    imagery: Imagery | None = None
    dem: DemKind = DemKind.LOCAL
    notes: str = ""
    licence: str = DEFAULT_LICENCE  # SPDX id, from the region file


class LayerProvenance(_Provenance):
    """A region's layer provenance, as the build flow hands it to publishing."""

    region_yaml: str = ""  # the region file's text (published beside the benchmark)


class DropCounts(Record):
    """Tiles dropped, by reason."""

    nodata: int = 0  # some pixel of some band has no data
    outside_aoi: int = 0

    def __add__(self, other: DropCounts) -> DropCounts:
        return DropCounts(
            nodata=self.nodata + other.nodata, outside_aoi=self.outside_aoi + other.outside_aoi
        )


class TileRecord(Record):
    """One kept tile of a region: where it lies, its checksum and its band sums.

    The sums are over the tile's pixels after scaling; they give the benchmark's band
    statistics without reading the patches again.
    """

    row: int
    col: int
    bounds: tuple[float, float, float, float]  # left, bottom, right, top in the grid's CRS
    landslide_px: int
    sha256: str  # of the image's then the mask's bytes
    sum: list[float]
    sumsq: list[float]
    sum_ls: list[float]  # over landslide pixels only


class BlockIndex(Record):
    """What cutting a block of tile rows kept and dropped (written when all its patches exist)."""

    rows: tuple[int, int]  # start, stop
    tiles: list[TileRecord]
    dropped: DropCounts


class ManifestRow(Record):
    """One row of ``manifest.csv``: one patch."""

    id: str
    split: Split
    index: int  # N of image_N.h5, from 1 per split
    image: str  # relative to the benchmark folder
    mask: str
    region: str
    tile_row: int
    tile_col: int
    xmin: float
    ymin: float
    xmax: float
    ymax: float
    crs: str
    landslide_fraction: float
    scene_ids: str  # separated by ';'
    scene_dates: str  # separated by ';', in the order of scene_ids
    source: SourceKind
    sha256: str
    version: str


class SplitSummary(Record):
    """Patch count, landslide share, and per-band means of landslide and other pixels."""

    patches: int
    landslide_share: float
    landslide: list[float] | None  # None when there is no landslide pixel
    background: list[float] | None


class _MaybeVal(BaseModel):
    """A record with a ``val`` field that only the with-valid layout fills: left out of the
    JSON when empty, so a release-layout ``dataset.json`` names no validation split."""

    @model_serializer(mode="wrap")
    def _without_empty_val(self, handler):
        data = handler(self)
        if not data.get("val"):
            data.pop("val", None)
        return data


class Summary(_MaybeVal, Record):
    """A group of patches (a region, or all) summarised per split."""

    name: str
    train: SplitSummary
    test: SplitSummary
    val: SplitSummary | None = None  # in the with-valid layout


class RegionMeta(_MaybeVal, _Provenance):
    """A region of a published benchmark: its grid, provenance, drops and summaries."""

    name: str
    grid: GridField
    dropped: DropCounts
    train: SplitSummary
    test: SplitSummary
    val: SplitSummary | None = None  # in the with-valid layout


class SplitCounts(_MaybeVal, Record):
    train: int
    test: int
    val: int = 0  # in the with-valid layout


class Counts(SplitCounts):
    """Patches per split, overall and per region."""

    regions: dict[str, SplitCounts]


class HistoryEntry(Record):
    """A version published before the current one."""

    version: str
    created: dt.datetime
    counts: Counts


class DatasetMeta(Record):
    """``dataset.json``: what a benchmark holds and how it was made."""

    schema_version: int = SCHEMA_VERSION
    name: str = "Landslide4Sense (rebuilt)"
    version: str  # a content hash of every patch, its split and number
    created: dt.datetime
    code_version: str
    layout: LayoutField = RELEASE
    patch_size: int
    bands: list[str]
    units: list[str]
    scaling: Scaling
    scale_divisors: list[float]
    resampling: str
    split_rule: str
    train_mean: list[float]
    train_std: list[float]
    counts: Counts
    regions: list[RegionMeta]
    all: Summary  # every region together
    history: list[HistoryEntry] = []
    # SPDX id of the patches' licence: the regions' when they agree, else "other" (each
    # region's is in regions[].licence).
    licence: str = DEFAULT_LICENCE
    # What built it: package, git commit, Python, GDAL, PROJ, rasterio, numpy, h5py, torch.
    environment: dict[str, str | None] = {}
    # Pairs of patch ids of different splits whose footprints overlap (regions that overlap).
    split_overlaps: list[tuple[str, str]] = []
    renumbered: list[str] = []  # regions whose numbers changed in this version, in words


def _invalid(err: ValidationError) -> str:
    return "; ".join(
        f"{'.'.join(str(p) for p in e['loc']) or '(top level)'}: {e['msg']}" for e in err.errors()
    )


def read_dataset_meta(path: str | Path) -> DatasetMeta:
    """Read and validate a benchmark's ``dataset.json``.

    Raises:
        MissingInputError: the file does not exist.
        InputDataError: it is not JSON, was written by an older or newer landslide4sense, or
            a field is invalid (the message names the file, the field and what to do).
    """
    path = Path(path)
    if not path.is_file():
        raise MissingInputError(f"{path}: not found (a benchmark folder holds a dataset.json)")
    rebuild = (
        f"rebuild the benchmark in {path.parent} with `l4s build --out {path.parent}` (or "
        "`l4s add-region`); unchanged patches keep their content and version"
    )
    try:
        data = json.loads(path.read_text())
    except json.JSONDecodeError as err:
        raise InputDataError(f"{path}: not valid JSON ({err}); {rebuild}") from err
    found = data.get("schema_version") if isinstance(data, dict) else None
    if not isinstance(found, int):
        raise OutdatedFileError(
            f"{path}: no schema_version (written before dataset.json had one, or not a "
            f"landslide4sense dataset.json); this code reads schema {SCHEMA_VERSION}: {rebuild}"
        )
    if found > SCHEMA_VERSION:
        raise InputDataError(
            f"{path}: schema_version {found} is newer than this landslide4sense reads "
            f"({SCHEMA_VERSION}); upgrade it (pip install -U landslide4sense)"
        )
    if found < SCHEMA_VERSION:
        raise OutdatedFileError(
            f"{path}: schema_version {found} is older than this code reads ({SCHEMA_VERSION}); "
            f"{rebuild}"
        )
    try:
        return DatasetMeta.model_validate(data)
    except ValidationError as err:
        raise InputDataError(f"{path}: invalid dataset.json: {_invalid(err)}; {rebuild}") from err


def write_dataset_meta(path: str | Path, meta: DatasetMeta) -> Path:
    """Write ``dataset.json`` atomically (indented, keys sorted)."""
    return write_json(path, meta.model_dump(mode="json"))


MANIFEST_FIELDS: list[str] = list(ManifestRow.model_fields)


def write_manifest(path: str | Path, rows: list[ManifestRow]) -> Path:
    """Write ``manifest.csv`` atomically: a header, then one line per row."""
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=MANIFEST_FIELDS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(r.model_dump(mode="json") for r in rows)
    return write_text(path, buf.getvalue())


def read_manifest(path: str | Path) -> list[ManifestRow]:
    """Read and validate ``manifest.csv``.

    Raises:
        InputDataError: a row lacks a column, has an unknown one, or an invalid value.
    """
    path = Path(path)
    with path.open(newline="") as f:
        reader = csv.DictReader(f)
        try:
            return [ManifestRow.model_validate(r) for r in reader]
        except ValidationError as err:
            raise InputDataError(
                f"{path}: line {reader.line_num}: {_invalid(err)}; expected the columns "
                f"{', '.join(MANIFEST_FIELDS)}"
            ) from err
