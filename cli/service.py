"""Commands of the service and its store: serve, keys, db, score and scorecard."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Literal

import typer
from rich.table import Table

from cli.app import (
    ExperimentArg,
    JsonOpt,
    app,
    command_group,
    console,
    err_console,
    load_experiment,
    settings_of,
    write_json,
)
from riskgrid import InputError
from riskgrid import vocabulary as C

Role = Literal[C.ROLES]


@app.command(epilog="Example: riskgrid serve experiments/synthetic_city.toml --port 3000")
def serve(ctx: typer.Context,
          experiment: Annotated[Path, typer.Argument(help="Experiment file.")] = Path(
              "experiments/synthetic_city.toml"),
          host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
          port: Annotated[int | None, typer.Option(help="Port (default RISKGRID_PORT, "
                                                   "3000).")] = None) -> None:
    """Start the scoring service (BentoML) for the experiment's champion model."""
    import os

    load_experiment(experiment)  # a bad file fails here, in one line, not in the server log
    port = port or settings_of(ctx).port
    console.print(f"serving {experiment} on http://{host}:{port} (docs at /docs)")
    bentoml = Path(sys.executable).with_name("bentoml")
    # The experiment reaches every worker as a Bento argument (bentoml.use_arguments).
    os.execv(bentoml, [str(bentoml), "serve", "serving.service:RiskGrid", "--host", host,
                       "--port", str(port), "--arg", f"experiment={experiment.resolve()}"])


keys_app = command_group("keys", "API keys of the service.")


@keys_app.command("create", epilog='Example: riskgrid keys create --role viewer --scope D01 '
                  '--label "D01 duty desk"')
def keys_create(ctx: typer.Context,
                role: Annotated[Role, typer.Option(help="What the key may do.")],
                scope: Annotated[str, typer.Option(help="Area id the key sees ('city': all).")],
                label: Annotated[str | None, typer.Option(help="Whose key it is.")] = None,
                experiment: Annotated[Path | None, typer.Option(
                    help="Experiment whose areas the scope must be one of (default "
                    "RISKGRID_EXPERIMENT, the one the service serves).")] = None
                ) -> None:
    """Create a key; the key itself is printed once, alone on the last line."""
    from serving import open_store

    settings = settings_of(ctx)
    if scope.strip() != "city":
        _check_scope(scope.strip(), experiment or settings.experiment, settings)
    record, token = open_store(settings.store_url()).create_key(role, scope, label)
    console.print(f"key {record.key_id}: role {record.role}, scope {record.scope}; keep the "
                  "key below, it is not stored and cannot be shown again")
    print(token)


def _check_scope(scope: str, experiment: Path, settings) -> None:
    """InputError unless ``scope`` is an area of the experiment (any level)."""
    from features import read_clean
    from riskgrid import vocabulary as C

    exp = load_experiment(experiment)
    areas = read_clean(exp.output_dir(settings), events=False).areas
    known = {str(v) for column in C.LEVEL_ID.values() if column in areas
             for v in areas[column].dropna()}
    if scope not in known:
        raise InputError(f"Scope {scope!r} is not an area of experiment {exp.name} "
                         f"({experiment}); give one of its grid, community, street or district "
                         "ids, or 'city' (pass --experiment for another experiment).")


@keys_app.command("list", epilog="Example: riskgrid keys list")
def keys_list(ctx: typer.Context) -> None:
    """Every key: id, role, scope, label, created, revoked."""
    from serving import open_store

    table = Table(title="API keys")
    for column in ("key_id", "role", "scope", "label", "created_at", "revoked_at"):
        table.add_column(column)
    for k in open_store(settings_of(ctx).store_url()).list_keys():
        table.add_row(k.key_id, k.role, k.scope, k.label or "", str(k.created_at)[:19],
                      str(k.revoked_at)[:19] if k.revoked_at else "")
    console.print(table)


@keys_app.command("revoke", epilog="Example: riskgrid keys revoke 3f9a1c2e")
def keys_revoke(ctx: typer.Context,
                key_id: Annotated[str, typer.Argument(help="The key's id (keys list).")]) -> None:
    """Revoke a key: requests with it get 401 from now on."""
    from serving import open_store

    if not open_store(settings_of(ctx).store_url()).revoke_key(key_id):
        raise InputError(f"no active key with id {key_id!r}; riskgrid keys list shows them")
    console.print(f"revoked {key_id}")


db_app = command_group("db", "The service store's schema (docs/stores.md).")


def _store_call(ctx: typer.Context, action, *args):
    """Run a serving.store schema function on the configured store; an unreachable database
    is one sentence, not a traceback."""
    from sqlalchemy import make_url

    from serving import StoreUnavailable

    url = settings_of(ctx).store_url()
    where = make_url(url).render_as_string(hide_password=True)
    try:
        return where, action(url, *args)
    except StoreUnavailable as exc:
        raise InputError(f"{where}: {exc}; check RISKGRID_DATABASE_URL and that the database "
                         "server is up.") from None


@db_app.command("upgrade", epilog="Example: riskgrid db upgrade --revision 0002")
def db_upgrade(ctx: typer.Context, revision: Annotated[str, typer.Option(
        help="Revision to upgrade to (serving/store/migrations/versions).")] = "head") -> None:
    """Upgrade the store's schema (the service does this to head when it starts)."""
    from serving import upgrade_store

    where, now = _store_call(ctx, upgrade_store, revision)
    console.print(f"{where} is at revision {now}", highlight=False)


@db_app.command("current", epilog="Example: RISKGRID_DATABASE_URL=postgresql+psycopg://"
                "riskgrid@db/riskgrid riskgrid db current")
def db_current(ctx: typer.Context) -> None:
    """The store's schema revision and the newest one this code knows."""
    from serving import store_revision

    where, (now, head) = _store_call(ctx, store_revision)
    state = "up to date" if now == head else f"behind: riskgrid db upgrade brings it to {head}"
    console.print(f"{where} is at revision {now or 'none (not created yet)'}; {state}",
                  highlight=False)


@db_app.command("grant", epilog="Example: riskgrid db grant riskgrid_service")
def db_grant(ctx: typer.Context, role: Annotated[str, typer.Argument(
        help="The PostgreSQL role the service connects as.")]) -> None:
    """PostgreSQL: let the service's role append to history but never change it (run as the
    tables' owner; docs/stores.md)."""
    from serving import open_store

    where, statements = _store_call(ctx, lambda url: open_store(url).grant_service_role(role))
    for statement in statements:
        console.print(f"{statement};", highlight=False)
    console.print(f"{where}: role {role} may read, and append to the history tables only",
                  highlight=False)


audit_app = command_group("audit", "The audit log and the store's history.")


@audit_app.command("verify", epilog="Example: riskgrid audit verify --head 4f1ad425...")
def audit_verify(ctx: typer.Context, head: Annotated[list[str] | None, typer.Option(
        "--head", help="A head hash printed by an earlier verify: check it is still in the "
        "chain (repeatable).")] = None) -> None:
    """Check the hash chains of the audit log, the forecast ledger, the warning lifecycle and the
    level overrides, and the append-only guards; exit 1 naming the first broken link."""
    from serving import open_store

    anchors = frozenset(h.strip().lower() for h in head or [])
    where, report = _store_call(ctx, lambda url: open_store(url).verify_history(anchors))
    for found in report.chains:
        state = "broken" if found.broken else "intact"
        console.print(f"{found.table}: {found.rows:,} rows, chain {state}, head {found.head}",
                      highlight=False)
    problems = [c.broken for c in report.chains if c.broken]
    if report.missing_guards:
        problems.append(f"the append-only guards {', '.join(report.missing_guards)} are "
                        "missing (dropped); riskgrid db upgrade cannot restore them, restore "
                        "the store from a backup and compare")
    problems += [f"head {h} is in no chain: the history up to it was rewritten"
                 for h in report.lost_anchors]
    if problems:
        err_console.print(f"{where}: the history does not verify: {problems[0]}",
                          highlight=False, markup=False)
        raise SystemExit(1)  # typer.Exit is swallowed by the non-standalone run in main()
    console.print(f"{where}: every chain is intact and every guard in place", highlight=False)


@app.command(epilog="Example: riskgrid score experiments/synthetic_city.toml --as-of 2025-06-30")
def score(ctx: typer.Context, experiment: ExperimentArg,
          as_of: Annotated[str | None, typer.Option(
              "--as-of", help="As-of period, YYYY-MM-DD (default: the latest).")] = None,
          json_path: JsonOpt = None) -> None:
    """Score every grid for every horizon with the champion; record it in the forecast ledger."""
    from serving import Scorer, load_champion, load_serving_data, open_store, record_batch

    settings = settings_of(ctx)
    exp = load_experiment(experiment)
    with console.status("scoring"):
        scorer = Scorer(load_champion(settings, exp.name), load_serving_data(exp, settings), exp)
        period = scorer.as_of(as_of)
        vintage = record_batch(open_store(settings.store_url()), scorer, exp, period)
    grids = len(scorer.snapshot(period).area_ids)
    console.print(f"vintage {vintage}: {grids * len(scorer.horizons):,} forecasts ({grids:,} "
                  f"grids x horizons {scorer.horizons}) as of {period.date()} by "
                  f"{scorer.loaded.name} version {scorer.loaded.version}")
    write_json(json_path, {"vintage_id": vintage, "as_of": str(period.date()),
                           "model_version": scorer.loaded.version,
                           "forecasts": grids * len(scorer.horizons)})


@app.command("scorecard", epilog="Example: riskgrid scorecard experiments/synthetic_city.toml "
             "--json data/synthetic_city/scorecard.json")
def scorecard_command(ctx: typer.Context,
                      experiment: ExperimentArg, json_path: JsonOpt = None) -> None:
    """Score every past forecast vintage against what happened: newest first, then the trend."""
    from features import read_clean
    from serving import (
        ledger,
        level_tally,
        open_store,
        read_outcomes,
        record_backtest_file,
        scorecard,
        scorecard_trend,
    )

    settings = settings_of(ctx)
    exp = load_experiment(experiment)
    store = open_store(settings.store_url())
    with console.status("scoring the ledger"):
        record_backtest_file(store, exp, settings)
        outcomes = read_outcomes(exp, settings)
        card = scorecard(store, exp.name, outcomes, exp.warnings.alert_budget)
        trend = scorecard_trend(card)
        tally = level_tally(store.forecasts(experiment=exp.name), outcomes,
                            outcomes["period"].max(), exp.lead_horizon,
                            exp.warnings.track_periods, exp.features.period)
        try:
            areas = read_clean(exp.output_dir(settings), events=False).areas
        except InputError:
            areas = None  # overrides of units are judged once the areas are ingested
        judged = ledger.override_card(store.overrides(exp.name), outcomes, areas)
    if card.empty:
        console.print(f"no forecast of {exp.name} has an observed target period yet; riskgrid "
                      "score (or riskgrid train's backtest) records forecasts")
    else:
        console.print(_scorecard_table(card, exp.warnings.alert_budget))
        console.print(_trend_table(trend))
        console.print(f"{card['vintage_id'].nunique()} vintages scored")
    for r in tally.itertuples(index=False):
        console.print(f"of {r.forecasts:,} {r.level} forecasts from the {r.source} for "
                      f"{r.first_target} to {r.last_target} ({exp.lead_horizon} ahead), "
                      f"{r.came_true:,} came true")
    summary = ledger.override_summary(judged)
    for r in summary:
        console.print(f"levels the meeting {r['direction']}, for periods now past: "
                      f"{r['overrides']:,}, of which {r['came_true']:,} came true (closer: the "
                      f"meeting {r['meeting_closer']:,}, the model {r['model_closer']:,})")
    write_json(json_path, {"experiment": exp.name, "alert_budget": exp.warnings.alert_budget,
                           "vintages": int(card["vintage_id"].nunique()),
                           "rows": _records(card), "trend": _records(trend),
                           "levels": _records(tally),
                           "overrides": {"rows": _records(judged), "summary": summary}})


def _records(frame) -> list[dict]:
    """JSON-ready rows: NaN as null, times in ISO format."""
    return json.loads(frame.to_json(orient="records", date_format="iso"))


def _number(value: float, digits: int = 3) -> str:
    import math

    return "" if value is None or math.isnan(value) else f"{value:.{digits}f}"


def _scorecard_table(card, budget: float) -> Table:
    table = Table(title=f"scorecard (newest first; hit rate at the alert budget {budget:.0%})")
    for column in ("as_of", "target", "h", "source", "model", "n", "mae", "deviance", "brier",
                   "hit_rate", "coverage", "warnings ok/all"):
        table.add_column(column, justify="left" if column in ("as_of", "target", "source",
                                                              "model") else "right")
    for r in card.itertuples(index=False):
        table.add_row(r.as_of, r.target_period, str(r.horizon), r.source, r.model_version,
                      f"{r.n:,}", _number(r.mae), _number(r.poisson_deviance),
                      _number(r.brier), _number(r.hit_rate, 2), _number(r.coverage, 2),
                      f"{r.warnings_confirmed}/{r.warnings}")
    return table


def _trend_table(trend) -> Table:
    table = Table(title="trend: newest vintages against the ones before them")
    for column in ("h", "metric", "vintages", "recent", "previous", "change", "improved"):
        table.add_column(column, justify="left" if column == "metric" else "right")
    for r in trend.itertuples(index=False):
        table.add_row(str(r.horizon), r.metric, str(r.vintages), _number(r.recent),
                      _number(r.previous), _number(r.change),
                      "" if r.improved is None else ("yes" if r.improved else "no"))
    return table
