"""Make docs/qgis_example.png: the correction project as QGIS draws it, from the stored styles.

    .venv/bin/python docs/annotation_example.py --keep /tmp/qgis-example
    QT_QPA_PLATFORM=offscreen python3 docs/qgis_example.py /tmp/qgis-example

Run the second line with a Python that has QGIS's bindings (``apt install python3-qgis
qgis-providers`` on Debian; QGIS 3.22 or later). It opens the post-event RGB composite and the
GeoPackage's layers exactly as a person would (each layer's default style comes from the
GeoPackage's ``layer_styles`` table: nothing is styled here), saves the project as
``labels.qgz`` beside them, and renders its map canvas with QGIS's own renderer.
"""

from __future__ import annotations

import sys
from pathlib import Path

from qgis.core import (
    QgsApplication,
    QgsMapRendererParallelJob,
    QgsMapSettings,
    QgsProject,
    QgsRasterLayer,
    QgsVectorLayer,
)
from qgis.PyQt.QtCore import QSize
from qgis.PyQt.QtGui import QColor

OUT = Path(__file__).resolve().parent / "qgis_example.png"


def main(folder: Path) -> None:
    app = QgsApplication([], False)
    app.initQgis()
    project = QgsProject.instance()
    gpkg = folder / "labels.gpkg"
    layers = [
        QgsVectorLayer(f"{gpkg}|layername={name}", name, "ogr")
        for name in ("corrections", "labels", "candidates")  # drawn top to bottom
    ]
    layers.append(QgsRasterLayer(str(folder / "labels_post_rgb.tif"), "post-event RGB"))
    layers.append(QgsRasterLayer(str(folder / "labels_pre_rgb.tif"), "pre-event RGB"))
    for layer in layers:
        if not layer.isValid():
            sys.exit(f"QGIS cannot open {layer.source()}")
        project.addMapLayer(layer)
    project.layerTreeRoot().findLayer(layers[-1].id()).setItemVisibilityChecked(False)
    project.write(str(folder / "labels.qgz"))

    settings = QgsMapSettings()
    settings.setLayers(layers[:-1])
    settings.setDestinationCrs(layers[0].crs())
    settings.setExtent(layers[-2].extent())
    settings.setOutputSize(QSize(900, 900))
    settings.setBackgroundColor(QColor("white"))
    job = QgsMapRendererParallelJob(settings)
    job.start()
    job.waitForFinished()
    job.renderedImage().save(str(OUT), "png")
    print(OUT)
    app.exitQgis()


if __name__ == "__main__":
    main(Path(sys.argv[1]))
