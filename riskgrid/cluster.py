"""The Dask cluster work can run on: connecting to its scheduler, and cutting work into blocks.

``distributed`` is imported only when a cluster is used, so the in-process engine never pays
for it.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from riskgrid.errors import InputError

CONNECT_TIMEOUT_S = 5  # an unreachable scheduler is a wrong address, not a slow network
BLOCKS_PER_THREAD = 3  # a few blocks per thread, so a slow block does not leave the others idle


@contextmanager
def connect(address: str) -> Iterator:
    """A ``distributed.Client`` of the scheduler at ``address``, with at least one worker.

    Raises:
        InputError: the scheduler cannot be reached, or has no workers.
    """
    from distributed import Client

    try:
        client = Client(address, timeout=CONNECT_TIMEOUT_S, set_as_default=False)
    except ValueError as exc:  # not an address at all
        raise InputError(f"RISKGRID_DASK_SCHEDULER={address} is not a Dask scheduler address "
                         f"({exc}); write it as tcp://host:8786") from None
    except OSError:  # refused or timed out
        raise InputError(
            f"cannot reach the Dask scheduler at {address} (RISKGRID_DASK_SCHEDULER) within "
            f"{CONNECT_TIMEOUT_S} s; start the scheduler, correct the address, or unset "
            "RISKGRID_ENGINE to run in this process") from None
    try:
        try:
            client.wait_for_workers(1, timeout=CONNECT_TIMEOUT_S)
        except TimeoutError:
            raise InputError(f"the Dask scheduler at {address} (RISKGRID_DASK_SCHEDULER) has "
                             "no workers; start some with dask worker "
                             f"{address}") from None
        yield client
    finally:
        client.close()


def block_count(client, items: int) -> int:
    """How many blocks to cut ``items`` into: a few per worker thread, at most one per item."""
    threads = sum(client.nthreads().values())
    return max(1, min(items, BLOCKS_PER_THREAD * threads))
