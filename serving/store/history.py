"""The store's history checked and guarded: its hash chains verified, its append-only guards
(triggers) found in place, and on PostgreSQL the grants of a service role that may append to
history but never change it (docs/stores.md)."""

from __future__ import annotations

import re
from dataclasses import dataclass

from sqlalchemy import text

from riskgrid.errors import InputError
from serving.store import chain
from serving.store.connection import Database

APPEND_ONLY = ("audit_log", "forecast_vintages", "forecasts", "warning_events",
               "override_events")
# Tables the service changes in place: key revocation, a warning's current status.
MUTABLE = ("api_keys", "warnings")
_ROLE = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,62}")


@dataclass(frozen=True)
class HistoryReport:
    """What ``verify_history`` found: one report per chain, the guards missing, the anchors
    (head hashes noted earlier) that are no longer in any chain."""

    chains: list[chain.ChainReport]
    missing_guards: list[str]
    lost_anchors: list[str]

    @property
    def intact(self) -> bool:
        return not (self.missing_guards or self.lost_anchors
                    or any(c.broken for c in self.chains))


def expected_guards(dialect: str) -> set[str]:
    """The names of the triggers that keep history append-only on this database."""
    if dialect == "postgresql":
        return {f"{table}_append_only" for table in APPEND_ONLY}
    return {f"{table}_no_{what}" for table in APPEND_ONLY
            for what in ("update", "delete", "replace")}


def grant_statements(role: str) -> list[str]:
    """PostgreSQL: what a service role needs, and no more. History tables: SELECT and INSERT
    only (no UPDATE, DELETE or TRUNCATE; DROP needs ownership, which stays with the owner who
    runs the migrations); api_keys and warnings: SELECT, INSERT, UPDATE; the id sequences."""
    if not _ROLE.fullmatch(role):
        raise InputError(f"Role {role!r} is not a plain PostgreSQL role name; use letters, "
                         "digits and underscores.")
    return [
        f'REVOKE ALL ON {", ".join((*APPEND_ONLY, *MUTABLE, "alembic_version"))} FROM "{role}"',
        f'GRANT SELECT, INSERT ON {", ".join(APPEND_ONLY)} TO "{role}"',
        f'GRANT SELECT, INSERT, UPDATE ON {", ".join(MUTABLE)} TO "{role}"',
        f'GRANT SELECT ON alembic_version TO "{role}"',
        f'GRANT USAGE, SELECT ON SEQUENCE audit_log_id_seq, warning_events_event_id_seq, '
        f'override_events_event_id_seq TO "{role}"',
    ]


class History(Database):
    """Verification of the store's history, and the service role's grants."""

    def verify_history(self, anchors: frozenset[str] = frozenset()) -> HistoryReport:
        """Walk every chain, look for the guards, and check the anchors given."""
        with self._reading() as conn:
            reports = [chain.verify(conn, table, anchors) for table in chain.CHAINED]
            present = self._guards(conn)
        found = set().union(*(r.found for r in reports))
        return HistoryReport(reports, sorted(expected_guards(self._engine.dialect.name) - present),
                             sorted(anchors - found))

    def grant_service_role(self, role: str) -> list[str]:
        """PostgreSQL: give ``role`` what the service needs (grant_statements); run as the
        tables' owner. Returns the statements run."""
        if self._engine.dialect.name != "postgresql":
            raise InputError("Grants are for PostgreSQL; a SQLite store is guarded by its "
                             "triggers and the file's permissions (docs/stores.md).")
        statements = grant_statements(role)
        with self._writing() as conn:
            for statement in statements:
                conn.execute(text(statement))
        return statements

    def _guards(self, conn) -> set[str]:
        if conn.dialect.name == "postgresql":
            query = ("SELECT t.tgname FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid "
                     "JOIN pg_namespace n ON n.oid = c.relnamespace "
                     "WHERE NOT t.tgisinternal AND t.tgenabled <> 'D' "
                     "AND n.nspname = current_schema()")
        else:
            query = "SELECT name FROM sqlite_master WHERE type = 'trigger'"
        return {row[0] for row in conn.execute(text(query))}
