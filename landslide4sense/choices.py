"""The closed choices of the pipeline: enums, and the output layout's two options.

Every enum value is the string users already write (on the command line, in a region file, in
``dataset.json``), so files and commands stay compatible: ``Scaling("l4s") is Scaling.L4S``
and ``Scaling.L4S == "l4s"``. argparse takes its ``choices`` from these enums, the flows type
their parameters with them (Prefect then validates values from the UI and deployments), and
pydantic checks them in the region file and the records, so each is checked once, where it
enters. The output layout is two yes/no options (:class:`OutputLayout`), recorded in
``dataset.json`` by the names it has always had.
"""

from __future__ import annotations

from dataclasses import dataclass
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


@dataclass(frozen=True)
class OutputLayout:
    """The on-disk layout of a published benchmark: two yes/no options beside the original
    release's ``TrainData/`` and ``TestData/`` folders of HDF5 files.

    ``dataset.json`` records it by the names earlier versions wrote (:attr:`name`,
    :meth:`named`), so published versions stay valid.
    """

    #: Also ``ValidData/``: the last tenth of each region's training tiles, held out of
    #: TrainData (the competition release's three folders; TorchGeo's split="val" reads it).
    valid: bool = False
    #: Also one chunked HDF5 file per split beside its folder (``TrainData.h5``, ...).
    split_files: bool = False

    @property
    def name(self) -> str:
        """The name ``dataset.json`` and ``--layout`` use: ``release``, ``with-valid``,
        ``release+split-files`` or ``with-valid+split-files``."""
        return ("with-valid" if self.valid else "release") + (
            "+split-files" if self.split_files else ""
        )

    def __str__(self) -> str:
        return self.name

    @classmethod
    def named(cls, name: str) -> OutputLayout:
        """The layout of a :attr:`name`.

        Raises:
            ValueError: not one of the four names (listed in the message).
        """
        for layout in LAYOUTS:
            if layout.name == name:
                return layout
        raise ValueError(
            f"{name!r} is not a layout; expected one of {', '.join(x.name for x in LAYOUTS)}"
        )


#: Every layout, in the order ``--layout`` lists their names.
LAYOUTS = tuple(OutputLayout(valid, files) for valid in (False, True) for files in (False, True))
#: The original release's layout: ``TrainData/`` and ``TestData/`` only (the default).
RELEASE = OutputLayout()


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
