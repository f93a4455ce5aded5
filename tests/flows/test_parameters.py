"""Flow parameters are typed, so Prefect checks values from the UI and deployments."""

import pytest
from prefect.exceptions import ParameterTypeError

from landslide4sense.choices import Device, Scaling, SourceKind
from landslide4sense.flows.build import add_region, build_benchmark
from landslide4sense.flows.retraining import retrain_baselines


def test_strings_become_members_and_bad_values_are_refused():
    ok = build_benchmark.validate_parameters(
        {"regions": "regions", "out": "out", "source": "stac", "scaling": "raw"}
    )
    assert ok["source"] is SourceKind.STAC and ok["scaling"] is Scaling.RAW
    device = retrain_baselines.validate_parameters({"dataset": "d", "device": "cuda"})["device"]
    assert device is Device.CUDA
    for flow, bad in [
        (build_benchmark, {"regions": "r", "out": "o", "scaling": "minmax"}),
        (add_region, {"region": "r.yaml", "out": "o", "source": "sentinelhub"}),
        (retrain_baselines, {"dataset": "d", "device": "tpu"}),
    ]:
        with pytest.raises(ParameterTypeError, match="Input should be"):
            flow.validate_parameters(bad)
