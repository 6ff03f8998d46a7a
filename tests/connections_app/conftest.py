import pytest

from tests.upstream import ServedApp, Upstream


@pytest.fixture(scope="session")
def httpbin_server():
    from httpbin import app

    served = ServedApp(app)
    yield served
    served.stop()


@pytest.fixture(scope="session")
def _upstream_served():
    upstream = Upstream()
    served = ServedApp(upstream.app)
    upstream.url = served.url
    upstream.port = served.port
    yield upstream
    served.stop()


@pytest.fixture
def upstream(_upstream_served):
    _upstream_served.reset()
    return _upstream_served
