"""NASA CMR's granule search, Earthdata Login's token check and ASF's download host, over
HTTPS on 127.0.0.1: the services ``asf_search`` talks to.

Granules are described as ASF describes the real one in ``contracts/asf-alos-rtc-result.json``
(an ALOS PALSAR ``RTC_HI_RES`` scene): the same properties, a scene name, file name and URL
that agree with the orbit, frame and path (``AP_<orbit:05>_<beam>_F<frame:04>_RT1.zip``), the
real size and MD5 of the zip. The search honours the collection (``shortName``), the provider
and the bounding box or polygon; a download needs an Earthdata bearer token.
"""

from __future__ import annotations

import hashlib
import json
import ssl
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qsl

from shapely.geometry import Polygon, box

from tests.acquisition.fakes.http import Handler, self_signed, serving
from tests.helpers import CONTRACTS

SHORT_NAMES = {"ALOS_PSR_RTC_HIGH": "RTC_HI_RES", "ALOS_PSR_RTC_LOW": "RTC_LOW_RES"}


def contract_feature() -> dict:
    return json.loads((CONTRACTS / "asf-alos-rtc-result.json").read_text())


@dataclass
class Granule:
    """One ALOS PALSAR RTC product: its orbit, frame, path, footprint and zip."""

    orbit: int
    frame: int
    path: int
    footprint: list[tuple[float, float]]  # lon/lat ring
    data: bytes
    processed: str = "2015-03-14T01:23:11Z"
    beam: str = "FBS"
    direction: str = "ASCENDING"

    @property
    def scene(self) -> str:
        return f"ALPSRP{self.orbit:05d}{self.frame:04d}0"

    @property
    def file_name(self) -> str:
        return f"AP_{self.orbit:05d}_{self.beam}_F{self.frame:04d}_RT1.zip"


PAGES = {
    "/oauth/authorize": "<!DOCTYPE html><html><head><title>Earthdata Login</title></head>"
    "<body><form>Username Password</form> [stand-in wording]</body></html>",
    "/approve_app": "<!DOCTYPE html><html><head><title>Earthdata Login</title></head><body>"
    "Approve the application and accept its EULA [stand-in wording]</body></html>",
}


class FakeAsf:
    """CMR search + URS token check + datapool downloads, with Earthdata's login and EULA flow.

    ``tokens``: accepted EDL tokens; ``eula``: the tokens whose user accepted the ALOS PALSAR
    EULA (default: all). A download without a valid login is redirected to the Earthdata login
    page, one without the EULA to the page that asks for it: both answer 200 with HTML, as the
    real flow does (asf.md, section 3), never the zip; ``refused`` records "login" / "eula".
    ``fail_first``: that many downloads answer ``fail_status`` (503) first, with
    ``retry_after`` if set; ``slow_searches``: that many searches answer after
    ``search_delay`` seconds (a CMR read timeout).
    """

    def __init__(self, granules: list[Granule], tls: Path, tokens=("stand-in-token",), eula=None):
        self.granules, self.tls, self.tokens = granules, tls, set(tokens)
        self.eula = set(tokens if eula is None else eula)
        self.searches: list[dict] = []
        self.downloads: list[str] = []
        self.refused: list[str | int] = []
        self.fail_first = 0
        self.fail_status = 503
        self.retry_after: str | None = None
        self.slow_searches = 0
        self.search_delay = 1.0
        self.latency = 0.0  # seconds before each answer

    @contextmanager
    def running(self):
        fake = self
        cert, key = self_signed(self.tls)
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(cert, key)

        class AsfHandler(Handler):
            def do_GET(self):
                path, _, query = self.path.partition("?")
                if path == "/search/granules.umm_json":
                    return fake.search(self, dict(parse_qsl(query)))
                if path.startswith("/RTC_HI_RES/"):
                    return fake.download(self, path.rsplit("/", 1)[1])
                if path in PAGES:  # the login and EULA pages (HTML, [stand-in wording])
                    return self.send(200, PAGES[path].encode(), "text/html; charset=utf-8")
                return self.json({"errors": ["not found"]}, 404)

            def do_POST(self):
                path = self.path.partition("?")[0]
                if path == "/search/granules.umm_json":
                    return fake.search(self, dict(parse_qsl(self.body().decode())))
                if path == "/oauth/tokens/user":
                    token = dict(parse_qsl(self.body().decode())).get("token")
                    ok = token in fake.tokens
                    return self.json(
                        {"uid": "stand-in"} if ok else {"error": "invalid_token"},
                        200 if ok else 401,
                    )
                return self.json({"errors": ["not found"]}, 404)

        with serving(AsfHandler, ctx) as server:
            self.host = f"127.0.0.1:{server.server_address[1]}"
            self.cert = cert
            yield self

    def search(self, handler: Handler, params: dict) -> None:
        self.searches.append(params)
        time.sleep(self.latency)
        if len(self.searches) <= self.slow_searches:
            time.sleep(self.search_delay)
        level = SHORT_NAMES.get(params.get("shortName", ""))
        if "bounding_box" in params:
            area = box(*map(float, params["bounding_box"].split(",")))
        elif "polygon" in params:
            xy = list(map(float, params["polygon"].split(",")))
            area = Polygon(list(zip(xy[::2], xy[1::2], strict=True)))
        else:
            area = None
        items = [
            self.umm(g, level)
            for g in self.granules
            if level == "RTC_HI_RES"
            and params.get("provider") == "ASF"
            and (area is None or Polygon(g.footprint).intersects(area))
        ]
        handler.json(
            {"hits": len(items), "took": 1, "items": items}, headers={"CMR-Hits": str(len(items))}
        )

    def download(self, handler: Handler, name: str) -> None:
        time.sleep(self.latency)
        granule = next((g for g in self.granules if g.file_name == name), None)
        token = handler.headers.get("Authorization", "").removeprefix("Bearer ")
        if token not in self.tokens or token not in self.eula:
            step = "login" if token not in self.tokens else "eula"
            self.refused.append(step)
            page = "/oauth/authorize" if step == "login" else "/approve_app"
            where = f"https://{self.host}{page}?client_id=stand-in&response_type=code"
            return handler.send(302, b"", "text/plain", {"Location": where})
        self.downloads.append(name)
        if len(self.downloads) <= self.fail_first:
            headers = {"Retry-After": self.retry_after} if self.retry_after else None
            return handler.send(self.fail_status, b"Service Unavailable", "text/plain", headers)
        if granule is None:
            return handler.send(404, b"Not Found", "text/plain")
        handler.send(200, granule.data, "application/zip")

    def umm(self, g: Granule, level: str) -> dict:
        """The granule as CMR's UMM-G, from which asf_search builds the contract's properties."""
        real = contract_feature()["properties"]
        lon = sum(p[0] for p in g.footprint[:-1]) / (len(g.footprint) - 1)
        lat = sum(p[1] for p in g.footprint[:-1]) / (len(g.footprint) - 1)
        url = f"https://{self.host}/{level}/A3/{g.file_name}"
        attrs = {
            "ASF_PLATFORM": "ALOS",
            "PROCESSING_TYPE": level,
            "CENTER_LAT": lat,
            "CENTER_LON": lon,
            "BYTES": f"{len(g.data)}.0",
            "MD5SUM": hashlib.md5(g.data).hexdigest(),
            "FRAME_NUMBER": g.frame,
            "PATH_NUMBER": g.path,
            "BEAM_MODE": g.beam,
            "POLARIZATION": real["polarization"],
            "ASCENDING_DESCENDING": g.direction,
            "GRANULE_TYPE": real["granuleType"],
            "FARADAY_ROTATION": real["faradayRotation"],
            "OFF_NADIR_ANGLE": real["offNadirAngle"],
            "INSAR_STACK_ID": real["insarStackId"],
        }
        return {
            "meta": {
                "concept-id": f"G{g.orbit}{g.frame}-ASF",
                "provider-id": "ASF",
                "native-id": f"{g.scene}-{level}",
            },
            "umm": {
                "GranuleUR": f"{g.scene}-{level}",
                "DataGranule": {
                    "Identifiers": [{"IdentifierType": "ProducerGranuleId", "Identifier": g.scene}],
                    "ProductionDateTime": g.processed,
                },
                "TemporalExtent": {
                    "RangeDateTime": {
                        "BeginningDateTime": real["startTime"],
                        "EndingDateTime": real["stopTime"],
                    }
                },
                "OrbitCalculatedSpatialDomains": [{"OrbitNumber": g.orbit}],
                "SpatialExtent": {
                    "HorizontalSpatialDomain": {
                        "Geometry": {
                            "GPolygons": [
                                {
                                    "Boundary": {
                                        "Points": [
                                            {"Longitude": x, "Latitude": y} for x, y in g.footprint
                                        ]
                                    }
                                }
                            ]
                        }
                    }
                },
                "AdditionalAttributes": [{"Name": k, "Values": [str(v)]} for k, v in attrs.items()],
                "RelatedUrls": [
                    {"Type": "GET DATA", "URL": url},
                    *({"Type": "GET RELATED VISUALIZATION", "URL": b} for b in real["browse"]),
                ],
                "Platforms": [{"ShortName": "ALOS", "Instruments": [{"ShortName": "PALSAR"}]}],
                "CollectionReference": {"ShortName": "ALOS_PSR_RTC_HIGH", "Version": "1"},
            },
        }
