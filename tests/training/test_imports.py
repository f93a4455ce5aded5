"""Training runs on a GPU host that has torch, numpy, h5py, pydantic and little else."""

import json
import subprocess
import sys

GEO_AND_ORCHESTRATION = (
    "rasterio",
    "geopandas",
    "prefect",
    "shapely",
    "pyproj",
    "pyogrio",
    "fiona",
    "yaml",
    "scipy",
    "skimage",
    "richdem",
    "ee",
    "affine",
)
TRAINING = (
    "landslide4sense.training",
    "landslide4sense.training.train",
    "landslide4sense.training.data",
    "landslide4sense.training.models",
    "landslide4sense.training.metrics",
    "landslide4sense.training.checkpoint",
    "landslide4sense.training.progress",
    "landslide4sense.training.report",
    "landslide4sense.training.synthetic",
)


def test_training_imports_no_geo_stack_and_no_prefect(tmp_path):
    code = (
        "import importlib, json, sys\n"
        f"for m in {TRAINING!r}: importlib.import_module(m)\n"
        "print(json.dumps(sorted({m.split('.')[0] for m in sys.modules})))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, check=True
    )
    loaded = set(json.loads(out.stdout))
    assert "torch" in loaded and "landslide4sense" in loaded
    assert not loaded & set(GEO_AND_ORCHESTRATION)
