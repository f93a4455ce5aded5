"""Optional dependency groups: import a module, or say which extra installs it.

The core installs without the networked clients and without torch; each of these comes with an
extra (``pip install 'landslide4sense[earthengine]'``). Code that needs one imports it through
:func:`require_extra`, so a missing package is one message naming the pip command, not a
traceback.
"""

from __future__ import annotations

import importlib
from types import ModuleType

from landslide4sense.errors import MissingExtraError

#: What each extra is for (pyproject.toml's [project.optional-dependencies] has the packages).
EXTRAS: dict[str, str] = {
    "earthengine": "the Earth Engine source and the srtm / aw3d30 DEMs",
    "stac": "the STAC source (Earth Search, no account)",
    "asf": "the asf-palsar-rtc DEM (ASF, Earthdata login)",
    "dask": "--dask: tasks on a Dask cluster",
    "train": "training the baselines (torch)",
}


def require_extra(module: str, extra: str) -> ModuleType:
    """Import ``module``, which the extra ``extra`` installs.

    Raises:
        MissingExtraError: the module (or one it needs) is not installed; the message names
            the pip command that installs it.
    """
    try:
        return importlib.import_module(module)
    except ImportError as err:
        purpose = EXTRAS.get(extra, f"the '{extra}' extra")
        raise MissingExtraError(
            f"{purpose} needs the Python package '{module}', which is not installed "
            f"({err}); install it with: pip install 'landslide4sense[{extra}]'"
        ) from err
