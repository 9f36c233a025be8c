"""The riskgrid command line: one command per pipeline step."""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from features import InputError, Settings, ingest
from features import load_experiment as _load
from serving.config import ServingExperiment

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="Risk forecasting and early warning for grid-based social governance.")
console = Console(width=None if sys.stdout.isatty() else 160)
err_console = Console(stderr=True, soft_wrap=True)

ExperimentArg = Annotated[
    Path, typer.Argument(help="Experiment file, e.g. experiments/synthetic_city.toml")]
JsonOpt = Annotated[
    Path | None, typer.Option("--json", help="Also write the summary as JSON here.")]


@app.command()
def synth(out: Annotated[Path | None, typer.Option(help="Output folder.")] = None,
          seed: Annotated[int, typer.Option(help="Random seed.")] = 7) -> None:
    """Generate the synthetic city: incidents, petitions, areas and the ground truth."""
    from features.synthetic_city import write_city

    settings = Settings()
    target = out or settings.data_dir / "synthetic_city"
    with console.status("generating the synthetic city"):
        written = write_city(target, seed=seed)
    for name, path in written.items():
        console.print(f"{name:<12} {path}")


@app.command("ingest")
def ingest_command(experiment: ExperimentArg, json_path: JsonOpt = None) -> None:
    """Read the experiment's sources into clean tables; print the row accounting."""
    settings = Settings()
    exp = load_experiment(experiment)
    with console.status("ingesting") as status:
        report = ingest(exp, settings, progress=lambda msg: status.update(msg))
    summary = report.as_json()
    table = Table(title=f"ingest {exp.name}")
    keys = ("rows_in", "accepted", "quarantined", "duplicates", "merged")
    for column in ("source", *keys):
        table.add_column(column, justify="left" if column == "source" else "right")
    for name, counts in {**summary["sources"], "total": summary["total"]}.items():
        table.add_row(name, *(f"{counts[k]:,}" for k in keys))
    if summary["total"]["merged"]:
        console.print("merged: accepted rows folded into an earlier row of the same incident "
                      "(merge_rows = true); the clean table holds accepted - merged incidents")
    console.print(table)
    console.print(f"clean tables: {report.clean_dir}")
    write_json(json_path, summary)


@app.command()
def features(experiment: ExperimentArg) -> None:
    """Build the feature panel and the feature catalogue from the clean tables."""
    from features import build_features

    settings = Settings()
    exp = load_experiment(experiment)
    with console.status("building features"):
        result = build_features(exp, settings)
    console.print(f"panel: {result.rows:,} rows x {result.columns} features, periods "
                  f"{result.periods[0]} to {result.periods[1]} -> {result.path}")
    for line in result.left_out:
        console.print(line, highlight=False, markup=False)


def write_json(path: Path | None, payload: dict) -> None:
    """The --json output other tools read, when asked for."""
    if path:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(_strict(payload), indent=2, allow_nan=False) + "\n")


def _strict(value):
    """NaN and infinities as null: JSON has no such numbers (an undefined metric is null)."""
    if isinstance(value, dict):
        return {k: _strict(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_strict(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def load_experiment(path: Path) -> ServingExperiment:
    """Every command reads the whole experiment file, every section included."""
    return _load(path, ServingExperiment)


def _comparison(result, horizon: int) -> Table:
    keys = ("poisson_deviance", "mae", "roc_auc", "pr_auc", "brier", "ece", "hit_rate@5%",
            "pai@5%", "pei@5%")
    table = Table(title=f"backtest, horizon {horizon} ({len(result.folds)} folds)")
    table.add_column("forecaster")
    for key in keys:
        table.add_column(key, justify="right")
    rows = {"model": result.model[horizon]} | {n: b[horizon] for n, b in result.baselines.items()}
    for name, metrics in rows.items():
        table.add_row(name, *("n/a" if math.isnan(metrics[k]) else f"{metrics[k]:.4f}"
                              for k in keys))
    undefined = sorted({k for m in rows.values() for k in keys if math.isnan(m[k])})
    if undefined:
        table.caption = (f"n/a ({', '.join(undefined)}): undefined, because the test periods "
                         "hold only one class of the high-risk flag (none flagged, or all)")
    return table


def flag_warning(predictions, training) -> str | None:
    """One sentence when no test period is high-risk: the risk metrics mean nothing then."""
    if predictions is not None and len(predictions) and \
            float(predictions["flag"].fillna(0).sum()) == 0:
        return (f"no test period is high-risk under [training] risk_flag = "
                f"\"{training.risk_flag}\", so ROC AUC and PR AUC are undefined and ECE and "
                "Brier score nothing; for data without collective petitions or group incidents "
                "set risk_flag = \"above_quantile\" (with flag_quantile) in the experiment file")
    return None


@app.command("backtest")
def backtest_command(experiment: ExperimentArg, json_path: JsonOpt = None) -> None:
    """Rolling-origin backtest of the model and every baseline; print and write the metrics."""
    from features.engine import Engine
    from training.pipeline import backtest, load_inputs

    settings = Settings()
    exp = load_experiment(experiment)
    with console.status("backtesting") as status:
        result = backtest(exp, load_inputs(exp, settings), lambda m: status.update(m),
                          Engine.from_settings(settings))
    for h in result.horizons:
        console.print(_comparison(result, h))
    summary = result.as_json()
    warning = flag_warning(result.predictions, exp.training)
    if warning:
        err_console.print(f"warning: {warning}", highlight=False, markup=False)
        summary["warnings"] = [warning]
    for h, s in summary["skill"].items():
        console.print(f"horizon {h}: {s['metric']} model {s['model_value']:.4f}, best baseline "
                      f"{s['best_baseline']} {s['baseline_value']:.4f}, improvement "
                      f"{s['improvement']:+.4f}")
    for level, gap in summary.get("coherence", {}).items():
        console.print(f"{level}: bottom-up vs Prophet gap {gap['coherence_gap']:.1%} of the mean "
                      f"count; MAE bottom-up {gap['mae_bottom_up']:.2f}, Prophet "
                      f"{gap['mae_prophet']:.2f}")
    write_json(json_path, summary)


@app.command()
def train(experiment: ExperimentArg) -> None:
    """Backtest, fit on all data, log to MLflow and register the model as challenger."""
    from training.pipeline import train as train_model
    from training.registry import check_store, store_failures

    settings = Settings()
    exp = load_experiment(experiment)
    with store_failures(settings, "riskgrid train", "the champion is unchanged"):
        check_store(settings, exp.name)  # an unreachable store fails now, not after the backtest
        with console.status("training") as status:
            report = train_model(exp, settings, experiment.read_text(encoding="utf-8"),
                                 lambda m: status.update(m))
    console.print(_comparison(report.result, min(report.result.horizons)))
    warning = flag_warning(report.result.predictions, exp.training)
    if warning:
        err_console.print(f"warning: {warning}", highlight=False, markup=False)
    console.print(f"registered {report.model_name} version {report.registered_version} as "
                  f"challenger (backtest {report.backtest_fingerprint})")
    saved = save_backtest_predictions(report.result.predictions, exp, settings)
    console.print(f"backtest forecasts (out of sample, for the scorecard): {saved}")


def save_backtest_predictions(predictions, exp: ServingExperiment, settings: Settings) -> Path:
    """The backtest's out-of-sample forecasts, which the ledger records as past vintages."""
    from features import columns as C
    from serving.ledger import BACKTEST_FILE

    path = exp.output_dir(settings) / BACKTEST_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    columns = ["fold", "horizon", C.AREA_ID, C.PERIOD, "model_count", "model_probability"]
    tmp = path.with_suffix(".partial")
    predictions[columns].to_parquet(tmp, index=False)
    tmp.replace(path)  # whole or absent
    return path


@app.command()
def promote(experiment: ExperimentArg,
            reason: Annotated[str, typer.Option(help="Why, for the record.")] = "scheduled review",
            who: Annotated[str | None, typer.Option(help="Who decides (default: user).")] = None
            ) -> None:
    """Make the challenger champion if it beats the champion on the primary metric."""
    from training.registry import promote as promote_model
    from training.registry import store_failures

    settings = Settings()
    exp = load_experiment(experiment)
    with store_failures(settings, "riskgrid promote", "the champion alias moves in one step, "
                        "so it is either unchanged or the challenger"):
        record = promote_model(settings, exp.name, exp.training.primary_metric, reason, who)
    verb = "promoted" if record["promoted"] else "kept the champion"
    console.print(f"{verb}: {record['why']} (challenger version {record['challenger_version']})")


@app.command()
def serve(experiment: Annotated[Path, typer.Argument(help="Experiment file.")] = Path(
              "experiments/synthetic_city.toml"),
          host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
          port: Annotated[int | None, typer.Option(help="Port (default RISKGRID_PORT, "
                                                   "3000).")] = None) -> None:
    """Start the scoring service (BentoML) for the experiment's champion model."""
    import os

    load_experiment(experiment)  # a bad file fails here, in one line, not in the server log
    settings = Settings()
    os.environ["RISKGRID_EXPERIMENT"] = str(experiment.resolve())
    port = port or settings.port
    console.print(f"serving {experiment} on http://{host}:{port} (docs at /docs)")
    bentoml = Path(sys.executable).with_name("bentoml")
    os.execv(bentoml, [str(bentoml), "serve", "serving.service:RiskGrid", "--host", host,
                       "--port", str(port)])


keys_app = typer.Typer(no_args_is_help=True, help="API keys of the service.")
app.add_typer(keys_app, name="keys")


@keys_app.command("create")
def keys_create(role: Annotated[str, typer.Option(help="viewer, analyst or admin.")],
                scope: Annotated[str, typer.Option(help="Area id the key sees ('city': all).")],
                label: Annotated[str | None, typer.Option(help="Whose key it is.")] = None
                ) -> None:
    """Create a key; the key itself is printed once, alone on the last line."""
    from serving.store import open_store

    record, token = open_store(Settings().store_url()).create_key(role, scope, label)
    console.print(f"key {record.key_id}: role {record.role}, scope {record.scope}; keep the "
                  "key below, it is not stored and cannot be shown again")
    print(token)


@keys_app.command("list")
def keys_list() -> None:
    """Every key: id, role, scope, label, created, revoked."""
    from serving.store import open_store

    table = Table(title="API keys")
    for column in ("key_id", "role", "scope", "label", "created_at", "revoked_at"):
        table.add_column(column)
    for k in open_store(Settings().store_url()).list_keys():
        table.add_row(k.key_id, k.role, k.scope, k.label or "", str(k.created_at)[:19],
                      str(k.revoked_at)[:19] if k.revoked_at else "")
    console.print(table)


@keys_app.command("revoke")
def keys_revoke(key_id: Annotated[str, typer.Argument(help="The key's id (keys list).")]) -> None:
    """Revoke a key: requests with it get 401 from now on."""
    from serving.store import open_store

    if not open_store(Settings().store_url()).revoke_key(key_id):
        raise InputError(f"no active key with id {key_id!r}; riskgrid keys list shows them")
    console.print(f"revoked {key_id}")


db_app = typer.Typer(no_args_is_help=True, help="The service store's schema (docs/stores.md).")
app.add_typer(db_app, name="db")


def _store_call(action, *args):
    """Run a serving.store schema function on the configured store; an unreachable database
    is one sentence, not a traceback."""
    from sqlalchemy import make_url

    from serving.store import StoreUnavailable

    url = Settings().store_url()
    where = make_url(url).render_as_string(hide_password=True)
    try:
        return where, action(url, *args)
    except StoreUnavailable as exc:
        raise InputError(f"{where}: {exc}; check RISKGRID_DATABASE_URL and that the database "
                         "server is up.") from None


@db_app.command("upgrade")
def db_upgrade(revision: Annotated[str, typer.Option(
        help="Revision to upgrade to (serving/migrations/versions).")] = "head") -> None:
    """Upgrade the store's schema (the service does this to head when it starts)."""
    from serving.store import upgrade_store

    where, now = _store_call(upgrade_store, revision)
    console.print(f"{where} is at revision {now}", highlight=False)


@db_app.command("current")
def db_current() -> None:
    """The store's schema revision and the newest one this code knows."""
    from serving.store import store_revision

    where, (now, head) = _store_call(store_revision)
    state = "up to date" if now == head else f"behind: riskgrid db upgrade brings it to {head}"
    console.print(f"{where} is at revision {now or 'none (not created yet)'}; {state}",
                  highlight=False)


@app.command()
def score(experiment: ExperimentArg,
          as_of: Annotated[str | None, typer.Option(
              "--as-of", help="As-of period, YYYY-MM-DD (default: the latest).")] = None,
          json_path: JsonOpt = None) -> None:
    """Score every grid for every horizon with the champion; record it in the forecast ledger."""
    from serving.champion import load_champion
    from serving.ledger import record_batch
    from serving.scoring import Scorer, load_serving_data
    from serving.store import open_store

    settings = Settings()
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


@app.command("scorecard")
def scorecard_command(experiment: ExperimentArg, json_path: JsonOpt = None) -> None:
    """Score every past forecast vintage against what happened: newest first, then the trend."""
    from serving.ledger import read_outcomes, record_backtest_file, scorecard, scorecard_trend
    from serving.store import open_store

    settings = Settings()
    exp = load_experiment(experiment)
    store = open_store(settings.store_url())
    with console.status("scoring the ledger"):
        record_backtest_file(store, exp, settings)
        card = scorecard(store, exp.name, read_outcomes(exp, settings),
                         exp.warnings.alert_budget)
        trend = scorecard_trend(card)
    if card.empty:
        console.print(f"no forecast of {exp.name} has an observed target period yet; riskgrid "
                      "score (or riskgrid train's backtest) records forecasts")
    else:
        console.print(_scorecard_table(card, exp.warnings.alert_budget))
        console.print(_trend_table(trend))
        console.print(f"{card['vintage_id'].nunique()} vintages scored")
    write_json(json_path, {"experiment": exp.name, "alert_budget": exp.warnings.alert_budget,
                           "vintages": int(card["vintage_id"].nunique()),
                           "rows": _records(card), "trend": _records(trend)})


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


warnings_app = typer.Typer(no_args_is_help=True, help="Early warnings and their lifecycle.")
app.add_typer(warnings_app, name="warnings")
WarningIdArg = Annotated[str, typer.Argument(help="The warning's id (riskgrid warnings list).")]
WhoOpt = Annotated[str | None, typer.Option(help="Who acts (default: your user name).")]
NoteOpt = Annotated[str | None, typer.Option(help="Note for the record (no personal data).")]


@warnings_app.command("list")
def warnings_list(
        status: Annotated[str | None, typer.Option(
            help="issued, acknowledged, handled, closed or dismissed.")] = None,
        level: Annotated[str | None, typer.Option(help="red, orange, yellow or blue.")] = None,
        json_path: JsonOpt = None) -> None:
    """Stored warnings, oldest as-of first, with their lifecycle status."""
    from serving.store import open_store

    rows = open_store(Settings().store_url()).query_warnings(level=level, status=status)
    table = Table(title=f"warnings ({len(rows)})")
    for column in ("warning_id", "as_of", "period", "h", "area_id", "level", "kind", "rule",
                   "status"):
        table.add_column(column)
    for w in rows:
        table.add_row(w["warning_id"], w["as_of"], w["period"], str(w["horizon"]), w["area_id"],
                      w["level"], w["kind"], w["rule"] or "", w["status"])
    console.print(table)
    write_json(json_path, {"warnings": [{k: v for k, v in w.items() if k != "issued_at"}
                                        | {"issued_at": w["issued_at"].isoformat()}
                                        for w in rows]})


def _act(warning_id: str, action: str, who: str | None, reason: str | None = None,
         note: str | None = None) -> None:
    import getpass

    from serving.store import open_store

    if who is None:
        try:
            who = getpass.getuser()
        except (KeyError, OSError):
            raise InputError("Your user name is unknown here; say who acts with --who NAME.") \
                from None
    store = open_store(Settings().store_url())
    store.warning_action(warning_id, action, who, reason=reason, note=note)
    step = store.warning_history(warning_id)[-1]
    console.print(f"warning {warning_id}: {step['from_status']} -> {step['to_status']} by "
                  f"{step['who']} at {step['at'].isoformat(timespec='seconds')}")


@warnings_app.command("ack")
def warnings_ack(warning_id: WarningIdArg, who: WhoOpt = None, note: NoteOpt = None) -> None:
    """Acknowledge an issued warning: someone has seen it and owns it."""
    _act(warning_id, "ack", who, note=note)


@warnings_app.command("handle")
def warnings_handle(warning_id: WarningIdArg, who: WhoOpt = None, note: NoteOpt = None) -> None:
    """Mark an acknowledged warning handled: the response has been carried out."""
    _act(warning_id, "handle", who, note=note)


@warnings_app.command("close")
def warnings_close(warning_id: WarningIdArg, who: WhoOpt = None, note: NoteOpt = None) -> None:
    """Close a handled warning: the risk is over."""
    _act(warning_id, "close", who, note=note)


@warnings_app.command("dismiss")
def warnings_dismiss(
        warning_id: WarningIdArg,
        reason: Annotated[str | None, typer.Option(help="Required: false_alarm, duplicate, "
                                                   "out_of_scope, already_handled or "
                                                   "data_error.")] = None,
        who: WhoOpt = None, note: NoteOpt = None) -> None:
    """Dismiss a warning that is not closed yet, with a reason code."""
    _act(warning_id, "dismiss", who, reason=reason, note=note)


@warnings_app.command("history")
def warnings_history(warning_id: WarningIdArg) -> None:
    """Every step of one warning: action, statuses, who, when, reason and note."""
    from serving.store import open_store

    store = open_store(Settings().store_url())
    warning = store.warning(warning_id)
    table = Table(title=f"warning {warning_id}: {warning['area_id']} {warning['level']} "
                        f"{warning['kind']}, issued {warning['issued_at'].isoformat('T', 'seconds')}")
    for column in ("at", "action", "from", "to", "who", "reason", "note"):
        table.add_column(column)
    for e in store.warning_history(warning_id):
        table.add_row(e["at"].isoformat(timespec="seconds"), e["action"], e["from_status"],
                      e["to_status"], e["who"], e["reason_code"] or "", e["note"] or "")
    console.print(table)


@app.command()
def report(experiment: ExperimentArg,
           as_of: Annotated[str | None, typer.Option(
               "--as-of", help="A date in the as-of period (default: the latest complete "
               "period).")] = None,
           level: Annotated[str, typer.Option(
               help="Units of the map and trend charts: district, street or community.")
           ] = "district",
           lang: Annotated[str, typer.Option(help="Language: zh or en.")] = "zh",
           out: Annotated[Path | None, typer.Option(
               help="Output folder (default: DATA_DIR/NAME/reports/AS_OF-LEVEL-LANG/).")] = None,
           since: Annotated[str | None, typer.Option(
               help="A date in the period of the last meeting (default: the period before "
               "the as-of period).")] = None) -> None:
    """Write the meeting pack: report.html (self-contained) and report.pdf (headless Chromium)."""
    from serving.meeting.config import check_level
    from serving.meeting.labels import labels

    settings = Settings()
    exp = load_experiment(experiment)
    check_level(level)  # before the slow imports below: a typo fails at once
    labels(lang)
    from serving.meeting import build_pack, write_report
    from serving.meeting.pack import default_out

    with console.status("assembling the meeting pack") as status:
        pack = build_pack(exp, settings, level=level, as_of=as_of, since=since)
        status.update("rendering the HTML and printing the PDF")
        html, pdf = write_report(pack, lang, out or default_out(settings, exp, pack, lang))
    print(f"html {html}")
    print(f"pdf  {pdf}")


def main() -> None:
    """Entry point: user errors become one line on stderr and exit code 2, never a traceback."""
    try:
        app(standalone_mode=False)
    except InputError as exc:
        err_console.print(f"error: {exc}", highlight=False, markup=False)
        sys.exit(2)
    except (typer.Abort, KeyboardInterrupt):
        sys.exit(130)
    except Exception as exc:  # usage errors carry their own message and exit code
        # typer bundles its own click, so match the exception by what it offers
        if callable(getattr(exc, "show", None)) and isinstance(getattr(exc, "exit_code", None),
                                                                  int):
            exc.show()
            sys.exit(exc.exit_code)
        raise
