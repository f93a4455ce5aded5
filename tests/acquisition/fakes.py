"""Local stand-ins for Earth Engine, a STAC API and NASA CMR / ASF, on 127.0.0.1.

Each is a real HTTP server in a thread; clients talk to it over real sockets with their own
code (earthengine-api, pystac-client + GDAL's range reads, asf_search). The stand-ins answer
what the services answer for the calls the pipeline makes, and can misbehave on purpose.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import json
import re
import ssl
import threading
import time
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import ee
import numpy as np
from affine import Affine
from rasterio.io import MemoryFile

from landslide4sense.regions import Grid

EE_DIR = Path(ee.__file__).parent / "tests"


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True


@contextmanager
def serving(handler: type[BaseHTTPRequestHandler], context: ssl.SSLContext | None = None):
    """Run ``handler`` on 127.0.0.1 (an ephemeral port) in a thread; yield the server."""
    server = _Server(("127.0.0.1", 0), handler)
    if context is not None:
        server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args) -> None:  # quiet
        pass

    def _send(
        self, status: int, body: bytes, ctype: str = "application/json", headers: dict | None = None
    ) -> None:
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(body)

    def _json(self, data, status: int = 200, headers: dict | None = None) -> None:
        self._send(status, json.dumps(data).encode(), headers=headers)

    def _body(self) -> bytes:
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))


# --------------------------------------------------------------------------- Earth Engine


class FakeEarthEngine:
    """The Earth Engine REST API as the pipeline uses it.

    ``sources[bands]`` maps a tuple of band names to (grid, uint16 array (bands, h, w)): a
    computePixels request for those bands on a window of that grid gets exactly those pixels
    back as a GeoTIFF. Misbehaviour: ``rate_limit_first`` (each block's first attempt answers
    429), ``fail_every`` (every n-th request answers 503), ``drop_every`` (every n-th request
    sends half its GeoTIFF and closes the connection; recorded as status 0), ``latency``
    (seconds per request), ``forbidden`` (request digests answered 403, for good).
    """

    def __init__(
        self,
        sources: dict[tuple[str, ...], tuple[Grid, np.ndarray]],
        scenes: list[dict] | None = None,
    ):
        self.sources = sources
        self.scenes = scenes or [
            {
                "id": "20200901T013659_20200901T013653_T54TWN",
                "date": "2020-09-01",
                "cloud_share": 0.12,
            }
        ]
        self.rate_limit_first = False
        self.fail_every = 0
        self.drop_every = 0
        self.latency = 0.0
        self.forbidden: set[str] = set()
        self.lock = threading.Lock()
        self.requests = 0
        self.pixel_requests = 0
        self.in_flight = 0
        self.max_in_flight = 0
        self.statuses: list[int] = []
        self.seen: set[str] = set()

    @contextmanager
    def running(self):
        fake = self

        class Handler(_Handler):
            def do_GET(self):
                if self.path.startswith("/$discovery/rest"):
                    doc = json.loads((EE_DIR / "cloud_api_discovery_document.json").read_text())
                    doc["rootUrl"] = doc["baseUrl"] = fake.url + "/"
                    return self._json(doc)
                if re.match(r"/v1\w*/projects/[^/]+/algorithms", self.path):
                    return self._send(200, (EE_DIR / "algorithms.json").read_bytes())
                return self._json({"error": {"code": 404, "message": self.path}}, 404)

            def do_POST(self):
                body = json.loads(self._body() or b"{}")
                if self.path.split("?")[0].endswith("/value:compute"):
                    return self._json({"result": fake.scene_collection()})
                if self.path.split("?")[0].endswith("/image:computePixels"):
                    return fake.compute_pixels(self, body)
                return self._json({"error": {"code": 404, "message": self.path}}, 404)

        with serving(Handler) as server:
            self.url = f"http://127.0.0.1:{server.server_address[1]}"
            yield self

    def scene_collection(self) -> dict:
        return {
            "type": "FeatureCollection",
            "features": [
                {"type": "Feature", "geometry": None, "id": str(i), "properties": s}
                for i, s in enumerate(self.scenes)
            ],
        }

    def compute_pixels(self, handler: _Handler, body: dict) -> None:
        digest = json.dumps(body, sort_keys=True)
        with self.lock:
            self.requests += 1
            self.pixel_requests += 1
            n = self.requests
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
            first = digest not in self.seen
            self.seen.add(digest)
        try:
            time.sleep(self.latency)
            if digest in self.forbidden:
                status = 403
            elif self.rate_limit_first and first:
                status = 429
            elif self.fail_every and n % self.fail_every == 0:
                status = 503
            elif self.drop_every and n % self.drop_every == 0:
                status = 0
            else:
                status = 200
            with self.lock:
                self.statuses.append(status)
            if status == 0:
                tiff = self.geotiff(body)
                handler.send_response(200)
                handler.send_header("Content-Type", "image/tiff")
                handler.send_header("Content-Length", str(len(tiff)))
                handler.end_headers()
                handler.wfile.write(tiff[: len(tiff) // 2])
                handler.close_connection = True
                return None
            if status != 200:
                return handler._json({"error": {"code": status, "message": "injected"}}, status)
            handler._send(200, self.geotiff(body), "image/tiff")
        finally:
            with self.lock:
                self.in_flight -= 1

    def geotiff(self, body: dict) -> bytes:
        bands = tuple(body["bandIds"])
        grid, data = self.sources[bands]
        g = body["grid"]
        t = g["affineTransform"]
        col = round((t["translateX"] - grid.transform.c) / grid.transform.a)
        row = round((t["translateY"] - grid.transform.f) / grid.transform.e)
        w, h = g["dimensions"]["width"], g["dimensions"]["height"]
        block = data[:, row : row + h, col : col + w]
        transform = Affine(
            t["scaleX"], t["shearX"], t["translateX"], t["shearY"], t["scaleY"], t["translateY"]
        )
        with MemoryFile() as mem:
            with mem.open(
                driver="GTiff",
                width=w,
                height=h,
                count=len(bands),
                dtype=data.dtype,
                crs=g["crsCode"],
                transform=transform,
            ) as dst:
                dst.write(block)
            return mem.read()


# --------------------------------------------------------------------------- STAC + COGs


class FakeStac:
    """A STAC API (landing page, conformance, item search) and a file server with HTTP
    Range support, so GDAL reads windows of the COGs with range requests."""

    def __init__(self, files: Path, items: list[dict]):
        self.files, self.items = files, items
        self.range_requests = 0
        self.searches: list[dict] = []

    @contextmanager
    def running(self):
        fake = self

        class Handler(_Handler):
            def do_HEAD(self):
                self.do_GET(head=True)

            def do_GET(self, head: bool = False):
                path = self.path.split("?")[0]
                if path in ("/", ""):
                    return self._json(fake.landing())
                if path == "/conformance":
                    return self._json({"conformsTo": fake.landing()["conformsTo"]})
                if path == "/search":
                    return self._json(fake.search({}))
                if path.startswith("/files/"):
                    return fake.serve_file(self, path.removeprefix("/files/"), head)
                return self._json({"code": "NotFound"}, 404)

            def do_POST(self):
                if self.path.split("?")[0] == "/search":
                    return self._json(
                        fake.search(json.loads(self._body() or b"{}")),
                        headers={"Content-Type": "application/geo+json"},
                    )
                return self._json({"code": "NotFound"}, 404)

        with serving(Handler) as server:
            self.url = f"http://127.0.0.1:{server.server_address[1]}"
            yield self

    def landing(self) -> dict:
        return {
            "type": "Catalog",
            "id": "fake",
            "stac_version": "1.0.0",
            "description": "fake",
            "conformsTo": [
                "https://api.stacspec.org/v1.0.0/core",
                "https://api.stacspec.org/v1.0.0/item-search",
                "https://api.stacspec.org/v1.0.0/item-search#query",
                "https://api.stacspec.org/v1.0.0/item-search#sort",
            ],
            "links": [
                {"rel": "self", "href": self.url + "/"},
                {"rel": "root", "href": self.url + "/"},
                {
                    "rel": "search",
                    "href": self.url + "/search",
                    "method": "POST",
                    "type": "application/geo+json",
                },
            ],
        }

    def search(self, params: dict) -> dict:
        self.searches.append(params)
        start, _, end = (params.get("datetime") or "../..").partition("/")
        limit = params.get("query", {}).get("eo:cloud_cover", {}).get("lte", 100)
        chosen = []
        for item in self.items:
            p = item["properties"]
            day = p["datetime"][:10]
            if start not in ("", "..") and day < start[:10]:
                continue
            if end not in ("", "..") and day > end[:10]:
                continue
            if p.get("eo:cloud_cover", 0) > limit:
                continue
            chosen.append(json.loads(json.dumps(item).replace("{base}", self.url)))
        return {"type": "FeatureCollection", "features": chosen, "links": []}

    def serve_file(self, handler: _Handler, name: str, head: bool) -> None:
        path = self.files / name
        if not name or not path.is_file():
            return handler._json({"code": "NotFound"}, 404)
        data = path.read_bytes()
        rng = handler.headers.get("Range")
        if rng:
            with threading.Lock():
                self.range_requests += 1
            a, _, b = rng.removeprefix("bytes=").partition("-")
            a, b = int(a), min(int(b) if b else len(data) - 1, len(data) - 1)
            part = data[a : b + 1]
            handler.send_response(206)
            handler.send_header("Content-Range", f"bytes {a}-{b}/{len(data)}")
        else:
            part = data
            handler.send_response(200)
        handler.send_header("Accept-Ranges", "bytes")
        handler.send_header("Content-Type", "image/tiff")
        handler.send_header("Content-Length", str(len(part)))
        handler.end_headers()
        if not head:
            handler.wfile.write(part)


def stac_item(
    item_id: str, day: str, cloud: float, bbox: list[float], assets: dict[str, str], epsg: int
) -> dict:
    """A STAC item whose asset hrefs say ``{base}/files/<name>`` (filled in when served)."""
    w, s, e, n = bbox
    return {
        "type": "Feature",
        "stac_version": "1.0.0",
        "id": item_id,
        "collection": "sentinel-2-l1c",
        "bbox": bbox,
        "geometry": {"type": "Polygon", "coordinates": [[[w, s], [e, s], [e, n], [w, n], [w, s]]]},
        "properties": {"datetime": f"{day}T15:00:00Z", "eo:cloud_cover": cloud, "proj:epsg": epsg},
        "assets": {
            k: {"href": "{base}/files/" + v, "type": "image/tiff; application=geotiff"}
            for k, v in assets.items()
        },
        "links": [],
    }


# --------------------------------------------------------------------------- CMR / ASF


def self_signed(folder: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 and its key (for HTTPS stand-ins; trust it with
    REQUESTS_CA_BUNDLE)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=2))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = folder / "cert.pem", folder / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


class FakeCmr:
    """NASA CMR's granule search (UMM-G JSON, as asf_search reads it) and ASF's downloads,
    over HTTPS. ``granules`` are (name, polygon lon/lat, zip bytes)."""

    def __init__(self, granules: list[tuple[str, list[tuple[float, float]], bytes]], tls: Path):
        self.granules, self.tls = granules, tls
        self.searches: list[str] = []
        self.downloads: list[str] = []

    @contextmanager
    def running(self):
        fake = self
        cert, key = self_signed(self.tls)
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(cert, key)

        class Handler(_Handler):
            def do_GET(self):
                if self.path.startswith("/search/granules.umm_json"):
                    return fake.search(self, self.path)
                if self.path.startswith("/dl/"):
                    name = self.path.removeprefix("/dl/")
                    fake.downloads.append(name)
                    data = next(z for n, _, z in fake.granules if n == name)
                    return self._send(200, data, "application/zip")
                return self._json({"errors": ["not found"]}, 404)

            def do_POST(self):
                if self.path.startswith("/search/granules.umm_json"):
                    return fake.search(self, self._body().decode())
                return self._json({"errors": ["not found"]}, 404)

        with serving(Handler, ctx) as server:
            self.host = f"127.0.0.1:{server.server_address[1]}"
            self.cert = cert
            yield self

    def search(self, handler: _Handler, query: str) -> None:
        self.searches.append(query)
        items = [self.umm(name, poly) for name, poly, _ in self.granules]
        handler._json(
            {"hits": len(items), "took": 1, "items": items}, headers={"CMR-Hits": str(len(items))}
        )

    def umm(self, name: str, poly: list[tuple[float, float]]) -> dict:
        scene = name.removesuffix(".zip")
        lon = sum(p[0] for p in poly) / len(poly)
        lat = sum(p[1] for p in poly) / len(poly)

        def attr(k, v):
            return {"Name": k, "Values": [str(v)]}

        return {
            "meta": {
                "concept-id": f"G{abs(hash(name)) % 10**9}-ASF",
                "provider-id": "ASF",
                "native-id": scene,
            },
            "umm": {
                "GranuleUR": scene,
                "DataGranule": {
                    "Identifiers": [{"IdentifierType": "ProducerGranuleId", "Identifier": scene}],
                    "ProductionDateTime": "2015-10-19T00:00:00Z",
                },
                "TemporalExtent": {
                    "RangeDateTime": {
                        "BeginningDateTime": "2010-06-01T05:00:00Z",
                        "EndingDateTime": "2010-06-01T05:00:10Z",
                    }
                },
                "SpatialExtent": {
                    "HorizontalSpatialDomain": {
                        "Geometry": {
                            "GPolygons": [
                                {
                                    "Boundary": {
                                        "Points": [{"Longitude": x, "Latitude": y} for x, y in poly]
                                    }
                                }
                            ]
                        }
                    }
                },
                "AdditionalAttributes": [
                    attr("ASF_PLATFORM", "ALOS"),
                    attr("PROCESSING_TYPE", "RTC_HI_RES"),
                    attr("CENTER_LAT", lat),
                    attr("CENTER_LON", lon),
                    attr("BYTES", 1000),
                    attr("MD5SUM", "0"),
                    attr("FRAME_NUMBER", 600),
                    attr("PATH_NUMBER", 500),
                    attr("BEAM_MODE", "FBS"),
                    attr("POLARIZATION", "HH"),
                    attr("ASCENDING_DESCENDING", "ASCENDING"),
                ],
                "RelatedUrls": [{"Type": "GET DATA", "URL": f"https://{self.host}/dl/{name}"}],
                "Platforms": [{"ShortName": "ALOS", "Instruments": [{"ShortName": "PALSAR"}]}],
                "CollectionReference": {"ShortName": "ALOS_PSR_RTC_HIGH", "Version": "1"},
            },
        }
