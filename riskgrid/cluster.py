"""The Dask cluster work can run on: connecting to its scheduler, and cutting work into blocks.

``distributed`` is imported only when a cluster is used, so the in-process engine never pays
for it.
"""

from __future__ import annotations

import time
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


def gather_within(client, futures: list, timeout: float, what: str) -> list:
    """The results of ``futures``, in order, within ``timeout`` seconds; else one sentence.

    A task whose worker died is run again by the scheduler on another worker (up to
    distributed's ``allowed-failures``); a task that raised was already run again as many
    times as it was submitted with ``retries``. What still fails stops the step here.

    Raises:
        InputError: the work did not finish within ``timeout`` (RISKGRID_DASK_TIMEOUT), its
            workers kept dying, or the scheduler went away.
    """
    from distributed import wait
    from distributed.comm.core import CommClosedError
    from distributed.scheduler import KilledWorker

    try:
        with client.as_current():
            wait(futures, timeout=timeout)
        return client.gather(futures)
    except TimeoutError:
        client.cancel(futures)
        raise InputError(f"the Dask cluster did not finish {what} within {timeout:g} s "
                         "(RISKGRID_DASK_TIMEOUT); add workers or raise the setting, and the "
                         "previous snapshot stays as it was") from None
    except KilledWorker as exc:
        client.cancel(futures)
        raise InputError(f"Dask workers died again and again while {what} ran (task "
                         f"{exc.task}); give each worker more memory or fewer threads, and the "
                         "previous snapshot stays as it was") from None
    except (CommClosedError, OSError) as exc:
        raise InputError(f"the Dask scheduler went away while {what} ran ({type(exc).__name__}"
                         "); restart the cluster and run the command again, and the previous "
                         "snapshot stays as it was") from None


def check_visible(client, folder, setting: str = "RISKGRID_DATA_DIR") -> None:
    """Every worker sees ``folder`` at the same path (the cluster reads and writes there).

    Raises:
        InputError: some worker does not see it.
    """
    import os

    seen = client.run(os.path.isdir, str(folder))
    blind = sorted(worker for worker, ok in seen.items() if not ok)
    if blind:
        raise InputError(f"the Dask worker{'s' * (len(blind) > 1)} {', '.join(blind)} cannot "
                         f"see {folder}; mount {setting} at the same path on every worker "
                         "(docs/distributed.md)")


class Deadline:
    """What is left of RISKGRID_DASK_TIMEOUT at each wait of one step."""

    def __init__(self, seconds: float) -> None:
        self.end = time.monotonic() + seconds

    def gather(self, client, futures: list, what: str) -> list:
        """:func:`gather_within` the time left."""
        return gather_within(client, futures, max(self.end - time.monotonic(), 0.001), what)
