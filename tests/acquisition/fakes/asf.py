"""NASA CMR's granule search and ASF's download host (asf_search's services), on 127.0.0.1."""

from __future__ import annotations

import ssl
from contextlib import contextmanager
from pathlib import Path

from tests.acquisition.fakes.http import Handler, self_signed, serving


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

        class CmrHandler(Handler):
            def do_GET(self):
                if self.path.startswith("/search/granules.umm_json"):
                    return fake.search(self, self.path)
                if self.path.startswith("/dl/"):
                    name = self.path.removeprefix("/dl/")
                    fake.downloads.append(name)
                    data = next(z for n, _, z in fake.granules if n == name)
                    return self.send(200, data, "application/zip")
                return self.json({"errors": ["not found"]}, 404)

            def do_POST(self):
                if self.path.startswith("/search/granules.umm_json"):
                    return fake.search(self, self.body().decode())
                return self.json({"errors": ["not found"]}, 404)

        with serving(CmrHandler, ctx) as server:
            self.host = f"127.0.0.1:{server.server_address[1]}"
            self.cert = cert
            yield self

    def search(self, handler: Handler, query: str) -> None:
        self.searches.append(query)
        items = [self.umm(name, poly) for name, poly, _ in self.granules]
        handler.json(
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
