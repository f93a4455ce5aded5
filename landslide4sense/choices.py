"""The closed choices of the pipeline, each one enum.

Every value is the string users already write (on the command line, in a region file, in
``dataset.json``), so files and commands stay compatible: ``Scaling("l4s") is Scaling.L4S``
and ``Scaling.L4S == "l4s"``. argparse takes its ``choices`` from these enums, the flows type
their parameters with them (Prefect then validates values from the UI and deployments), and
pydantic checks them in the region file and the records, so each is checked once, where it
enters.
"""

from __future__ import annotations

from enum import StrEnum


class Scaling(StrEnum):
    """How patch values are scaled: the original release's per-band divisors, or none."""

    L4S = "l4s"  # divide each band by the original release's constant (default)
    RAW = "raw"  # source units: DN, degrees, metres


class SourceKind(StrEnum):
    """Where a region's Sentinel-2 bands come from."""

    LOCAL = "local"
    EARTHENGINE = "earthengine"
    STAC = "stac"
    CDSE = "cdse"  # the Copernicus Data Space Ecosystem (free account)


class DemKind(StrEnum):
    """Where a region's DEM comes from (the region file's ``dem:``)."""

    LOCAL = "local"  # RAW/<region>/dem.tif
    ASF_PALSAR_RTC = "asf-palsar-rtc"  # the paper's DEM, inside ASF's 12.5 m RTC products
    SRTM = "srtm"  # Earth Engine USGS/SRTMGL1_003, 30 m
    AW3D30 = "aw3d30"  # Earth Engine JAXA/ALOS/AW3D30/V4_1, 30 m


class OutputLayout(StrEnum):
    """The on-disk layout of a published benchmark."""

    RELEASE = "release"  # the original release's TrainData/ and TestData/ folders of HDF5 files
    #: the release's folders, and beside them one chunked HDF5 file per split (TrainData.h5)
    SPLIT_FILES = "release+split-files"
    # Also ValidData/: the last tenth of each region's training tiles, held out of TrainData
    # (the competition release's three folders; TorchGeo's split="val" reads it).
    WITH_VALID = "with-valid"
    WITH_VALID_SPLIT_FILES = "with-valid+split-files"  # both

    @property
    def valid(self) -> bool:
        """Whether the layout has ``ValidData/``."""
        return self.value.startswith("with-valid")

    @property
    def split_files(self) -> bool:
        """Whether the layout has one file per split beside the folders."""
        return self.value.endswith("+split-files")


class Device(StrEnum):
    """Where training runs: CUDA when present (``auto``), or as asked."""

    AUTO = "auto"
    CPU = "cpu"
    CUDA = "cuda"


class Split(StrEnum):
    """The splits of a benchmark (``val`` only in the ``with-valid`` layout)."""

    TRAIN = "train"
    VAL = "val"
    TEST = "test"


def names(choice: type[StrEnum]) -> list[str]:
    """The values of an enum, in order (argparse's ``choices`` and error messages)."""
    return [c.value for c in choice]
