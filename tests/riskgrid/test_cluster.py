"""The cluster's edge: workers that cannot see the data, and results gathered in time."""

from __future__ import annotations

import time

import pytest

from riskgrid import InputError
from riskgrid.cluster import Deadline, check_visible, connect

pytestmark = pytest.mark.distributed


def test_workers_that_cannot_see_the_data_are_named_in_one_sentence(dask_cluster, tmp_path):
    with connect(dask_cluster.scheduler_address) as client:
        check_visible(client, tmp_path)  # the workers share this machine's disk
        workers = list(client.nthreads())
        with pytest.raises(InputError) as raised:
            check_visible(client, tmp_path / "elsewhere")
    message = str(raised.value)
    assert len(workers) == 2 and all(worker in message for worker in workers)
    assert "RISKGRID_DATA_DIR" in message and "\n" not in message and ". " not in message


def test_results_come_back_in_order_within_the_deadline_or_as_one_sentence(dask_cluster):
    with connect(dask_cluster.scheduler_address) as client:
        deadline = Deadline(30)
        futures = [client.submit(pow, 2, k, pure=False) for k in range(5)]
        assert deadline.gather(client, futures, "powers") == [1, 2, 4, 8, 16]
        with pytest.raises(InputError) as raised:
            Deadline(0.2).gather(client, [client.submit(time.sleep, 5, pure=False)], "a nap")
    assert "a nap" in str(raised.value) and "RISKGRID_DASK_TIMEOUT" in str(raised.value)
