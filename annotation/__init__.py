"""Landslide labels: OBIA candidates, manual corrections, validation, rasterizing.

The two steps of the paper's annotation: :func:`make_candidates` proposes polygons from pre-
and post-event imagery; experts correct them in QGIS (``corrections`` layer) and
:func:`merge` rebuilds the ``labels`` layer the build uses. :func:`prepare_labels` reads,
repairs and rasterizes any label file onto a region's grid.
"""

from landslide4sense.annotation.candidates import band_files, make_candidates, write_candidates
from landslide4sense.annotation.corrections import (
    CorrectionsNeeded,
    MergeReport,
    agreement,
    history,
    label_layer,
    merge,
    write_report,
)
from landslide4sense.annotation.labels import (
    LabelReport,
    PreparedLabels,
    clean_labels,
    prepare_labels,
    rasterize_labels,
    read_labels,
    write_label_mask,
)

__all__ = [
    "CorrectionsNeeded",
    "LabelReport",
    "MergeReport",
    "PreparedLabels",
    "agreement",
    "band_files",
    "clean_labels",
    "history",
    "label_layer",
    "make_candidates",
    "merge",
    "prepare_labels",
    "rasterize_labels",
    "read_labels",
    "write_candidates",
    "write_label_mask",
    "write_report",
]
