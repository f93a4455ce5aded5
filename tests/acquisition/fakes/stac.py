"""A STAC API (Earth Search's shape) and a requester-pays S3 bucket, on 127.0.0.1."""

from __future__ import annotations

import json
import threading
from contextlib import contextmanager
from pathlib import Path

from tests.acquisition.fakes.http import Handler, serving


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

        class StacHandler(Handler):
            def do_HEAD(self):
                self.do_GET(head=True)

            def do_GET(self, head: bool = False):
                path = self.path.split("?")[0]
                if path in ("/", ""):
                    return self.json(fake.landing())
                if path == "/conformance":
                    return self.json({"conformsTo": fake.landing()["conformsTo"]})
                if path == "/search":
                    return self.json(fake.search({}))
                if path.startswith("/files/"):
                    return fake.serve_file(self, path.removeprefix("/files/"), head)
                return self.json({"code": "NotFound"}, 404)

            def do_POST(self):
                if self.path.split("?")[0] == "/search":
                    return self.json(
                        fake.search(json.loads(self.body() or b"{}")),
                        headers={"Content-Type": "application/geo+json"},
                    )
                return self.json({"code": "NotFound"}, 404)

        with serving(StacHandler) as server:
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

    def serve_file(self, handler: Handler, name: str, head: bool) -> None:
        path = self.files / name
        if not name or not path.is_file():
            return handler.json({"code": "NotFound"}, 404)
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
