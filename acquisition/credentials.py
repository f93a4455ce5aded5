"""Which credentials each networked source would use, found without network and in well under
a second, so a build is refused before any download when one is missing.

Earth Engine: a service-account key file (``L4S_EE_SERVICE_ACCOUNT_KEY``), the credentials
``earthengine authenticate`` stores, or Google's application-default credentials
(``gcloud auth application-default login``, ``GOOGLE_APPLICATION_CREDENTIALS``), the same
fallbacks as ``ee.Initialize``; the Cloud project from ``L4S_EE_PROJECT``,
``EARTHENGINE_PROJECT`` or ``GOOGLE_CLOUD_PROJECT``, else the one ``earthengine set_project``
stored, else the application-default credentials' quota project, else the key file's project.
AWS (the ``stac`` source): botocore's chain (:func:`acquisition.stac.aws_credentials`). The
Copernicus Data Space (``cdse``): its S3 keys (:func:`acquisition.cdse.cdse_keys`). ASF (the
``asf-palsar-rtc`` DEM): an Earthdata login (:func:`acquisition.asf.earthdata_login`).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from landslide4sense.errors import ConfigError, L4SError

EE_PROJECT_VARS = ("L4S_EE_PROJECT", "EARTHENGINE_PROJECT", "GOOGLE_CLOUD_PROJECT")
EE_SETUP = (
    "run `earthengine authenticate` (or `gcloud auth application-default login`) once, or set "
    "L4S_EE_SERVICE_ACCOUNT_KEY to a service-account key file; and name your Cloud project "
    "registered for Earth Engine (L4S_EE_PROJECT, or `earthengine set_project PROJECT`)"
)
EE_DEMS = ("srtm", "aw3d30")


def _json(path: Path) -> dict:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return {}


def ee_stored_path() -> Path:
    """Where ``earthengine authenticate`` and ``earthengine set_project`` store their answer."""
    return Path.home() / ".config" / "earthengine" / "credentials"


def adc_path() -> Path:
    """Google's application-default credentials file (as google-auth looks for it)."""
    named = os.environ.get("GOOGLE_APPLICATION_CREDENTIALS")
    if named:
        return Path(named)
    config = os.environ.get("CLOUDSDK_CONFIG") or Path.home() / ".config" / "gcloud"
    return Path(config) / "application_default_credentials.json"


def ee_credentials() -> str | None:
    """Which Earth Engine credentials ``ee.Initialize`` would use, in words; None if none."""
    key = os.environ.get("L4S_EE_SERVICE_ACCOUNT_KEY")
    if key:
        return f"service-account key {key}"
    if _json(ee_stored_path()).get("refresh_token"):
        return "stored credentials (earthengine authenticate)"
    if adc_path().is_file():
        return f"application-default credentials ({adc_path()})"
    return None


def ee_project() -> str | None:
    """The Cloud project Earth Engine calls are made for (see the module's docstring)."""
    for var in EE_PROJECT_VARS:
        if os.environ.get(var):
            return os.environ[var]
    key = os.environ.get("L4S_EE_SERVICE_ACCOUNT_KEY")
    return (
        _json(ee_stored_path()).get("project")
        or _json(adc_path()).get("quota_project_id")
        or (_json(Path(key)).get("project_id") if key else None)
        or None
    )


def ee_missing() -> str | None:
    """What Earth Engine lacks (credentials, project), or None when both are found."""
    if ee_credentials() is None:
        return f"no Earth Engine credentials: {EE_SETUP}"
    if ee_project() is None:
        return f"no Earth Engine project (credentials: {ee_credentials()}): {EE_SETUP}"
    return None


def _aws_missing() -> str | None:
    from landslide4sense.acquisition.stac import AWS_SETUP, aws_credentials

    try:
        return None if aws_credentials() else f"no AWS keys: {AWS_SETUP}"
    except L4SError as err:
        return str(err)


def _cdse_missing() -> str | None:
    from landslide4sense.acquisition.cdse import SETUP, cdse_keys

    return None if cdse_keys() else f"no Copernicus Data Space S3 keys: {SETUP}"


def _asf_missing() -> str | None:
    from landslide4sense.acquisition.asf import EARTHDATA_SETUP, earthdata_login

    return None if earthdata_login() else f"no Earthdata login: {EARTHDATA_SETUP}"


#: What each Sentinel-2 source needs, by the source's name.
SOURCE_NEEDS = {"earthengine": ee_missing, "stac": _aws_missing, "cdse": _cdse_missing}


def check_credentials(regions: list, source: str) -> None:
    """Every credential a build of ``regions`` from ``source`` will need is configured: the
    Sentinel-2 source's, and each region's DEM source's (ASF, Earth Engine).

    Raises:
        ConfigError: one is missing: the line names the option or region file and the fix.
    """
    need = SOURCE_NEEDS.get(source)
    problem = need() if need else None
    if problem:
        raise ConfigError(f"--source {source}: {problem}")
    for region in regions:
        dem_need = (
            _asf_missing
            if region.dem == "asf-palsar-rtc"
            else ee_missing
            if region.dem in EE_DEMS
            else None
        )
        problem = dem_need() if dem_need else None
        if problem:
            raise ConfigError(
                f"{region.path}: dem: {region.dem} needs {problem} (or set dem: local with "
                "RAW/<region>/dem.tif)"
            )
