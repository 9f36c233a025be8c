"""The gate's group commit: requests answered together share one audit transaction, every row
is written in order and chained, and a row the database refuses fails only its own request."""

from __future__ import annotations

import asyncio

import pytest

from serving.gate import GroupCommit
from serving.store import Store, StoreUnavailable
from tests.serving.test_store import pg_database, store, store_url  # noqa: F401


class Counting:
    """The store, counting the transactions the audit rows went in."""

    def __init__(self, store: Store, refuse: str | None = None) -> None:
        self.store, self.refuse, self.commits = store, refuse, []

    def audit_many(self, rows):
        if any(row[1] == self.refuse for row in rows):
            raise ValueError("refused")
        self.store.audit_many(rows)
        self.commits.append(len(rows))


def test_concurrent_requests_share_commits_and_keep_every_row_in_order(store: Store):
    counting = Counting(store)
    log = GroupCommit(lambda: counting)

    async def requests() -> None:
        await asyncio.gather(*(log.write((f"k{i}", f"e{i}", [f"G{i}"], "v1", 200, None))
                               for i in range(50)))

    asyncio.run(requests())
    rows = store.audit_rows()
    assert list(rows["endpoint"]) == [f"e{i}" for i in range(50)]
    assert list(rows["areas"]) == [[f"G{i}"] for i in range(50)]
    assert sum(counting.commits) == 50
    assert len(counting.commits) < 50  # rows that arrived together went in one transaction
    assert store.verify_history().intact


def test_a_refused_row_fails_its_own_request_only(store: Store):
    log = GroupCommit(lambda: Counting(store, refuse="bad"))

    async def requests() -> list:
        return await asyncio.gather(*(log.write((None, name, [], None, 200, None))
                                      for name in ("a", "bad", "c")), return_exceptions=True)

    outcomes = asyncio.run(requests())
    assert outcomes[0] is None and outcomes[2] is None
    assert isinstance(outcomes[1], ValueError)
    assert list(store.audit_rows()["endpoint"]) == ["a", "c"]


def test_an_unreachable_database_fails_every_waiting_request():
    def away():
        raise StoreUnavailable("the database is away")

    log = GroupCommit(away)

    async def requests() -> list:
        return await asyncio.gather(*(log.write((None, "score", [], None, 200, None))
                                      for _ in range(3)), return_exceptions=True)

    assert all(isinstance(o, StoreUnavailable) for o in asyncio.run(requests()))


@pytest.mark.parametrize("rows", [1, 3])
def test_the_next_request_after_a_batch_is_written_too(store: Store, rows: int):
    log = GroupCommit(lambda: store)

    async def twice() -> None:
        for round_ in range(2):
            await asyncio.gather(*(log.write((None, f"r{round_}", [], None, 200, None))
                                   for _ in range(rows)))

    asyncio.run(twice())
    assert len(store.audit_rows()) == 2 * rows
