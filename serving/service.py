"""The BentoML service: scores, explanations, what-if scores, trends, warnings, model info.

Start it with ``riskgrid serve experiments/NAME.toml`` (or ``bentoml serve
serving.service:RiskGrid --arg experiment=experiments/NAME.toml``; without the argument it
serves RISKGRID_EXPERIMENT). Every endpoint takes a JSON body and an ``Authorization: Bearer
KEY`` header; see the README for curl calls.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import bentoml
import pandas as pd
from pydantic import BaseModel, Field
from starlette.responses import JSONResponse
from starlette.staticfiles import StaticFiles

from riskgrid import InputError, Settings, load_experiment
from riskgrid import vocabulary as C
from serving.access import AccessDenied, Shapes, hierarchy, require_role
from serving import direct
from serving.champion import champion_version, fetch_champion, load_champion
from serving.data_quality import DataQuality
from serving.gate import RETRY_AFTER_SECONDS, UNAVAILABLE, AuditGate, RequestRecord, store_at
from serving.history import ledger_periods, ledger_scores, ledger_vintage
from serving.issuing import issue_for
from serving.ledger import record_batch
from serving.overrides import HeldOverrides, served_override, with_overrides
from serving.schemas import (
    AreaId,
    AreaIds,
    AreasResponse,
    DataQualityResponse,
    Day,
    Drivers,
    ExplainResponse,
    FeatureRows,
    ForecastResponse,
    Horizon,
    Horizons,
    LedgerScoresResponse,
    ModelInfo,
    Note,
    OverrideResponse,
    PeriodsResponse,
    SafetyResponse,
    ScoreResponse,
    WarningActionResponse,
    WarningId,
    WarningsResponse,
    WhatIfResponse,
    Word,
)
from serving.safety import SafetyIndex
from serving.scoring import Scorer, load_serving_data
from serving.store import Store, StoreUnavailable
from serving.trends import TrendService
from serving.warnings import KINDS, LEVELS

log = logging.getLogger("riskgrid.service")


ACTIVE = ("issued", "acknowledged", "handled")  # closed and dismissed warnings are history
# The warnings run waits this long after an unreachable database, doubling up to the cap.
RETRY_SECONDS, RETRY_CAP_SECONDS = 2.0, 30.0


class TooLarge(InputError):
    """A request over the configured batch cap (HTTP 413)."""


# The service process's one Settings: the worker count is needed by the decorator below.
SETTINGS = Settings()


# No access log: the audit table already records every request, and writing a log line per
# request costs more than scoring one area (bench/serving_latency.py).
# The hot endpoints are not traced: a span costs more than the lookup it would time.
@bentoml.service(name="riskgrid", traffic={"timeout": 120},
                 workers=SETTINGS.service_workers, logging={"access": {"enabled": False}},
                 tracing={"excluded_urls": [f"/{e}$" for e in sorted(direct.HOT)]})
class RiskGrid:
    """Risk scores, explanations and early warnings for grid-based governance."""

    def __init__(self) -> None:
        self.settings = SETTINGS
        # `riskgrid serve` names the experiment as a Bento argument (--arg experiment=PATH).
        given = getattr(bentoml.use_arguments(), "experiment", None)
        self.experiment = load_experiment(given or self.settings.experiment)
        self.store_url = self.settings.store_url()
        self.data = load_serving_data(self.experiment, self.settings)
        self.hierarchy = hierarchy(self.data.areas)
        self.shapes = Shapes(self.data.areas, self.hierarchy)
        self.scorer = self._scorer(load_champion(self.settings, self.experiment.name))
        self.trends = TrendService(self.data.counts, self.experiment)
        self.quality = DataQuality.load(self.experiment, self.settings, self.shapes.names)
        self.safety = SafetyIndex.of(self.data.panel, self.data.areas, self.experiment)
        self.overrides = HeldOverrides(self.experiment, self.settings.override_refresh_seconds)
        self._stop = threading.Event()
        self._issue_warnings(self.scorer)
        threading.Thread(target=self._watch_registry, name="registry-watch", daemon=True).start()
        direct.register(RiskGrid, self)  # the gate answers the hot endpoints with this instance
        direct.settle_memory()

    @property
    def _lead(self) -> list[int]:
        """The horizons an answer gives when the request names none."""
        return [self.experiment.lead_horizon]

    @property
    def store(self) -> Store:
        """The store, opened on first use; StoreUnavailable while its database is away."""
        return store_at(self.store_url)

    # --- model lifecycle -------------------------------------------------------------------

    def _scorer(self, loaded) -> Scorer:
        scorer = Scorer(loaded, self.data, self.experiment)
        scorer.snapshot(scorer.latest)  # warm: the first request must not pay for it
        return scorer

    def _watch_registry(self) -> None:
        """Swap in a newly promoted champion; requests in flight keep the old one."""
        while not self._stop.wait(self.settings.model_poll_seconds):
            try:
                version = champion_version(self.settings, self.experiment.name)
                if version is None or version == self.scorer.loaded.version:
                    continue
                scorer = self._scorer(fetch_champion(self.settings, self.experiment.name))
                self.scorer = scorer  # one reference assignment: atomic for readers
                direct.settle_memory()
                log.info("now serving model version %s", version)
                self._issue_warnings(scorer)
            except Exception as exc:  # noqa: BLE001 - keep serving the current model
                log.warning("registry check failed (%s: %s); serving version %s",
                            type(exc).__name__, str(exc)[:200], self.scorer.loaded.version)

    def _issue_warnings(self, scorer: Scorer) -> None:
        self.warnings_job = {"model_version": scorer.loaded.version,
                             "as_of": str(scorer.latest.date()), "state": "running"}

        def report(**fields: Any) -> None:
            if self.scorer is scorer:  # a newer model's run keeps its own record
                self.warnings_job = self.warnings_job | fields  # replaced, never mutated

        def run() -> None:
            wait = RETRY_SECONDS
            # Both steps are idempotent (warnings keep their ids, the ledger is checked first),
            # so after an outage the run starts over; a newer model's run supersedes this one.
            while self.scorer is scorer and not self._stop.is_set():
                try:
                    new = issue_for(scorer, self.trends, self.experiment, self.store)
                    self._record_served(scorer)
                    report(state="done", new=new)
                    return
                except StoreUnavailable as exc:
                    log.warning("issuing warnings waits for the database (%s); retrying in "
                                "%.0f s", exc, wait)
                    report(state="retrying")
                    self._stop.wait(wait)
                    wait = min(2 * wait, RETRY_CAP_SECONDS)
                except Exception:  # a warnings run must never take the service down
                    log.exception("issuing warnings failed")
                    report(state="failed")
                    return

        threading.Thread(target=run, name="warnings", daemon=True).start()

    def _record_served(self, scorer: Scorer) -> None:
        """Put the forecasts this service answers with in the ledger, once per model and
        as-of period (every /score answer is a lookup in them)."""
        issued = self.store.vintages(experiment=self.experiment.name, source="api",
                                     model_version=scorer.loaded.version)
        as_of = str(scorer.latest.date())
        if not len(issued) or as_of not in set(issued["as_of"].astype(str)):
            record_batch(self.store, scorer, self.experiment, source="api")

    def __is_ready__(self) -> bool:
        return self.scorer is not None

    # --- endpoints -------------------------------------------------------------------------

    @bentoml.api
    def score(self, ctx: bentoml.Context, area_ids: AreaIds = None, level: Word | None = None,
              parent_id: AreaId | None = None, horizons: Horizons | None = None,
              as_of: Day | None = None, drivers: Drivers | None = None) -> ScoreResponse:
        """Expected counts with intervals, calibrated risk, levels, ranks and top drivers,
        for grids and for the communities, streets and districts above them.

        Without ``horizons``, the experiment's first forecast horizon.
        """
        def work(scorer: Scorer, record: RequestRecord) -> dict:
            ids = self._asked_areas(record, area_ids, level, parent_id)
            when = scorer.as_of(as_of)
            n = None if drivers is None else max(1, min(drivers, 50))
            scores = self.quality.flag(scorer.score(ids, horizons or self._lead, when, n), when)
            return {"model_version": scorer.loaded.version, "as_of": str(when.date()),
                    "scores": with_overrides(self.overrides.held(self.store), scores, when,
                                             self.experiment.features.period)}

        return self._call(ctx, "score", ScoreResponse, work)

    @bentoml.api
    def safety_index(self, ctx: bentoml.Context, area_ids: AreaIds = None,
                     level: Word | None = None, parent_id: AreaId | None = None,
                     as_of: Day | None = None) -> SafetyResponse:
        """The safety index (平安指数: 0-100, 100 the safest) of units of any level, with its
        components, its changes and next period's forecast (docs/safety_index.md)."""
        def work(scorer: Scorer, record: RequestRecord) -> dict:
            ids = self._asked_areas(record, area_ids, level, parent_id)
            when = scorer.as_of(as_of)
            return {"model_version": scorer.loaded.version, "as_of": str(when.date()),
                    **self.safety.answer(scorer, ids, when)}

        return self._call(ctx, "safety_index", SafetyResponse, work)

    @bentoml.api
    def explain(self, ctx: bentoml.Context, area_id: AreaId, horizon: Horizon | None = None,
                as_of: Day | None = None) -> ExplainResponse:
        """Every contribution for one area and horizon, and what changed since last period."""
        def work(scorer: Scorer, record: RequestRecord) -> dict:
            self._one_area(record, area_id)
            when = scorer.as_of(as_of)
            return {"model_version": scorer.loaded.version,
                    **scorer.explain(area_id, horizon or self._lead[0], when)}

        return self._call(ctx, "explain", ExplainResponse, work)

    @bentoml.api
    def score_features(self, ctx: bentoml.Context, rows: FeatureRows,
                       horizons: Horizons | None = None) -> WhatIfResponse:
        """What-if: score feature rows you supply (GET the inputs from /model_info)."""
        def work(scorer: Scorer, record: RequestRecord) -> dict:
            if len(rows) > self.settings.max_batch_areas:
                raise TooLarge(f"{len(rows)} rows is over the cap of "
                               f"{self.settings.max_batch_areas}; split the request")
            ids = sorted({str(r[C.AREA_ID]) for r in rows if r.get(C.AREA_ID) is not None})
            record.areas = ids
            for area in ids:
                self._known(area)
            self._check_scope(record, ids)
            return {"model_version": scorer.loaded.version, "as_of": str(scorer.latest.date()),
                    "scores": scorer.score_rows(rows, horizons or self._lead)}

        return self._call(ctx, "score_features", WhatIfResponse, work)

    @bentoml.api
    def forecast(self, ctx: bentoml.Context, unit_id: AreaId = C.CITY,
                 horizon: Annotated[int, Field(ge=1, le=104)] = 8, stream: Word = "all",
                 as_of: Day | None = None) -> ForecastResponse:
        """Prophet trend forecast with intervals for a street, a district or the city."""
        def work(scorer: Scorer, record: RequestRecord) -> dict:
            self._one_area(record, unit_id)
            when = scorer.as_of(as_of)
            level = self.hierarchy.level_of[unit_id]
            return {"model_version": scorer.loaded.version, "as_of": str(when.date()),
                    **self.trends.forecast(level, unit_id, stream, horizon, when)}

        return self._call(ctx, "forecast", ForecastResponse, work)

    @bentoml.api
    def warnings(self, ctx: bentoml.Context, area_ids: AreaIds = None,
                 level: Word | None = None, kind: Word | None = None,
                 period: Day | None = None, as_of: Day | None = None) -> WarningsResponse:
        """Active early warnings (issued, acknowledged or handled) in the key's scope,
        filterable by area, level, kind and period."""
        def work(scorer: Scorer, record: RequestRecord) -> dict:
            if level is not None and level not in LEVELS:
                raise InputError(f"level must be one of {list(LEVELS)}, not {level!r}")
            if kind is not None and kind not in KINDS:
                raise InputError(f"kind must be one of {list(KINDS)}, not {kind!r}")
            asked = list(area_ids or [])
            for area in asked:
                self._known(area)
            record.areas = asked
            self._check_scope(record, asked)
            when = str(scorer.as_of(as_of).date()) if as_of else None
            found = [w for w in self.store.query_warnings(level=level, kind=kind, period=period,
                                                          as_of=when)
                     if w["status"] in ACTIVE]
            within = set(asked) or {record.key.scope}
            found = [w for w in found
                     if within & self.hierarchy.ancestors.get(w["area_id"], frozenset())]
            for w in found:
                w["issued_at"] = str(w["issued_at"])
            return {"model_version": scorer.loaded.version,
                    "as_of": str(scorer.latest.date()), "warnings": found}

        return self._call(ctx, "warnings", WarningsResponse, work)

    @bentoml.api
    def model_info(self, ctx: bentoml.Context) -> ModelInfo:
        """The model being served, where it came from, its inputs and its backtest."""
        def work(scorer: Scorer, record: RequestRecord) -> dict:
            m = scorer.model
            scope = record.key.scope
            # A key below the city learns nothing of the city: counts of its own units only,
            # and neither the city-wide backtest nor the number of warnings issued city-wide.
            within = {u: lv for u, lv in self.hierarchy.level_of.items()
                      if scope in self.hierarchy.ancestors.get(u, ())}
            counts = pd.Series(within, dtype=object).value_counts().to_dict()
            city = scope == C.CITY
            job = self.warnings_job if city else {k: v for k, v in self.warnings_job.items()
                                                  if k != "new"}
            return {"model_version": scorer.loaded.version, "as_of": str(scorer.latest.date()),
                    **scorer.loaded.summary(), "experiment": m.experiment, "period": m.period,
                    "horizons": scorer.horizons, "target": m.target, "risk_flag": m.risk_flag,
                    "features": m.features, "levels": {k: int(v) for k, v in counts.items()},
                    "periods": [str(scorer.periods[0].date()), str(scorer.latest.date())],
                    "data_fingerprint": self.data.fingerprint,
                    "backtest": scorer.loaded.backtest if city else {}, "warnings_job": job}

        return self._call(ctx, "model_info", ModelInfo, work)

    @bentoml.api
    def areas(self, ctx: bentoml.Context, level: Word = "grid",
              parent_id: AreaId | None = None) -> AreasResponse:
        """The areas of a level under a unit (default: the key's scope), with their shapes."""
        def work(scorer: Scorer, record: RequestRecord) -> dict:
            parent = parent_id or record.key.scope
            self._one_area(record, parent)
            if level not in C.LEVELS:
                raise InputError(f"level must be one of {list(C.LEVELS)}, not {level!r}")
            ids = self.hierarchy.units(level, parent)
            if len(ids) > self.settings.max_batch_areas:
                raise TooLarge(f"{len(ids)} areas is over the cap of "
                               f"{self.settings.max_batch_areas}; ask for a smaller parent")
            return {"model_version": scorer.loaded.version, "as_of": str(scorer.latest.date()),
                    "areas": self.shapes.describe(level, ids)}

        return self._call(ctx, "areas", AreasResponse, work)

    @bentoml.api
    def periods(self, ctx: bentoml.Context) -> PeriodsResponse:
        """The as-of periods with forecasts in the ledger, newest first, and the latest period
        (which /score answers live)."""
        def work(scorer: Scorer, record: RequestRecord) -> dict:
            record.areas = [record.key.scope]
            return {"model_version": scorer.loaded.version, "as_of": str(scorer.latest.date()),
                    "periods": ledger_periods(self.store, self.experiment.name)}

        return self._call(ctx, "periods", PeriodsResponse, work)

    @bentoml.api
    def ledger_scores(self, ctx: bentoml.Context, as_of: Day, area_ids: AreaIds = None,
                      level: Word | None = None, parent_id: AreaId | None = None,
                      horizon: Horizon | None = None) -> LedgerScoresResponse:
        """A past period's forecasts as the ledger holds them (issued then, not replayed)."""
        def work(scorer: Scorer, record: RequestRecord) -> dict:
            ids = self._asked_areas(record, area_ids, level, parent_id)
            when = str(scorer.as_of(as_of).date())
            vintage = ledger_vintage(self.store, self.experiment.name, when)
            return {"model_version": scorer.loaded.version, "as_of": when, "vintage": vintage,
                    "scores": ledger_scores(self.store, vintage, ids,
                                            horizon or self._lead[0])}

        return self._call(ctx, "ledger_scores", LedgerScoresResponse, work)

    @bentoml.api
    def warning_action(self, ctx: bentoml.Context, warning_id: WarningId, action: Word,
                       reason: Word | None = None, note: Note | None = None
                       ) -> WarningActionResponse:
        """Move a warning along its lifecycle: acknowledge, handle, close, or dismiss (with a
        reason code); who and when are recorded."""
        def work(scorer: Scorer, record: RequestRecord) -> dict:
            record.areas = [self.store.warning(warning_id)["area_id"]]
            self._check_scope(record, record.areas)
            who = f"key:{record.key.key_id}" + (f" ({record.key.label})" if record.key.label
                                                else "")
            step = {"acknowledge": "ack"}.get(action, action)  # both spellings are accepted
            updated = self.store.warning_action(warning_id, step, who, reason=reason,
                                                note=note)
            updated["issued_at"] = str(updated["issued_at"])
            history = [{k: str(v) if k == "at" else v for k, v in event.items()}
                       for event in self.store.warning_history(warning_id)]
            return {"model_version": scorer.loaded.version, "as_of": str(scorer.latest.date()),
                    "warning": updated,
                    "history": history}

        return self._call(ctx, "warning_action", WarningActionResponse, work)

    @bentoml.api
    def override(self, ctx: bentoml.Context, area_id: AreaId, period: Day, note: Note,
                 level: Word | None = None, reason_code: Word | None = None,
                 clear: bool = False) -> OverrideResponse:
        """Set an area's level for a forecast period with a reason code and a note, or clear it."""
        def work(scorer: Scorer, record: RequestRecord) -> dict:
            self._one_area(record, area_id)
            done = served_override(self.store, self.experiment, scorer, record.key, area_id,
                                   period, level, reason_code, note, clear)
            self.overrides.changed()
            return {"model_version": scorer.loaded.version, "as_of": str(scorer.latest.date()),
                    **done}

        return self._call(ctx, "override", OverrideResponse, work)

    @bentoml.api
    def data_quality(self, ctx: bentoml.Context, area_id: AreaId | None = None,
                     as_of: Day | None = None) -> DataQualityResponse:
        """Data alarms that concern an area (default: the key's scope) as of a period."""
        def work(scorer: Scorer, record: RequestRecord) -> dict:
            area = self._one_area(record, area_id or record.key.scope)
            return {"model_version": scorer.loaded.version, "area_id": area,
                    "as_of": str(scorer.as_of(as_of).date()),
                    "alarms": self.quality.about(area, scorer.as_of(as_of))}

        return self._call(ctx, "data_quality", DataQualityResponse, work)

    # --- helpers ---------------------------------------------------------------------------

    def _call(self, ctx: bentoml.Context, endpoint: str, answer: type[BaseModel],
              work: Callable[[Scorer, RequestRecord], dict]) -> Any:
        """Role check, the work, and errors as 4xx JSON with one clear sentence."""
        record = RequestRecord.of(ctx.request)
        scorer = self.scorer  # one model for the whole request, even across a promotion
        record.model_version = scorer.loaded.version
        try:
            require_role(record.key.role, endpoint)
            return answer.model_validate(work(scorer, record))
        except AccessDenied as exc:
            return _error(ctx, 403, exc)
        except TooLarge as exc:
            return _error(ctx, 413, exc)
        except InputError as exc:
            return _error(ctx, 422, exc)
        except StoreUnavailable:
            ctx.response.headers["Retry-After"] = str(RETRY_AFTER_SECONDS)
            return _error(ctx, 503, UNAVAILABLE)

    def _asked_areas(self, record: RequestRecord, area_ids: list[str] | None,
                     level: str | None, parent_id: str | None) -> list[str]:
        """The areas a request names (ids, or a level under a parent), known and inside the
        key's scope; the audit row records what was asked, then the areas answered."""
        record.areas = list(area_ids or ([parent_id] if parent_id else []))
        ids = self._areas(record, area_ids, level, parent_id)
        record.areas = ids
        self._check_scope(record, ids)
        return ids

    def _one_area(self, record: RequestRecord, unit_id: str) -> str:
        """One area a request names, known and inside the key's scope (and audited)."""
        record.areas = [unit_id]
        self._known(unit_id)
        self._check_scope(record, [unit_id])
        return unit_id

    def _areas(self, record: RequestRecord, area_ids: list[str] | None, level: str | None,
               parent_id: str | None) -> list[str]:
        if area_ids and (level or parent_id):
            raise InputError("send either area_ids or level with parent_id, not both")
        if area_ids:
            ids = list(dict.fromkeys(area_ids))
            unknown = [a for a in ids if not self.hierarchy.knows(a)]
            if unknown:
                raise InputError(f"unknown area ids: {', '.join(unknown[:5])}"
                                 f"{' ...' if len(unknown) > 5 else ''}; ids are the "
                                 "experiment's grid, community, street and district ids or "
                                 "'city' (/areas with a level and parent_id lists them)")
        elif level and parent_id:
            if level not in C.LEVELS:
                raise InputError(f"level must be one of {list(C.LEVELS)}, not {level!r}")
            self._known(parent_id)
            # The scope is checked on what was asked for: a refusal names the parent, never
            # the ids under it.
            self._check_scope(record, [parent_id])
            ids = self.hierarchy.units(level, parent_id)
        else:
            raise InputError("send area_ids (a non-empty list) or level and parent_id")
        if len(ids) > self.settings.max_batch_areas:
            raise TooLarge(f"{len(ids)} areas is over the cap of "
                           f"{self.settings.max_batch_areas} per request; split it")
        return ids

    def _known(self, unit_id: str) -> None:
        if not self.hierarchy.knows(unit_id):
            raise InputError(f"unknown area id {unit_id!r}; ids are the experiment's grid, "
                             "community, street and district ids, or 'city'")

    def _check_scope(self, record: RequestRecord, ids: list[str]) -> None:
        self.hierarchy.check(record.key.scope, ids)


def _error(ctx: bentoml.Context, status: int, exc: Exception | str) -> JSONResponse:
    ctx.response.status_code = status  # BentoML copies the context's status onto the answer
    return JSONResponse({"error": str(exc)}, status_code=status)


RiskGrid.add_asgi_middleware(AuditGate, store_url=SETTINGS.store_url(),
                             max_body_bytes=SETTINGS.max_body_bytes)
# The dashboard: static files that call the API with the user's key (no key needed to load).
RiskGrid.mount_asgi_app(
    StaticFiles(directory=Path(__file__).with_name("dashboard"), html=True), path="/dashboard")
