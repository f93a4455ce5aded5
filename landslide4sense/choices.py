"""The fixed choices a user picks from on the command line and in flow parameters.

String enums without heavy imports, so that ``l4s --help`` lists them at once.
"""

from __future__ import annotations

from enum import StrEnum


class Source(StrEnum):
    """Where a region's raw layers come from."""

    LOCAL = "local"
    EARTHENGINE = "earthengine"
    STAC = "stac"


class OutputLayout(StrEnum):
    """Which split folders a benchmark has.

    ``paper``: ``TrainData`` and ``TestData`` (the paper's split: the first quarter of each
    region's tiles trains, the rest tests). ``with-valid``: also ``ValidData``, the last tenth
    of each region's training tiles held out of ``TrainData`` (the layout of the original
    competition release, and what TorchGeo's ``split="val"`` reads).
    """

    PAPER = "paper"
    WITH_VALID = "with-valid"
