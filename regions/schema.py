"""The region file: one YAML per landslide event region, validated strictly.

A typo in a region file is an error, never a silent default: every model forbids unknown keys,
and :func:`load_region` turns pydantic's report into one message that names the file, the
field, what was found and what to change.

A region file may come from anyone, so it is read defensively: at most :data:`MAX_FILE_BYTES`,
UTF-8 only, YAML without aliases (an alias can expand a small file into gigabytes), numbers
finite (no ``.nan`` or ``.inf``), free text capped; a GeoJSON AOI is read from a regular file
of at most :data:`MAX_GEOJSON_BYTES`, and a self-intersecting polygon is repaired (with a
warning) or, when nothing of it is left, refused.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any, Literal

import shapely
import yaml
from pydantic import BaseModel, Field, PrivateAttr, ValidationError, model_validator
from shapely.geometry import box, shape
from shapely.geometry.base import BaseGeometry

from landslide4sense.choices import DemKind
from landslide4sense.errors import ConfigError, MissingInputError
from landslide4sense.records import (
    DEFAULT_LICENCE,
    Event,
    Imagery,
    StrictModel,
    Window,
)

log = logging.getLogger(__name__)

#: The largest region file read (real ones are about 1 kB).
MAX_FILE_BYTES = 1 << 20
#: The largest GeoJSON AOI read (an AOI of 100,000 vertices is about 4 MB).
MAX_GEOJSON_BYTES = 16 << 20
#: The longest free text copied into the card (``notes``), in characters.
MAX_NOTES = 10_000
MAX_PATH = 4096  # the longest file name a region may give (Linux's PATH_MAX)


class AOI(StrictModel):
    """The area of interest: a lon/lat box, or a GeoJSON file (relative to the YAML)."""

    bbox: tuple[float, float, float, float] | None = None
    geojson: str | None = Field(None, max_length=MAX_PATH)

    @model_validator(mode="after")
    def _one_of(self) -> AOI:
        if (self.bbox is None) == (self.geojson is None):
            raise ValueError("give exactly one of 'bbox' or 'geojson'")
        if self.bbox is not None:
            west, south, east, north = self.bbox
            if not (-180 <= west < east <= 180):
                raise ValueError(
                    f"bbox longitudes must satisfy -180 <= west < east <= 180, got "
                    f"west={west}, east={east} (order is west, south, east, north in degrees)"
                )
            if not (-90 <= south < north <= 90):
                raise ValueError(
                    f"bbox latitudes must satisfy -90 <= south < north <= 90, got "
                    f"south={south}, north={north} (order is west, south, east, north in degrees)"
                )
        return self


class Segmentation(StrictModel):
    """Parameters of the OBIA segmentation (annotation/candidates)."""

    algorithm: Literal["slic", "felzenszwalb"] = "slic"
    n_segments_per_km2: float = Field(40.0, gt=0)
    compactness: float = Field(0.1, gt=0)
    felzenszwalb_scale: float = Field(50.0, gt=0)
    min_size_px: int = Field(8, ge=1)


class Rules(StrictModel):
    """Per-region thresholds of the rule-based classification of segments."""

    ndvi_drop: float = Field(0.2, ge=0)
    brightness_rise: float = Field(0.03, ge=0)
    rel_ndvi_drop: float = Field(0.3, ge=0)
    min_slope: float = Field(12.0, ge=0, le=90)
    min_area_m2: float = Field(1000.0, ge=0)


class Annotation(StrictModel):
    """How labels are made for this region when no corrected labels exist."""

    pre_imagery: Window | None = None  # the pre-event window, for OBIA candidates
    segmentation: Segmentation = Segmentation()
    rules: Rules = Rules()
    min_area_m2: float = Field(100.0, ge=0)
    accept_candidates: bool = False


class Region(StrictModel):
    """One landslide event region, as written in ``regions/<name>.yaml``."""

    name: str = Field(pattern=r"^[a-z0-9][a-z0-9-]*$", max_length=64)
    event: Event
    aoi: AOI
    imagery: Imagery
    dem: DemKind = DemKind.LOCAL
    labels: str | None = Field(None, max_length=MAX_PATH)
    annotation: Annotation = Annotation()
    notes: str = Field("", max_length=MAX_NOTES)
    # SPDX id of the licence of this region's patches: what its labels' licence allows.
    licence: str = Field(DEFAULT_LICENCE, pattern=r"^[A-Za-z0-9][A-Za-z0-9.+-]*$", max_length=64)

    _path: Path | None = PrivateAttr(default=None)

    @model_validator(mode="after")
    def _imagery_after_event(self) -> Region:
        pre = self.annotation.pre_imagery
        if pre is not None and pre.end > self.event.date:
            raise ValueError(
                f"annotation.pre_imagery ends {pre.end}, after the event ({self.event.date}); "
                "the pre-event window must end before it"
            )
        if self.imagery.end < self.event.date:
            raise ValueError(
                f"imagery window ends {self.imagery.end}, before the event "
                f"({self.event.date}); the scars must be imaged after the event"
            )
        return self

    @property
    def path(self) -> Path | None:
        """The YAML file this region was loaded from, if any."""
        return self._path

    def aoi_geometry(self) -> BaseGeometry:
        """The AOI as a shapely geometry in lon/lat (EPSG:4326)."""
        if self.aoi.bbox is not None:
            return box(*self.aoi.bbox)
        return _read_geojson_aoi(self._resolve(self.aoi.geojson))

    def _resolve(self, relative: str) -> Path:
        p = Path(relative)
        if not p.is_absolute() and self._path is not None:
            p = self._path.parent / p
        return p

    def to_yaml(self) -> str:
        """The region as YAML text (the form :func:`load_region` reads)."""
        data = self.model_dump(mode="json", exclude_defaults=True)
        return yaml.safe_dump(data, sort_keys=False, allow_unicode=True)


def read_capped(path: Path, cap: int, what: str) -> str:
    """The UTF-8 text of regular file ``path``, refused past ``cap`` bytes.

    Raises:
        MissingInputError: no such file.
        ConfigError: not a regular file (a device, a folder), larger than ``cap``, or not UTF-8.
    """
    if not path.exists():
        raise MissingInputError(f"{path}: {what} not found")
    if not path.is_file():
        raise ConfigError(f"{path}: {what} must be a regular file, not a device or a folder")
    with open(path, "rb") as f:
        data = f.read(cap + 1)
    if len(data) > cap:
        raise ConfigError(
            f"{path}: {what} is larger than {cap:,} bytes; is this the right file? (simplify "
            "it, for example with `ogr2ogr -simplify`)"
        )
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as err:
        raise ConfigError(
            f"{path}: {what} is not UTF-8 text (byte {err.start}: {data[err.start]:#04x}); "
            "save it as UTF-8"
        ) from err


def _polygonal(geom: BaseGeometry, path: Path) -> BaseGeometry:
    """``geom`` itself when valid; else repaired (its polygonal part), with a warning.

    Raises:
        ConfigError: nothing polygonal is left.
    """
    if geom.is_valid and geom.geom_type in ("Polygon", "MultiPolygon"):
        return geom
    why = shapely.is_valid_reason(geom)
    fixed = shapely.make_valid(geom)
    parts = [p for p in shapely.get_parts(fixed) if p.geom_type in ("Polygon", "MultiPolygon")]
    area = shapely.union_all(parts) if parts else None
    if area is None or area.is_empty or area.area == 0:
        raise ConfigError(
            f"{path}: the AOI is a {geom.geom_type} with no area ({why}); give a Polygon that "
            "encloses the region (its first and last points equal, edges not crossing)"
        )
    log.warning("%s: the AOI polygon was invalid (%s): repaired as a valid polygon", path, why)
    return area


def _read_geojson_aoi(path: Path) -> BaseGeometry:
    text = read_capped(path, MAX_GEOJSON_BYTES, "AOI GeoJSON file (aoi.geojson in the region)")
    try:
        data = json.loads(text)
    except json.JSONDecodeError as err:
        raise ConfigError(f"{path}: AOI GeoJSON is not valid JSON ({err})") from err
    features = data.get("features", [data]) if isinstance(data, dict) else []
    try:
        geoms = [shape(f.get("geometry", f)) for f in features]
    except (AttributeError, KeyError, TypeError, ValueError, shapely.errors.ShapelyError) as err:
        raise ConfigError(
            f"{path}: AOI GeoJSON is not a valid geometry ({type(err).__name__}: {err}); give "
            'a Polygon, e.g. {"type": "Polygon", "coordinates": [[[lon, lat], ...]]}, or a '
            "FeatureCollection of them"
        ) from err
    if not geoms:
        raise ConfigError(f"{path}: AOI GeoJSON holds no geometry; add one Polygon in lon/lat")
    geom = shapely.union_all([_polygonal(g, path) for g in geoms])
    minx, miny, maxx, maxy = geom.bounds
    if not (-180 <= minx <= maxx <= 180 and -90 <= miny <= maxy <= 90):
        raise ConfigError(
            f"{path}: AOI GeoJSON coordinates {geom.bounds} are not lon/lat degrees; "
            "GeoJSON must be in EPSG:4326 (longitude, latitude)"
        )
    return geom


def _format_errors(path: Path | str, err: ValidationError) -> str:
    allowed = _allowed_keys()
    lines = []
    for e in err.errors():
        loc = ".".join(str(p) for p in e["loc"]) or "(top level)"
        kind = e["type"]
        if kind == "extra_forbidden":
            parent = ".".join(str(p) for p in e["loc"][:-1])
            keys = allowed.get(parent, [])
            lines.append(
                f"  {loc}: unknown key; remove it or fix its spelling (allowed here: "
                f"{', '.join(keys)})"
            )
        elif kind == "missing":
            lines.append(
                f"  {loc}: missing required key; add it (every key is listed in the README, "
                "under 'A region is one YAML file')"
            )
        else:
            msg = e["msg"].removeprefix("Value error, ")
            found = repr(e.get("input"))
            found = found if len(found) <= 80 else f"{found[:60]}... ({len(found):,} characters)"
            lines.append(f"  {loc}: {msg} (found {found})")
    return f"{path}: invalid region file: " + "; ".join(ln.strip() for ln in lines)


def _allowed_keys() -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}

    def walk(model: type[BaseModel], prefix: str) -> None:
        out[prefix] = list(model.model_fields)
        for name, field in model.model_fields.items():
            ann = field.annotation
            if isinstance(ann, type) and issubclass(ann, BaseModel):
                walk(ann, f"{prefix}.{name}" if prefix else name)

    walk(Region, "")
    return out


def parse_region(data: Any, path: Path | str = "<region>") -> Region:
    """Validate an already-parsed region mapping.

    Raises:
        ConfigError: naming ``path`` and every invalid field.
    """
    if not isinstance(data, dict):
        raise ConfigError(
            f"{path}: a region file must be a YAML mapping, found {type(data).__name__}"
        )
    try:
        region = Region.model_validate(data)
    except ValidationError as err:
        raise ConfigError(_format_errors(path, err)) from err
    if isinstance(path, Path):
        region._path = path.resolve()
    return region


class AliasError(yaml.YAMLError):
    """A YAML alias (``*name``) in a region file."""


class _NoAliases(yaml.SafeLoader):
    """YAML's safe loader, refusing aliases: a region file has no use for them, and nested
    ones expand a file of a few hundred bytes into gigabytes."""

    def compose_node(self, parent, index):
        if self.check_event(yaml.AliasEvent):
            mark = self.peek_event().start_mark
            raise AliasError(
                f"line {mark.line + 1}: YAML aliases (*name) are not allowed in a region "
                "file; write the value out"
            )
        return super().compose_node(parent, index)


def _first_line(err: yaml.YAMLError) -> str:
    """A YAML error in one line, without the excerpt of the file it quotes."""
    if isinstance(err, AliasError):
        return str(err)
    mark = getattr(err, "problem_mark", None)
    where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
    return where + str(getattr(err, "problem", None) or err).splitlines()[0]


def load_region(path: str | Path) -> Region:
    """Read and validate ``regions/<name>.yaml``.

    Raises:
        MissingInputError: the file does not exist.
        ConfigError: the YAML is malformed or a field is invalid (the message names it).
    """
    path = Path(path)
    if not path.exists():
        raise MissingInputError(f"{path}: region file not found")
    text = read_capped(path, MAX_FILE_BYTES, "region file")
    try:
        data = yaml.load(text, Loader=_NoAliases)  # a SafeLoader without aliases
    except yaml.YAMLError as err:
        raise ConfigError(f"{path}: not valid YAML ({_first_line(err)})") from err
    region = parse_region(data, path)
    region.aoi_geometry()  # a GeoJSON AOI is checked now, not halfway through a build
    return region


def load_regions(folder: str | Path) -> list[Region]:
    """Every ``*.yaml`` region in ``folder``, sorted by name.

    Raises:
        MissingInputError: the folder holds no region file.
        ConfigError: a region is invalid, or two files use the same name.
    """
    folder = Path(folder)
    files = sorted(folder.glob("*.yaml")) + sorted(folder.glob("*.yml"))
    if not files:
        raise MissingInputError(f"{folder}: no region files (*.yaml) found")
    regions = [load_region(f) for f in files]
    seen: dict[str, Path | None] = {}
    for r in regions:
        if r.name in seen:
            raise ConfigError(
                f"{r.path}: region name '{r.name}' is also used by {seen[r.name]}; "
                "names must be unique"
            )
        seen[r.name] = r.path
    return sorted(regions, key=lambda r: r.name)
