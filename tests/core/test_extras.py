import json
import subprocess
import sys

import pytest

from landslide4sense.errors import L4SError, MissingExtraError
from landslide4sense.extras import require_extra


def test_an_installed_module_is_returned():
    assert require_extra("json", "stac") is json


def test_a_missing_module_names_the_extra_and_the_pip_command():
    with pytest.raises(MissingExtraError) as err:
        require_extra("l4s_no_such_module", "earthengine")
    msg = str(err.value)
    assert "pip install 'landslide4sense[earthengine]'" in msg
    assert "'l4s_no_such_module'" in msg and "Earth Engine source" in msg
    assert isinstance(err.value, ImportError) and isinstance(err.value, L4SError)


def test_the_core_imports_without_any_extra():
    """What `pip install landslide4sense` gives (no networked client, no torch) imports."""
    absent = [
        "ee",
        "google.auth",
        "requests",
        "pystac_client",
        "asf_search",
        "prefect_dask",
        "dask",
        "distributed",
        "torch",
    ]
    core = [
        f"landslide4sense.{m}"
        for m in (
            "flows.cli",
            "flows.build",
            "flows.retraining",
            "acquisition.demo",
            "annotation",
            "patching",
            "records",
        )
    ]
    code = (
        f"import sys\nfor m in {absent}: sys.modules[m] = None\n"
        f"import importlib\nfor m in {core}: importlib.import_module(m)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]
