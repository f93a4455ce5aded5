"""An Earth Engine REST stand-in as strict as the service, built from ``contracts/``.

It knows the catalog entries of ``earthengine-assets.json`` (asset ids, types, band names),
checks every function call of an expression against the algorithm list that earthengine-api
ships (names, argument names, required arguments), and *evaluates* the expressions the
pipeline sends (filters, Cloud Score+ link and mask, median, rounding, casts, region means)
with numpy over the scenes it was given, so cloud masks and medians are tested, not echoed.

It enforces what ``earthengine.md`` documents, with the service's own messages where the
contract quotes them: the request fields and ``fileFormat`` values of ``computePixels``, the
48 MB / 32768 px limits, ``Image.select`` patterns that match no band, unknown JSON fields,
and HTTP 429 past the concurrency quota (no ``Retry-After`` unless asked). Where the contract
has no text (unknown asset or function, band count, credentials, project), the wording is the
stand-in's own and says so (``[stand-in wording]``): tests match the status and the gist.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import threading
import time
import warnings
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import ee
import numpy as np
import rasterio
import shapely
from affine import Affine
from google.oauth2.credentials import Credentials
from pyproj import Transformer
from rasterio.io import MemoryFile
from rasterio.warp import Resampling, reproject, transform_bounds
from shapely.geometry import Polygon, box

from landslide4sense.geo import Grid
from tests.acquisition.fakes.http import Handler, serving
from tests.helpers import CONTRACTS

EE_DIR = Path(ee.__file__).parent / "tests"
ALGORITHMS = {
    a["name"].removeprefix("algorithms/"): a
    for a in json.loads((EE_DIR / "algorithms.json").read_text())["algorithms"]
}
MAX_BYTES = 50331648  # 48 x 1024 x 1024 (the message quotes this number)
MAX_SIDE = 32768
MAX_BANDS = 1024
CONCURRENCY = 40
API_VERSIONS = ("v1", "v1beta", "v1alpha")
COMPUTE_FIELDS = {
    "expression",
    "fileFormat",
    "grid",
    "bandIds",
    "visualizationOptions",
    "workloadTag",
}
GRID_FIELDS = {"dimensions", "affineTransform", "crsCode", "crsWkt"}
FORMATS = {
    "IMAGE_FILE_FORMAT_UNSPECIFIED",
    "JPEG",
    "PNG",
    "AUTO_JPEG_PNG",
    "NPY",
    "GEO_TIFF",
    "TF_RECORD_IMAGE",
    "ZIPPED_GEO_TIFF",
    "ZIPPED_GEO_TIFF_PER_BAND",
}
TOO_MANY = (
    "Too Many Requests: Request was rejected because the request rate or concurrency "
    "limit was exceeded."
)
DTYPE_BYTES = {"uint8": 1, "uint16": 2, "int16": 2, "float32": 4, "float64": 8}


def contract() -> dict:
    """The asset contracts: id to {type, bands: [{name, data_type, ...}], ...}."""
    return json.loads((CONTRACTS / "earthengine-assets.json").read_text())["assets"]


class EEError(Exception):
    """An answer other than 200: HTTP status, Google status and message."""

    def __init__(self, code: int, status: str, message: str, field_name: str | None = None):
        super().__init__(message)
        self.code, self.status, self.message, self.field = code, status, message, field_name

    def body(self) -> dict:
        err = {"code": self.code, "message": self.message, "status": self.status}
        if self.field:
            err["details"] = [
                {
                    "@type": "type.googleapis.com/google.rpc.BadRequest",
                    "fieldViolations": [{"field": self.field, "description": self.message}],
                }
            ]
        return {"error": err}


def bad_request(message: str, field_name: str | None = None) -> EEError:
    return EEError(400, "INVALID_ARGUMENT", message, field_name)


def not_in_stand_in(what: str) -> EEError:
    """Valid for the service but not implemented here: a test would be wrong to rely on it."""
    return EEError(501, "UNIMPLEMENTED", f"{what} [not implemented by the stand-in]")


# --------------------------------------------------------------------------- the catalog


@dataclass
class Scene:
    """One image of a collection: ``bands`` maps catalog band names to (grid, array)."""

    index: str
    time: str  # ISO date or datetime (UTC)
    bands: dict[str, tuple[Grid, np.ndarray]]
    properties: dict = field(default_factory=dict)
    footprint: Polygon | None = None  # lon/lat; default: the first band's bounds

    def __post_init__(self) -> None:
        if self.footprint is None:
            grid = next(iter(self.bands.values()))[0]
            self.footprint = box(*transform_bounds(grid.crs, "EPSG:4326", *grid.bounds))

    @property
    def time_ms(self) -> int:
        t = dt.datetime.fromisoformat(self.time)
        t = t if t.tzinfo else t.replace(tzinfo=dt.UTC)
        return int(t.timestamp() * 1000)


# --------------------------------------------------------------------------- values


@dataclass
class Img:
    """An image: band names, their pixel type, properties, and a way to read a band on a grid
    (masked array)."""

    bands: list[str]
    dtypes: dict[str, str]
    props: dict
    read: object  # callable(band, grid) -> np.ma.MaskedArray (float64)
    crs: str = "EPSG:4326"
    resolution: float = 1.0

    def band(self, name: str, grid: Grid) -> np.ma.MaskedArray:
        return self.read(name, grid)


def _on_grid(src_grid: Grid, data: np.ndarray, grid: Grid) -> np.ma.MaskedArray:
    """``data`` (on ``src_grid``) on ``grid``: a slice when aligned, else nearest-neighbour."""
    t, s = grid.transform, src_grid.transform
    if grid.crs == src_grid.crs and (t.a, t.e) == (s.a, s.e):
        col, row = (t.c - s.c) / s.a, (t.f - s.f) / s.e
        if float(col).is_integer() and float(row).is_integer():
            col, row = int(col), int(row)
            out = np.ma.masked_all((grid.height, grid.width))
            r0, c0 = max(row, 0), max(col, 0)
            r1, c1 = min(row + grid.height, src_grid.height), min(col + grid.width, src_grid.width)
            if r1 > r0 and c1 > c0:
                out[r0 - row : r1 - row, c0 - col : c1 - col] = data[r0:r1, c0:c1]
            return out
    dst = np.full((grid.height, grid.width), np.nan)
    reproject(
        data.astype("float64"),
        dst,
        src_transform=s,
        src_crs=src_grid.crs,
        dst_transform=t,
        dst_crs=grid.crs,
        resampling=Resampling.nearest,
        src_nodata=np.nan,
        dst_nodata=np.nan,
    )
    return np.ma.masked_invalid(dst)


def scene_image(scene: Scene, asset: dict) -> Img:
    names = [b["name"] for b in asset["bands"]]
    dtypes = {b["name"]: b.get("data_type") or "float32" for b in asset["bands"]}

    def read(name: str, grid: Grid) -> np.ma.MaskedArray:
        if name not in scene.bands:
            return np.ma.masked_all((grid.height, grid.width))
        return _on_grid(*scene.bands[name], grid)

    first = next(iter(scene.bands.values()))[0]
    props = {
        **scene.properties,
        "system:index": scene.index,
        "system:time_start": scene.time_ms,
        "system:footprint": scene.footprint,
    }
    return Img(names, dtypes, props, read, first.crs, first.resolution)


def derived(img: Img, bands: list[str], fn, dtypes: dict | None = None) -> Img:
    """An image computed from ``img``: ``fn(band, grid)`` gives the band named ``band``."""
    dtypes = dtypes or {b: img.dtypes.get(b, "float32") for b in bands}
    return Img(bands, dtypes, img.props, fn, img.crs, img.resolution)


class Coll(list):
    """A collection (of images or features)."""


# --------------------------------------------------------------------------- the evaluator


class Evaluator:
    """Evaluates a serialized expression graph over the stand-in's catalog."""

    def __init__(self, catalog: dict[str, list[Scene]], assets: dict):
        self.catalog, self.assets = catalog, assets

    def run(self, expression: dict):
        if set(expression) - {"values", "result"}:
            raise bad_request(
                f"Invalid JSON payload received. Unknown name "
                f'"{sorted(set(expression) - {"values", "result"})[0]}" at '
                "'expression': Cannot find field.",
                "expression",
            )
        self.values = expression.get("values", {})
        return self.node(self.values[expression["result"]], {})

    def node(self, n: dict, env: dict):
        (kind, v), *rest = n.items()
        if rest:
            raise bad_request(f"a ValueNode holds one value, got {sorted(n)} [stand-in wording]")
        if kind == "constantValue":
            return v
        if kind == "integerValue":
            return int(v)
        if kind == "valueReference":
            return self.node(self.values[v], env)
        if kind == "arrayValue":
            return [self.node(x, env) for x in v["values"]]
        if kind == "dictionaryValue":
            return {k: self.node(x, env) for k, x in v["values"].items()}
        if kind == "argumentReference":
            return env[v]
        if kind == "functionDefinitionValue":
            return lambda *args: self.node(
                self.values[v["body"]], {**env, **dict(zip(v["argumentNames"], args, strict=True))}
            )
        if kind == "functionInvocationValue":
            return self.invoke(v["functionName"], v.get("arguments", {}), env)
        raise bad_request(
            f'Invalid JSON payload received. Unknown name "{kind}": Cannot find field.'
        )

    def invoke(self, name: str, arguments: dict, env: dict):
        spec = ALGORITHMS.get(name)
        if spec is None:
            raise bad_request(f"Unknown algorithm: {name} [stand-in wording]")
        declared = {a["argumentName"]: a for a in spec.get("arguments", [])}
        unknown = set(arguments) - set(declared)
        if unknown:
            raise bad_request(f"{name}: unknown argument(s) {sorted(unknown)} [stand-in wording]")
        missing = [a for a, d in declared.items() if not d.get("optional") and a not in arguments]
        if missing:
            raise bad_request(f"{name}: missing required argument(s) {missing} [stand-in wording]")
        impl = getattr(self, "f_" + name.replace(".", "_"), None)
        if impl is None:
            raise not_in_stand_in(f"algorithm {name}")
        args = {k: self.node(v, env) for k, v in arguments.items()}
        return impl(**args)

    # ---- loading and filtering
    def _asset(self, asset_id: str, kind: str) -> dict:
        asset = self.assets.get(asset_id)
        if asset is None or asset_id not in self.catalog:
            raise bad_request(
                f"{kind}.load: {kind} asset '{asset_id}' not found (does not "
                "exist or caller does not have access). [stand-in wording]"
            )
        if asset["type"] != kind:
            raise bad_request(
                f"{kind}.load: asset '{asset_id}' is an {asset['type']}, not an "
                f"{kind}. [stand-in wording]"
            )
        return asset

    def f_ImageCollection_load(self, id, version=None):
        asset = self._asset(id, "ImageCollection")
        return Coll(scene_image(s, asset) for s in self.catalog[id])

    def f_Image_load(self, id, version=None):
        return scene_image(self.catalog[id][0], self._asset(id, "Image"))

    def f_Collection_filter(self, collection, filter):
        return Coll(img for img in collection if filter(img))

    def f_Filter_intersects(
        self, leftField=None, rightValue=None, rightField=None, leftValue=None, maxError=None
    ):
        if leftField != ".all" or rightValue is None:
            raise not_in_stand_in("Filter.intersects other than filterBounds")
        geom = rightValue["geometry"] if isinstance(rightValue, dict) else rightValue
        return lambda img: img.props["system:footprint"].intersects(geom)

    def f_Filter_dateRangeContains(
        self, leftField=None, rightValue=None, rightField=None, leftValue=None
    ):
        if rightField != "system:time_start" or leftValue is None:
            raise not_in_stand_in("Filter.dateRangeContains other than filterDate")
        start, end = leftValue
        return lambda img: start <= img.props["system:time_start"] < end

    def f_DateRange(self, start, end=None, timeZone=None):
        def ms(v):
            t = dt.datetime.fromisoformat(v) if isinstance(v, str) else None
            if t is None:
                return int(v)
            return int((t if t.tzinfo else t.replace(tzinfo=dt.UTC)).timestamp() * 1000)

        return ms(start), ms(end)

    def f_Projection(self, crs, transform=None, transformWkt=None):
        return crs

    def f_GeometryConstructors_Polygon(
        self, coordinates, crs=None, geodesic=None, maxError=None, evenOdd=None
    ):
        if crs not in (None, "EPSG:4326"):
            raise not_in_stand_in(f"polygons in {crs}")
        return Polygon(coordinates[0], coordinates[1:])

    def f_Feature(self, geometry=None, metadata=None):
        return {"geometry": geometry, "properties": metadata or {}}

    def f_Collection_size(self, collection):
        return len(collection)

    def f_Collection_limit(self, collection, limit=None, key=None, ascending=None):
        if key not in (None, "system:time_start"):
            raise not_in_stand_in(f"Collection.limit by {key}")
        ordered = (
            sorted(
                collection, key=lambda i: i.props["system:time_start"], reverse=ascending is False
            )
            if key
            else collection
        )
        return Coll(ordered[:limit])

    def f_Collection_map(self, collection, baseAlgorithm, dropNulls=None):
        return Coll(baseAlgorithm(x) for x in collection)

    # ---- images
    def f_Image_select(self, input, bandSelectors, newNames=None):
        chosen = []
        for sel in bandSelectors:
            if isinstance(sel, int):
                chosen.append(input.bands[sel])
                continue
            hits = [b for b in input.bands if re.fullmatch(sel, b)]
            if not hits:
                raise bad_request(
                    f"Image.select: Pattern '{sel}' did not match any bands. "
                    f"Available bands: [{', '.join(input.bands)}]"
                )
            chosen += hits
        names = list(newNames) if newNames is not None else chosen
        if len(names) != len(chosen):
            raise bad_request(
                f"Image.select: {len(chosen)} bands selected, {len(names)} new "
                "names given. [stand-in wording]"
            )
        mapping = dict(zip(names, chosen, strict=True))
        return derived(
            input,
            names,
            lambda b, g: input.band(mapping[b], g),
            {n: input.dtypes[c] for n, c in mapping.items()},
        )

    def f_Image_linkCollection(
        self,
        input,
        imageCollection,
        linkedBands=None,
        linkedProperties=None,
        matchPropertyName=None,
    ):
        key = matchPropertyName or "system:index"
        match = next((i for i in imageCollection if i.props.get(key) == input.props.get(key)), None)
        linked = list(linkedBands or [])
        if match is not None:
            self.f_Image_select(match, linked)  # unknown band names fail as select does

        def read(b, g):
            if b not in linked:
                return input.band(b, g)
            if match is None:  # "any new or updated bands will be fully masked"
                return np.ma.masked_all((g.height, g.width))
            return match.band(b, g)

        dtypes = {**input.dtypes, **{b: (match.dtypes[b] if match else "float32") for b in linked}}
        return derived(input, [*[b for b in input.bands if b not in linked], *linked], read, dtypes)

    def f_Image_constant(self, value):
        return Img(
            ["constant"],
            {"constant": "float64"},
            {},
            lambda b, g: np.ma.masked_array(np.full((g.height, g.width), float(value))),
        )

    def _binary(self, image1, image2, op):
        def read(b, g):
            other = image2.bands[0] if len(image2.bands) == 1 else b
            return np.ma.masked_array(op(image1.band(b, g), image2.band(other, g)).astype(float))

        return derived(image1, image1.bands, read, dict.fromkeys(image1.bands, "uint8"))

    def f_Image_gte(self, image1, image2):
        return self._binary(image1, image2, np.ma.greater_equal)

    def f_Image_lt(self, image1, image2):
        return self._binary(image1, image2, np.ma.less)

    def f_Image_updateMask(self, image, mask):
        single = len(mask.bands) == 1
        last: dict = {}  # a one-band mask is read once per grid, not once per band

        def keep(b, g) -> np.ndarray:
            if not single:
                return mask.band(b, g).filled(0) != 0
            if last.get("grid") != g:
                last.update(grid=g, keep=mask.band(mask.bands[0], g).filled(0) != 0)
            return last["keep"]

        def read(b, g):
            values = image.band(b, g)
            return np.ma.masked_array(values, np.ma.getmaskarray(values) | ~keep(b, g))

        return derived(image, image.bands, read, image.dtypes)

    def f_reduce_median(self, collection):
        if not collection:
            return Img([], {}, {}, lambda b, g: None)
        bands = list(dict.fromkeys(b for img in collection for b in img.bands))

        def read(b, g):
            layers = [img.band(b, g) for img in collection if b in img.bands]
            if len(layers) == 1:  # the median of one value
                return layers[0]
            stack = np.stack([v.astype(float).filled(np.nan) for v in layers])
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)  # masked in every image
                return np.ma.masked_invalid(np.nanmedian(stack, axis=0))

        first = collection[0]
        return Img(bands, {b: "float64" for b in bands}, {}, read, first.crs, first.resolution)

    def f_ImageCollection_mosaic(self, collection):
        bands = list(dict.fromkeys(b for img in collection for b in img.bands))

        def read(b, g):
            out = np.ma.masked_all((g.height, g.width))
            for img in collection:  # the last image is on top
                v = img.band(b, g)
                keep = ~np.ma.getmaskarray(v)
                out[keep] = v[keep]
            return out

        first = collection[0]
        return Img(bands, dict(first.dtypes), {}, read, first.crs, first.resolution)

    def _cast(self, value, dtype, fn=None):
        lo, hi = (np.iinfo(dtype).min, np.iinfo(dtype).max) if dtype != "float32" else (None, None)

        def read(b, g):
            v = value.band(b, g)
            v = fn(v) if fn else v
            return np.ma.clip(np.ma.floor(v), lo, hi) if lo is not None else v.astype("float32")

        return derived(value, value.bands, read, dict.fromkeys(value.bands, dtype))

    def f_Image_round(self, value):
        def read(b, g):  # half away from zero, as Earth Engine rounds
            v = value.band(b, g)
            return np.ma.masked_array(np.sign(v.data) * np.floor(np.abs(v.data) + 0.5), v.mask)

        return derived(value, value.bands, read, value.dtypes)

    def f_Image_toUint16(self, value):
        return self._cast(value, "uint16")

    def f_Image_toFloat(self, value):
        return self._cast(value, "float32")

    # ---- properties and reductions
    def f_Element_get(self, object, property):
        return object.props.get(property)

    def f_Image_date(self, image):
        return dt.datetime.fromtimestamp(image.props["system:time_start"] / 1000, dt.UTC)

    def f_Date_format(self, date, format=None, timeZone=None):
        if format != "YYYY-MM-dd":
            raise not_in_stand_in(f"Date.format with {format!r}")
        return date.strftime("%Y-%m-%d")

    def f_Reducer_mean(self):
        return "mean"

    def f_Image_reduceRegion(
        self,
        image,
        reducer,
        geometry=None,
        scale=None,
        crs=None,
        crsTransform=None,
        bestEffort=None,
        maxPixels=None,
        tileScale=None,
    ):
        if reducer != "mean" or geometry is None or scale is None:
            raise not_in_stand_in("reduceRegion other than a mean over a geometry at a scale")
        to_crs = Transformer.from_crs("EPSG:4326", image.crs, always_xy=True).transform
        area = shapely.transform(geometry, lambda xy: np.column_stack(to_crs(*xy.T)))
        left, bottom, right, top = area.bounds
        width = max(1, int(np.ceil((right - left) / scale)))
        height = max(1, int(np.ceil((top - bottom) / scale)))
        if width * height > (maxPixels or 1e7):
            raise bad_request(
                f"Image.reduceRegion: Too many pixels in the region. Found "
                f"{width * height}, but maxPixels allows only {maxPixels}."
            )
        grid = Grid(image.crs, Affine(scale, 0, left, 0, -scale, top), width, height)
        xs = left + (np.arange(width) + 0.5) * scale
        ys = top - (np.arange(height) + 0.5) * scale
        inside = shapely.contains_xy(area, *np.meshgrid(xs, ys))
        out = {}
        for b in image.bands:
            v = image.band(b, grid)
            v = np.ma.masked_array(v, np.ma.getmaskarray(v) | ~inside)
            out[b] = None if v.count() == 0 else float(v.mean())
        return out

    def f_Dictionary_get(self, dictionary, key, defaultValue=None):
        if key not in dictionary and defaultValue is None:
            raise bad_request(f"Dictionary.get: Dictionary does not contain key: '{key}'.")
        return dictionary.get(key, defaultValue)


# --------------------------------------------------------------------------- the service


class FakeEarthEngine:
    """The Earth Engine REST API, on 127.0.0.1.

    Args:
        catalog: asset id to its images (an ``Image`` asset has one); ids and band names must
            be in the contract.
        project: the Cloud project registered for Earth Engine.
        tokens: the OAuth access tokens it accepts (``Authorization: Bearer``).
        concurrency: requests served at once; one more answers 429.

    Misbehaviour: ``fail_every`` (every n-th pixel request answers 503), ``drop_every`` (every
    n-th sends half its GeoTIFF and closes the connection; recorded as status 0), ``latency``
    (seconds per request), ``retry_after`` (sent with 429 and 503), ``forbidden`` (request
    digests answered 403, for good), ``max_pixels`` (a well-formed request of more pixels is
    answered 400 with ``too_big``, "User memory limit exceeded." by default, as the service
    answers a computation too big for it). ``statuses`` lists every computePixels answer.
    """

    def __init__(
        self,
        catalog: dict[str, list[Scene]],
        project: str = "fake-project",
        tokens: tuple[str, ...] = ("stand-in-token",),
        concurrency: int = CONCURRENCY,
    ):
        self.assets = contract()
        for asset_id, scenes in catalog.items():
            if asset_id not in self.assets:
                raise ValueError(f"{asset_id} is not in the contract")
            names = {b["name"] for b in self.assets[asset_id]["bands"]}
            for s in scenes:
                if set(s.bands) - names:
                    raise ValueError(f"{asset_id} has no band(s) {set(s.bands) - names}")
        self.catalog, self.project, self.tokens = catalog, project, set(tokens)
        self.concurrency = concurrency
        self.fail_every = self.drop_every = 0
        self.latency = 0.0
        self.retry_after: str | None = None
        self.forbidden: set[str] = set()
        self.max_pixels: int | None = None
        self.too_big = "User memory limit exceeded."
        self.lock = threading.Lock()
        self.pixel_requests = self.in_flight = self.max_in_flight = 0
        self.statuses: list[int] = []
        self.computes = 0

    @contextmanager
    def running(self):
        fake = self

        class EEHandler(Handler):
            def do_GET(self):
                path = self.path.split("?")[0]
                if path == "/$discovery/rest":
                    doc = json.loads((EE_DIR / "cloud_api_discovery_document.json").read_text())
                    doc["rootUrl"] = doc["baseUrl"] = fake.url + "/"
                    return self.json(doc)
                return fake.answer(self, path, None)

            def do_POST(self):
                try:
                    body = json.loads(self.body() or b"{}")
                except json.JSONDecodeError as err:
                    return self.json(
                        bad_request(f"Invalid JSON payload received. {err}").body(), 400
                    )
                return fake.answer(self, self.path.split("?")[0], body)

        with serving(EEHandler) as server:
            self.url = f"http://127.0.0.1:{server.server_address[1]}"
            yield self

    def answer(self, handler: Handler, path: str, body: dict | None) -> None:
        method = path.rsplit("/", 1)[-1]
        with self.lock:
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
            busy = self.in_flight > self.concurrency
        status = 200
        try:
            time.sleep(self.latency)
            self.authorize(handler, path)
            if busy:
                raise EEError(429, "RESOURCE_EXHAUSTED", TOO_MANY)  # status inferred (contract)
            if method == "algorithms" and body is None:
                return handler.send(200, (EE_DIR / "algorithms.json").read_bytes())
            if method == "value:compute" and body is not None:
                return self.compute(handler, body)
            if method == "image:computePixels" and body is not None:
                status = self.compute_pixels(handler, body)
                return None
            raise EEError(404, "NOT_FOUND", f"{path} not found [stand-in wording]")
        except EEError as err:
            status = err.code
            retry = self.retry_after and err.code in (429, 503)
            handler.json(err.body(), err.code, {"Retry-After": self.retry_after} if retry else None)
        finally:
            with self.lock:
                self.in_flight -= 1
                if method == "image:computePixels":
                    self.statuses.append(status)

    def authorize(self, handler: Handler, path: str) -> None:
        m = re.fullmatch(r"/(v\w+)/projects/([^/]+)/.*", path)
        if m is None or m.group(1) not in API_VERSIONS:
            raise EEError(404, "NOT_FOUND", f"{path} not found [stand-in wording]")
        auth = handler.headers.get("Authorization", "")
        if auth.removeprefix("Bearer ") not in self.tokens:
            raise EEError(
                401,
                "UNAUTHENTICATED",
                "Request is missing required authentication "
                "credential. Expected OAuth 2 access token, login cookie or other valid "
                "authentication credential. [stand-in wording]",
            )
        if m.group(2) != self.project:
            raise EEError(
                403,
                "PERMISSION_DENIED",
                f"Permission denied on project "
                f"'{m.group(2)}', or it is not registered to use Earth Engine. "
                "[stand-in wording]",
            )

    def compute(self, handler: Handler, body: dict) -> None:
        with self.lock:
            self.computes += 1
        value = malformed_is_400(
            lambda: Evaluator(self.catalog, self.assets).run(body["expression"])
        )
        handler.json({"result": to_json(value)})

    def compute_pixels(self, handler: Handler, body: dict) -> int:
        """Answer one request; returns its status (0: the connection was cut mid-body)."""
        with self.lock:
            self.pixel_requests += 1
            n = self.pixel_requests
        if json.dumps(body, sort_keys=True) in self.forbidden:
            raise EEError(403, "PERMISSION_DENIED", "injected [stand-in wording]")
        if self.fail_every and n % self.fail_every == 0:
            raise EEError(503, "UNAVAILABLE", "The service is currently unavailable.")
        tiff = malformed_is_400(lambda: self.geotiff(body))
        if self.drop_every and n % self.drop_every == 0:
            handler.send_response(200)
            handler.send_header("Content-Type", "image/tiff")
            handler.send_header("Content-Length", str(len(tiff)))
            handler.end_headers()
            handler.wfile.write(tiff[: len(tiff) // 2])
            handler.close_connection = True
            return 0
        handler.send(200, tiff, "image/tiff")
        return 200

    def geotiff(self, body: dict) -> bytes:
        """Validate a computePixels body as the service does, then evaluate and encode it."""
        unknown = set(body) - COMPUTE_FIELDS
        if unknown:
            raise bad_request(
                f"Invalid JSON payload received. Unknown name "
                f'"{sorted(unknown)[0]}": Cannot find field.'
            )
        fmt = body.get("fileFormat", "IMAGE_FILE_FORMAT_UNSPECIFIED")
        if fmt not in FORMATS:
            raise bad_request(
                f"Invalid value at 'file_format' (type.googleapis.com/google."
                f'earthengine.v1.ImageFileFormat), "{fmt}"',
                "file_format",
            )
        if fmt in ("ZIPPED_GEO_TIFF", "ZIPPED_GEO_TIFF_PER_BAND", "TF_RECORD_IMAGE"):
            raise bad_request(
                f"File format {fmt} is not supported by computePixels. [stand-in wording]"
            )
        if fmt != "GEO_TIFF":
            raise not_in_stand_in(f"fileFormat {fmt}")
        grid = parse_grid(body.get("grid"))
        image = Evaluator(self.catalog, self.assets).run(body["expression"])
        if not isinstance(image, Img):
            raise bad_request("computePixels needs an Image expression. [stand-in wording]")
        bands = body.get("bandIds") or image.bands
        if len(bands) > MAX_BANDS:
            raise bad_request(
                f"Number of bands ({len(bands)}) must be less than or equal to "
                f"{MAX_BANDS}. [stand-in wording]"
            )
        for b in bands:
            if b not in image.bands:
                raise bad_request(
                    f"Image.select: Pattern '{b}' did not match any bands. "
                    f"Available bands: [{', '.join(image.bands)}]"
                )
        size = grid.width * grid.height * sum(DTYPE_BYTES[image.dtypes[b]] for b in bands)
        if size > MAX_BYTES:
            raise bad_request(
                f"Total request size ({size} bytes) must be less than or equal to "
                f"{MAX_BYTES} bytes."
            )
        if self.max_pixels and grid.width * grid.height > self.max_pixels:
            raise bad_request(self.too_big)
        dtype = np.result_type(*[image.dtypes[b] for b in bands])
        data = np.stack([image.band(b, grid).filled(0) for b in bands]).astype(dtype)
        with MemoryFile() as mem:
            with mem.open(
                driver="GTiff",
                width=grid.width,
                height=grid.height,
                count=len(bands),
                dtype=data.dtype,
                crs=grid.crs,
                transform=grid.transform,
            ) as dst:
                dst.write(data)
            return mem.read()


def malformed_is_400(fn):
    """``fn()``; a body it cannot read (a missing field, a wrong type, an unknown CRS) is a 400,
    as the service answers every malformed body (never a dropped connection)."""
    try:
        return fn()
    except (KeyError, TypeError, ValueError, AttributeError, rasterio.errors.CRSError) as err:
        raise bad_request(
            f"Invalid JSON payload received. {type(err).__name__}: {err} [stand-in wording]"
        ) from err


def parse_grid(g: dict | None) -> Grid:
    """A ``PixelGrid`` as the service reads it: unknown fields and broken limits rejected."""
    if g is None:
        raise not_in_stand_in("computePixels without a grid (the native projection)")
    unknown = set(g) - GRID_FIELDS
    if unknown:
        raise bad_request(
            f'Invalid JSON payload received. Unknown name "{sorted(unknown)[0]}" '
            "at 'grid': Cannot find field.",
            "grid",
        )
    if "crsCode" in g and "crsWkt" in g:
        raise bad_request("grid: only one of crsCode and crsWkt may be set. [stand-in wording]")
    w, h = g["dimensions"]["width"], g["dimensions"]["height"]
    if w > MAX_SIDE or h > MAX_SIDE:
        raise bad_request(
            f"Pixel grid dimensions ({w}x{h}) must be less than or equal to {MAX_SIDE}."
        )
    t = g["affineTransform"]
    if t.get("shearX", 0) or t.get("shearY", 0):
        raise not_in_stand_in("sheared grids")
    if "crsCode" not in g:
        raise not_in_stand_in("crsWkt grids")
    transform = Affine(t["scaleX"], 0, t["translateX"], 0, t["scaleY"], t["translateY"])
    with rasterio.Env():
        return Grid(g["crsCode"], transform, w, h)


def to_json(value):
    """The JSON of an evaluated value, as ``value:compute`` returns it."""
    if isinstance(value, list):
        if isinstance(value, Coll):
            return {
                "type": "FeatureCollection",
                "columns": {},
                "features": [
                    {
                        "type": "Feature",
                        "geometry": None,
                        "id": str(i),
                        "properties": {k: to_json(x) for k, x in f["properties"].items()},
                    }
                    for i, f in enumerate(value)
                ],
            }
        return [to_json(v) for v in value]
    if isinstance(value, dict):
        return {k: to_json(v) for k, v in value.items()}
    if isinstance(value, np.generic):
        return value.item()
    return value


# --------------------------------------------------------------------------- test catalogs

S2 = "COPERNICUS/S2_HARMONIZED"
CS_PLUS = "GOOGLE/CLOUD_SCORE_PLUS/V1/S2_HARMONIZED"


def s2_catalog(
    grid: Grid,
    scenes: list[tuple[str, str, dict[str, np.ndarray], np.ndarray]],
    footprint: Polygon | None = None,
) -> dict[str, list[Scene]]:
    """``COPERNICUS/S2_HARMONIZED`` and its Cloud Score+ twin from (index, date, bands, cs_cdf).

    ``bands`` maps catalog names (``B1``...) to arrays on grids nested in ``grid`` at each
    band's contract pixel size (10/20/60 m, origin snapped: as the pipeline's band grids);
    ``cs_cdf`` is on the 10 m grid.
    """
    sizes = {b["name"]: b["pixel_size_m"] for b in contract()[S2]["bands"]}
    s2, cs = [], []
    for index, date, bands, cs_cdf in scenes:
        on = {b: (grid.buffered(resolution=sizes[b]), a) for b, a in bands.items()}
        s2.append(Scene(index, date, on, {"MGRS_TILE": index[-5:]}, footprint))
        cs.append(Scene(index, date, {"cs_cdf": (grid, cs_cdf)}, {}, footprint))
    return {S2: s2, CS_PLUS: cs}


# Builders of the tests that use the stand-in.
TOKEN = Credentials("stand-in-token")  # a bearer token the stand-in accepts


def scene_grid(grid: Grid) -> Grid:
    """The 10 m grid of a stand-in scene: it covers the 60 m band grid nested in ``grid``."""
    return grid.buffered(resolution=60).buffered(resolution=10)


def catalog_bands() -> list[str]:
    """The catalog's spectral bands (B1 ... B12, B8A), in our band order: B8A after B8."""
    names = [b["name"] for b in contract()[S2]["bands"] if re.fullmatch(r"B\d+A?", b["name"])]
    return sorted(names, key=lambda n: (int(n[1:].rstrip("A")), n.endswith("A")))


def uniform_scene(grid: Grid, index: str, date: str, value: float, cs_cdf: float = 0.9):
    """A scene over ``scene_grid(grid)`` whose every catalog band is ``value`` + its position
    in our band order, on the band's grid."""
    sizes = {b["name"]: b["pixel_size_m"] for b in contract()[S2]["bands"]}
    scene, bands = scene_grid(grid), {}
    for i, name in enumerate(catalog_bands()):
        g = scene.buffered(resolution=sizes[name])
        bands[name] = np.full((g.height, g.width), value + i, np.float64)
    return index, date, bands, np.full((scene.height, scene.width), cs_cdf)
