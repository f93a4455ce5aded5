"""Landslide labels: reading and repairing polygons, rasterizing them onto a region's grid.

``prepare_labels(path, grid, out_dir)`` is what the build uses; ``read_labels``,
``clean_labels`` and ``rasterize_labels`` are its steps.
"""

from annotation.labels import (
    LabelReport,
    PreparedLabels,
    clean_labels,
    prepare_labels,
    rasterize_labels,
    read_labels,
    write_label_mask,
)

__all__ = [
    "LabelReport",
    "PreparedLabels",
    "clean_labels",
    "prepare_labels",
    "rasterize_labels",
    "read_labels",
    "write_label_mask",
]
