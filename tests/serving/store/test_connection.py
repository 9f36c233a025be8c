"""Fault test: the store's PostgreSQL goes down while the service runs, and comes back.

Meanwhile every request is refused with 503, one sentence and Retry-After, quickly and never
with 500; once the database is back, the same service process answers again by itself, and
every answer it gave is in the audit log.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import httpx
import pytest

from serving.gate import RETRY_AFTER_SECONDS, UNAVAILABLE
from serving.store import open_store
from tests.postgres import PrivateCluster
from tests.serving.conftest import TrainedCity, start, stop

pytestmark = pytest.mark.postgres
CALLS = (("score", {"area_ids": ["A0"]}), ("warnings", {}), ("model_info", {}))
FAST_SECONDS = 5.0  # an unreachable database is refused within this, not after a hang
OUTAGE_SECONDS = 7.0  # longer than the key cache (5 s): cached and uncached keys both meet it
RECOVERY_SECONDS = 30.0


@pytest.fixture
def cluster() -> Iterator[PrivateCluster]:
    """A PostgreSQL server of this test's own, which it stops and starts."""
    server = PrivateCluster()
    server.start()
    yield server
    server.destroy()


def test_a_database_restart_gives_503_then_recovers_without_a_restart(
        trained_city: TrainedCity, cluster: PrivateCluster, tmp_path):
    url = cluster.url("postgres")
    store = open_store(url)
    record, token = store.create_key("viewer", "city", "restart test")
    process, base = start(trained_city.experiment, trained_city.settings,
                          tmp_path / "service.log", RISKGRID_DATABASE_URL=url)
    answered: list[int] = []

    def call(endpoint: str, body: dict) -> httpx.Response:
        response = httpx.post(f"{base}/{endpoint}", json=body, timeout=60,
                              headers={"Authorization": f"Bearer {token}"})
        answered.append(response.status_code)
        return response

    try:
        for endpoint, body in CALLS:
            assert call(endpoint, body).status_code == 200, endpoint
        loaded_at = call("model_info", {}).json()["loaded_at"]

        cluster.stop()
        ends = time.monotonic() + OUTAGE_SECONDS
        while time.monotonic() < ends:
            for endpoint, body in CALLS:
                began = time.monotonic()
                response = call(endpoint, body)
                assert time.monotonic() - began < FAST_SECONDS, endpoint
                assert response.status_code == 503, (endpoint, response.text)
                assert response.json() == {"error": UNAVAILABLE}
                assert response.headers["retry-after"] == str(RETRY_AFTER_SECONDS)
            time.sleep(0.5)

        cluster.start()
        deadline = time.monotonic() + RECOVERY_SECONDS
        while (status := call("score", CALLS[0][1]).status_code) != 200:
            assert status == 503 and time.monotonic() < deadline, status
            time.sleep(0.5)
        for endpoint, body in CALLS:
            assert call(endpoint, body).status_code == 200, endpoint

        assert process.poll() is None  # the same server process throughout ...
        assert call("model_info", {}).json()["loaded_at"] == loaded_at  # ... and worker
        assert set(answered) == {200, 503}  # never a 500
        audited = store.audit_rows()
        audited = audited[audited["key_id"] == record.key_id]
        # Every answer given was audited before it left; the refusals could not be.
        assert (audited["status"] == 200).sum() == answered.count(200)
    finally:
        stop(process)
        store.close()
