import pytest

from landslide4sense.flows.runners import prefect_defaults

prefect_defaults()


@pytest.fixture(scope="session")
def prefect_harness():
    """One temporary Prefect API for every test that runs a flow (it takes ~10 s to start)."""
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=120):
        yield


@pytest.fixture(scope="session")
def demo_inputs(tmp_path_factory):
    """The demo's region files and raw layers, written once per session; tests only read them."""
    from landslide4sense.acquisition.demo import write_demo_inputs

    return write_demo_inputs(tmp_path_factory.mktemp("demo-inputs"))
