"""Local stand-ins for Earth Engine, a STAC API with its S3 bucket, and NASA CMR / ASF.

Each is a real HTTP server in a thread on 127.0.0.1; clients talk to it over real sockets
with their own code (earthengine-api, pystac-client, GDAL's S3 reads, asf_search). Each is
as strict as its service, from the published contracts in ``../shared/contracts``: a request
the service would refuse is refused, with the service's message where the contract has it.
"""

from tests.acquisition.fakes.asf import FakeAsf, Granule
from tests.acquisition.fakes.earthengine import FakeEarthEngine, Scene
from tests.acquisition.fakes.http import Handler, self_signed, serving
from tests.acquisition.fakes.stac import FakeS3, FakeStac, band_assets, l1c_item

__all__ = [
    "FakeAsf",
    "FakeEarthEngine",
    "FakeS3",
    "FakeStac",
    "Granule",
    "Handler",
    "Scene",
    "band_assets",
    "l1c_item",
    "self_signed",
    "serving",
]
