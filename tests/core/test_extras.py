import json

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
