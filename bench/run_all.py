"""Every benchmark of the project, one after the other, collected into one table.

`make bench` runs this. Each benchmark runs as its own process and writes its JSON and log to
DATA_DIR/bench/; the table (bench/results.md) and everything measured (bench/results.json)
say which machine ran them. A benchmark that crashes is a row saying so, and the others still
run; the exit code is 1 when any crashed (a missed target is reported, not an exit code).

Benchmarks that need a model (training, serving, endurance) use the synthetic city's champion.
When there is none, the `make demo` chain without `serve` builds it first (synth, ingest,
features, train, promote; about 5-7 minutes).

Knobs (environment):
    BENCH_QUICK=1          small sizes everywhere (a smoke run of a few minutes)
    BENCH_ONLY=a,b         run only these (names as in the table); the other benchmarks' rows
                           stay as the previous results.json has them, each marked with the
                           date and commit of the run that measured it
    ENDURANCE_MINUTES=10   length of the endurance load (quick: 0.5)
    ENDURANCE_RATE=40      its requests per second
    RISKGRID_DATA_DIR      where the synthetic city and the outputs live (default data)

    .venv/bin/python bench/run_all.py [--quick] [--only NAME,...]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
EXPERIMENT = "experiments/synthetic_city.toml"
NAME = "synthetic_city"


@dataclass
class Bench:
    """One benchmark script: its arguments (full, quick), whether it needs a champion."""

    name: str
    script: str
    full: list[str]
    quick: list[str]
    needs_model: bool = False
    timeout_min: float = 60
    ok_codes: tuple[int, ...] = (0,)  # exit codes of a run that measured (endurance: 1 = FAIL)
    extra_env: dict[str, str] = field(default_factory=dict)


def benches(endurance_minutes: float | None, rate: str) -> list[Bench]:
    endurance = ["--rate", rate, "--minutes"]
    return [
        Bench("features_throughput", "features_throughput.py", [],
              ["--events", "1000000", "--areas", "1000"], timeout_min=30),
        Bench("synthetic_city_signal", "synthetic_city_signal.py", [], [], timeout_min=20),
        Bench("incremental", "incremental.py", [], ["--repeat", "1"], timeout_min=30),
        Bench("training_time", "training_time.py", [EXPERIMENT],
              [EXPERIMENT, "--folds", "1", "--rounds", "30"], needs_model=True, timeout_min=40),
        Bench("training_scaling", "training_scaling.py", [EXPERIMENT],
              [EXPERIMENT, "--rounds", "30"], needs_model=True, timeout_min=40),
        Bench("serving_latency", "serving_latency.py", [EXPERIMENT], [EXPERIMENT],
              needs_model=True, timeout_min=20),
        Bench("prophet_fits", "prophet_fits.py", ["--series", "30"], ["--series", "4"],
              timeout_min=20),
        Bench("cli_start", "cli_start.py", [], ["--repeat", "3"], timeout_min=10),
        Bench("scale_out", "scale_out.py", [], ["--scales", "1,4", "--rounds", "30"],
              timeout_min=45),
        Bench("endurance", "endurance.py",
              [EXPERIMENT, *endurance, str(endurance_minutes or 10)],
              [EXPERIMENT, *endurance, str(endurance_minutes or 0.5), "--warmup-seconds", "10"],
              needs_model=True, timeout_min=(endurance_minutes or 10) + 20, ok_codes=(0, 1)),
    ]


# --- the machine -------------------------------------------------------------------------

def _read(path: str) -> str:
    try:
        return Path(path).read_text()
    except OSError:
        return ""


def git_commit() -> str:
    """The checked-out commit, read from .git without running git."""
    git = ROOT / ".git"
    if git.is_file():  # a worktree: .git names its own folder, whose commondir holds the refs
        git = Path(_read(str(git)).split(":", 1)[-1].strip())
    common = git / (_read(str(git / "commondir")).strip() or ".")
    head = _read(str(git / "HEAD")).strip()
    if not head.startswith("ref: "):
        return head[:12] or "unknown"
    ref = head[5:]
    sha = _read(str(common / ref)).strip()
    if not sha:
        for line in _read(str(common / "packed-refs")).splitlines():
            if line.endswith(" " + ref):
                sha = line.split()[0]
    return f"{sha[:12]} ({ref.removeprefix('refs/heads/')})" if sha else "unknown"


def machine() -> dict:
    cpuinfo = _read("/proc/cpuinfo")
    model = next((line.split(":", 1)[1].strip() for line in cpuinfo.splitlines()
                  if line.startswith("model name")), platform.processor() or "unknown")
    kib = next((int(line.split()[1]) for line in _read("/proc/meminfo").splitlines()
                if line.startswith("MemTotal")), 0)
    release = dict(line.split("=", 1) for line in _read("/etc/os-release").splitlines()
                   if "=" in line)
    return {"cpu": model, "cores": os.cpu_count(), "ram_gib": round(kib / 2**20, 1),
            "os": f"{release.get('PRETTY_NAME', platform.system()).strip(chr(34))}, "
                  f"kernel {platform.release()}",
            "python": platform.python_version(), "commit": git_commit(),
            "date": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
            "load_average_at_start": [round(x, 2) for x in os.getloadavg()]}


# --- running -------------------------------------------------------------------------------

def riskgrid(*args: str) -> list[str]:
    return [str(Path(sys.executable).with_name("riskgrid")), *args]


def has_champion() -> bool:
    code = ("import sys; from riskgrid.settings import Settings; "
            "from serving.champion import champion_version; "
            f"sys.exit(0 if champion_version(Settings(), {NAME!r}) else 3)")
    return subprocess.run([sys.executable, "-c", code], cwd=ROOT,
                          capture_output=True).returncode == 0


def ensure_model(data_dir: Path, log: Path) -> str | None:
    """Build the champion the way `make demo` does when there is none; None when it worked."""
    have_panel = (data_dir / NAME / "features" / "meta.json").is_file()
    if have_panel and has_champion():
        return None
    steps = [] if have_panel else [
        riskgrid("synth"),
        riskgrid("ingest", EXPERIMENT, "--json", str(data_dir / NAME / "ingest_summary.json")),
        riskgrid("features", EXPERIMENT)]
    steps += [riskgrid("train", EXPERIMENT),
              riskgrid("promote", EXPERIMENT, "--reason", "make bench")]
    print(f"no champion for {NAME}: building it ({', '.join(s[1] for s in steps)}); "
          f"log {log}", flush=True)
    with open(log, "ab") as out:
        for step in steps:
            if subprocess.run(step, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT).returncode:
                return f"`riskgrid {step[1]}` failed; see {log}"
    return None if has_champion() else f"no champion after riskgrid promote; see {log}"


def run(bench: Bench, quick: bool, out_dir: Path) -> dict:
    """Run one benchmark in its own process group; its outcome and its JSON."""
    result_path, log_path = out_dir / f"{bench.name}.json", out_dir / f"{bench.name}.log"
    result_path.unlink(missing_ok=True)
    shown = result_path.relative_to(ROOT) if result_path.is_relative_to(ROOT) else result_path
    argv = [sys.executable, f"bench/{bench.script}", *(bench.quick if quick else bench.full),
            "--json", str(shown)]
    print(f"== {bench.name}: {' '.join(argv[1:])}", flush=True)
    began = time.monotonic()
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(argv, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT,
                                env={**os.environ, **bench.extra_env}, start_new_session=True)
        try:
            code = proc.wait(bench.timeout_min * 60)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGTERM)  # the benchmark stops its own server
            try:
                proc.wait(60)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
            code = None
        except BaseException:  # Ctrl-C: stop this benchmark (and its server), then re-raise
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(60)
            raise
    seconds = time.monotonic() - began
    outcome = {"command": " ".join(argv[1:]), "exit_code": code, "seconds": round(seconds, 1),
               "log": str(log_path)}
    try:
        outcome["result"] = json.loads(result_path.read_text())
    except (OSError, ValueError):
        outcome["result"] = None
    if code is None:
        outcome["status"] = f"crashed: timed out after {bench.timeout_min:g} min"
    elif code not in bench.ok_codes or outcome["result"] is None:
        tail = _read(str(log_path)).strip().splitlines()[-1:] or [""]
        outcome["status"] = f"crashed: exit {code}: {tail[0][:160]}"
    else:
        outcome["status"] = "ok"
    print(f"   {outcome['status']} ({seconds:.0f} s)", flush=True)
    return outcome


# --- the table -----------------------------------------------------------------------------

def row(bench: str, measurement: str, value: str, baseline: str = "", ratio: float | None = None,
        target: str = "", met: bool | None = None, ratio_note: str = "") -> dict:
    return {"benchmark": bench, "measurement": measurement, "value": value,
            "baseline": baseline, "ratio": ratio, "ratio_note": ratio_note, "target": target,
            "met": met}


def features_rows(r: dict) -> list[dict]:
    eps, base_eps = r["events_per_second"], r["events"] / r["baseline_seconds"]
    one_eps = r["events"] / r["riskgrid_one_worker_seconds"]
    workers = r.get("workers", os.cpu_count())
    return [
        row("features_throughput", f"feature build, {workers} workers, {r['events']:,} events",
            f"{eps / 1e6:.2f} M events/s ({r['riskgrid_seconds']:.1f} s)",
            f"plain pandas counts: {base_eps / 1e6:.2f} M events/s", r["ratio_vs_baseline"],
            ">= 1 M events/s and ratio >= 1", eps >= 1e6 and r["ratio_vs_baseline"] >= 1),
        row("features_throughput", "feature build, 1 worker",
            f"{one_eps / 1e6:.2f} M events/s ({r['riskgrid_one_worker_seconds']:.1f} s)",
            f"plain pandas counts: {base_eps / 1e6:.2f} M events/s",
            r["baseline_seconds"] / r["riskgrid_one_worker_seconds"]),
        row("features_throughput", "feature build, peak memory",
            f"{r['riskgrid_peak_mib']:,.0f} MiB", f"{r['baseline_peak_mib']:,.0f} MiB",
            r["riskgrid_peak_mib"] / r["baseline_peak_mib"],
            ratio_note="memory riskgrid / pandas"),
    ]


def incremental_rows(r: dict) -> list[dict]:
    return [row("incremental", f"one day added ({r['day_records']:,} records to "
                f"{r['rows_before']:,}): ingest --append + features, "
                f"{r['blocks_written']} of {r['blocks']} period blocks written",
                f"{r['update_seconds']:.2f} s (CPU {r['update_cpu_seconds']:.2f} s), panel "
                f"identical: {'yes' if r['identical'] else 'NO'}",
                f"full rebuild (ingest + features): {r['rebuild_seconds']:.2f} s (CPU "
                f"{r['rebuild_cpu_seconds']:.2f} s)", r["ratio"],
                f"<= {r['target']:g} of the rebuild, identical panel", r["met"],
                ratio_note="update / rebuild")]


def signal_rows(r: dict) -> list[dict]:
    out = []
    for label in ("total incidents", "disputes"):
        d = r[label]
        out.append(row("synthetic_city_signal", f"{label}: Poisson deviance of the true "
                       "intensity, weeks of 2025", f"{d['truth_deviance']:.4f}",
                       f"best baseline ({d['best_baseline']}): {d['baseline_deviance']:.4f}",
                       d["truth_deviance"] / d["baseline_deviance"],
                       ratio_note="deviance truth / baseline; < 1: learnable"))
    flag = r["flag"]
    truth_auc = flag.get("AUC truth 1-exp(-(group+collective))")
    if truth_auc is not None:
        base_auc = flag["AUC grid 2022-2024 flag rate"]
        out.append(row("synthetic_city_signal", "high-risk flag: ROC-AUC of the true probability",
                       f"{truth_auc:.4f}", f"grid's 2022-2024 flag rate: {base_auc:.4f}",
                       truth_auc / base_auc, ratio_note="AUC truth / baseline"))
    return out


def training_time_rows(r: dict) -> list[dict]:
    return [
        row("training_time", f"backtest, {r['folds']} fold{'s' * (r['folds'] != 1)} x "
            f"{len(r['horizons'])} horizons, "
            f"{r['rows']:,} rows", f"{r['backtest_seconds']:.1f} s",
            f"the baselines alone: {r['baselines_seconds']:.1f} s",
            r["backtest_seconds"] / r["baselines_seconds"],
            ratio_note="riskgrid's time / the baselines'"),
        row("training_time", "final fit, all horizons", f"{r['final_fit_seconds']:.1f} s"),
    ]


def scaling_rows(r: dict) -> list[dict]:
    out = [row("training_scaling", f"final fit, {s['grids']:,} grids, {s['rows']:,} rows",
               f"{s['riskgrid_seconds']:.1f} s ({s['riskgrid_rows_per_s']:,.0f} rows/s)",
               f"plain LightGBM, same boosters: {s['baseline_seconds']:.1f} s",
               s["ratio_vs_baseline"]) for s in r["sizes"]]
    out.append(row("training_scaling", f"exponent k of time ~ rows^k ({len(r['sizes'])} sizes, "
                   f"{r['rounds']} rounds)", f"{r['slope_riskgrid']:.2f}",
                   f"plain LightGBM: {r['slope_baseline']:.2f}",
                   ratio_note="1 = linear in the rows"))
    return out


def serving_rows(r: dict) -> list[dict]:
    one, twenty = r["served_one_area_1_clients"], r["served_one_area_20_clients"]
    base, every = r["in_process_one_area"], r["served_all_grids"]
    base_all, anchor = r["in_process_all_grids"], r["anchor_one_area_20_clients"]
    return [
        row("serving_latency", "one-area /score with drivers, 1 client",
            f"p50 {one['p50_ms']:.1f} ms, p99 {one['p99_ms']:.1f} ms, "
            f"{one['requests_per_s']:.0f} req/s",
            f"in-process predict + explain: p50 {base['p50_ms']:.1f} ms",
            base["p50_ms"] / one["p50_ms"]),
        row("serving_latency", "one-area /score, 20 concurrent clients",
            f"p50 {twenty['p50_ms']:.1f} ms, p99 {twenty['p99_ms']:.1f} ms, "
            f"{twenty['requests_per_s']:.0f} req/s, {twenty['errors']} errors",
            f"bare ASGI anchor, same audit write: p99 {anchor['p99_ms']:.1f} ms, "
            f"{anchor['requests_per_s']:.0f} req/s", r["throughput_vs_anchor"],
            "p99 < 50 ms, >= 1,000 req/s, >= 0.5x the anchor's req/s",
            twenty["p99_ms"] < 50 and twenty["requests_per_s"] >= 1000
            and r["throughput_vs_anchor"] >= 0.5 and twenty["errors"] == 0,
            ratio_note="throughput / anchor's"),
        row("serving_latency", f"all {r['grids']:,} grids x 2 horizons /score "
            f"({every['scores']:,} scores)",
            f"p50 {every['p50_ms']:.0f} ms, p99 {every['p99_ms']:.0f} ms",
            f"in-process: p50 {base_all['p50_ms']:.0f} ms",
            base_all["p50_ms"] / every["p50_ms"], "p99 < 200 ms",
            every["p99_ms"] < 200 and every["errors"] == 0),
    ]


def prophet_rows(r: dict) -> list[dict]:
    return [
        row("prophet_fits", f"trend fits, {r['series']} weekly series ({r['source']})",
            f"{r['riskgrid_fits_per_s']:.2f} fits/s",
            f"plain Prophet() defaults: {r['baseline_fits_per_s']:.2f} fits/s", r["ratio_fits"]),
        row("prophet_fits", "trend fit + 8-week forecast (a /forecast cache miss)",
            f"{r['riskgrid_forecasts_per_s']:.2f} /s",
            f"plain Prophet() fit + predict: {r['baseline_forecasts_per_s']:.2f} /s",
            r["ratio_forecasts"]),
    ]


def cli_start_rows(r: dict) -> list[dict]:
    base, limit, most = r["baseline"], r["target_s"], r["target_ratio"]
    rows = []
    for c in r["commands"]:
        # Every help and usage error answers under the limit; help also within `most` x typer's.
        ratio_too = c.get("help", c["label"].endswith("--help"))
        target = f"< {limit:g} s and <= {most:g}x" if ratio_too else f"< {limit:g} s"
        met = c["best_s"] < limit and (c["ratio"] <= most or not ratio_too)
        rows.append(row("cli_start", c["label"],
                        f"{c['best_s'] * 1000:.0f} ms (median {c['median_s'] * 1000:.0f} ms, "
                        f"CPU {c['cpu_best_s'] * 1000:.0f} ms: {c['cpu_ratio']:.2f}x)",
                        f"python -c \"import typer\": {base['best_s'] * 1000:.0f} ms (CPU "
                        f"{base['cpu_best_s'] * 1000:.0f} ms)",
                        c["ratio"], target if c["targeted"] else "",
                        met if c["targeted"] else None,
                        ratio_note="riskgrid's time / import typer's"))
    return rows


def endurance_rows(r: dict) -> list[dict]:
    lat, mem = r["latency"], r["memory"]
    minutes = r["duration_s"] / 60
    growth = mem.get("growth_pct")
    return [
        row("endurance", f"{minutes:.1f} min request mix, {r['workers']} service workers",
            f"{r['throughput_rps']:.1f} req/s answered, p50 {lat['p50_ms']:.0f} ms, "
            f"p99 {lat['p99_ms']:.0f} ms", f"offered: {r['offered_rate']:g} req/s",
            r["throughput_rps"] / r["offered_rate"], "rate sustained (>= 95 %)",
            r["throughput_rps"] >= 0.95 * r["offered_rate"],
            ratio_note="answered / offered"),
        row("endurance", "errors (non-2xx or failed)",
            f"{r['errors']} of {r['requests']:,}", target="0", met=r["errors"] == 0),
        row("endurance", "memory growth, server + children RSS",
            "n/a" if growth is None else f"{growth:+.1f} % ({mem['start_mib']:,.0f} -> "
            f"{mem['end_mib']:,.0f} MiB, max {mem['max_mib']:,.0f})",
            target="< 10 %", met=growth is not None and growth < 10),
    ]


def scale_out_rows(r: dict) -> list[dict]:
    out = []
    for s in r["sizes"]:
        d, f, lf, lfit = s["features"], s["fit"], s["local_features"], s["local_fit"]
        out.append(row(
            "scale_out", f"{s['scale']}x: {s['grids']:,} grids, {s['rows']:,} rows, "
            f"{s['incidents']:,} incidents; features + final fit on {r['workers']} workers",
            f"{d['seconds']:.1f} s + {f['seconds']:.1f} s; driver peak {d['driver_peak_mib']:.0f}"
            f" / {f['driver_peak_mib']:.0f} MiB; workers peak {d['worker_peak_mib']:.0f} / "
            f"{f['worker_peak_mib']:.0f} MiB",
            f"in process: {lf['seconds']:.1f} s + {lfit['seconds']:.1f} s; peak "
            f"{lf['driver_peak_mib']:.0f} / {lfit['driver_peak_mib']:.0f} MiB",
            lfit["driver_peak_mib"] / f["driver_peak_mib"],
            ratio_note="final fit's driver memory in process / on the cluster"))
        if "backtest" in s:  # runs before the backtest was measured have none
            b, lb = s["backtest"], s["local_backtest"]
            out.append(row(
                "scale_out", f"{s['scale']}x: backtest ({r['folds']} folds) on "
                f"{r['workers']} workers; h1 deviance, best baseline {b['best_baseline_h1']}",
                f"{b['seconds']:.1f} s; driver peak {b['driver_peak_mib']:.0f} MiB; workers "
                f"peak {b['worker_peak_mib']:.0f} MiB; deviance {b['model_deviance_h1']:.3f}",
                f"in process: {lb['seconds']:.1f} s; peak {lb['driver_peak_mib']:.0f} MiB; "
                f"deviance {lb['model_deviance_h1']:.3f}; baseline "
                f"{b['best_baseline_deviance_h1']:.3f}",
                lb["driver_peak_mib"] / b["driver_peak_mib"],
                ratio_note="backtest's driver memory in process / on the cluster"))
    last, first = r["scales"][-1], r["scales"][0]
    out.append(row(
        "scale_out", f"driver peak RSS {last}x / {first}x: features; final fit",
        f"{r['driver_ratio_features']:.2f}x; {r['driver_ratio_fit']:.2f}x",
        f"in process: {r['driver_ratio_local_features']:.2f}x; "
        f"{r['driver_ratio_local_fit']:.2f}x", target=f"<= {r['target_ratio']:g}x",
        met=max(r["driver_ratio_features"], r["driver_ratio_fit"]) <= r["target_ratio"]))
    if "driver_ratio_backtest" in r:
        out.append(row(
            "scale_out", f"driver peak RSS {last}x / {first}x: backtest",
            f"{r['driver_ratio_backtest']:.2f}x",
            f"in process: {r['driver_ratio_local_backtest']:.2f}x",
            target=f"<= {r['target_ratio']:g}x",
            met=r["driver_ratio_backtest"] <= r["target_ratio"]))
    out.append(row(
        "scale_out", f"exponent k of time ~ rows^k ({len(r['sizes'])} sizes): features; fit"
        + ("; backtest" if "exponent_backtest" in r else ""),
        f"{r['exponent_features']:.2f}; {r['exponent_fit']:.2f}"
        + (f"; {r['exponent_backtest']:.2f}" if "exponent_backtest" in r else ""),
        f"in process: {r['exponent_local_features']:.2f}; {r['exponent_local_fit']:.2f}"
        + (f"; {r['exponent_local_backtest']:.2f}" if "exponent_local_backtest" in r else ""),
        ratio_note="1 = linear in the rows; small sizes are mostly fixed costs"))
    return out


ROWS = {"features_throughput": features_rows, "synthetic_city_signal": signal_rows,
        "incremental": incremental_rows,
        "training_time": training_time_rows, "training_scaling": scaling_rows,
        "serving_latency": serving_rows, "prophet_fits": prophet_rows,
        "endurance": endurance_rows,
        "cli_start": cli_start_rows, "scale_out": scale_out_rows}


def table_rows(outcomes: dict[str, dict]) -> list[dict]:
    rows = []
    for name, outcome in outcomes.items():
        if outcome["status"] != "ok":
            rows.append(row(name, outcome["status"], "", met=False if "crash" in
                            outcome["status"] else None))
            continue
        try:
            rows += ROWS[name](outcome["result"])
        except (KeyError, TypeError, ZeroDivisionError) as exc:
            outcome["status"] = f"crashed: unreadable result ({type(exc).__name__}: {exc})"
            rows.append(row(name, outcome["status"], "", met=False))
    return rows


def with_earlier(rows: list[dict], outcomes: dict[str, dict], path: Path
                 ) -> tuple[list[dict], dict[str, dict]]:
    """This run's rows and outcomes, then those of the benchmarks it did not run as the
    previous results file has them, each row marked with the run that measured it."""
    try:
        earlier = json.loads(path.read_text())
    except (OSError, ValueError):
        return rows, outcomes
    m = earlier.get("machine", {})
    stamp = f"{m.get('date', '?')}, commit {m.get('commit', '?')}"
    kept = [r | {"run": r.get("run") or stamp} for r in earlier.get("rows", [])
            if r["benchmark"] not in outcomes]
    old = {n: o for n, o in earlier.get("benchmarks", {}).items() if n not in outcomes}
    return rows + kept, outcomes | old


def _number(x: float) -> str:
    """Two decimals, fewer digits for large values, three significant ones for tiny values."""
    return f"{x:.0f}" if abs(x) >= 100 else f"{x:.2f}" if abs(x) >= 0.1 else f"{x:.2g}"


def markdown(info: dict, rows: list[dict], outcomes: dict[str, dict], quick: bool) -> str:
    m = info["machine"]
    lines = [
        "# riskgrid benchmarks", "",
        f"Run {m['date']} by `make bench`{' (BENCH_QUICK=1: small sizes)' if quick else ''}, "
        f"commit {m['commit']}; rows marked with another run are from that run.", "",
        f"Machine: {m['cpu']}, {m['cores']} cores, {m['ram_gib']} GiB RAM; {m['os']}; "
        f"Python {m['python']}. Load average at start "
        f"{', '.join(map(str, m['load_average_at_start']))}, at end "
        f"{', '.join(map(str, info['load_average_at_end']))}.", "",
        "Every baseline is measured in the same run on the same machine. Ratio: the baseline's "
        "time over riskgrid's (> 1: riskgrid faster) unless the row says otherwise.", "",
        "| benchmark | measurement | value | baseline (same run) | ratio | target | met |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        ratio = "" if r["ratio"] is None else f"{_number(r['ratio'])}x"
        if r["ratio_note"]:
            ratio = f"{ratio} ({r['ratio_note']})" if ratio else r["ratio_note"]
        met = {True: "met", False: "**NOT met**", None: ""}[r["met"]]
        if r["measurement"].startswith("crashed"):
            met = "**crashed**"
        name = f"{r['benchmark']} (run {r['run']})" if r.get("run") else r["benchmark"]
        lines.append(f"| {name} | {r['measurement']} | {r['value']} | "
                     f"{r['baseline']} | {ratio} | {r['target']} | {met} |")
    endurance = (outcomes.get("endurance") or {}).get("result")
    if endurance and outcomes["endurance"]["status"] == "ok":
        lines += ["", f"Endurance by endpoint (latency from each request's scheduled start; "
                  f"server CPU {endurance['server_cpu_ms_per_request']:.1f} ms per request):",
                  "", "| endpoint | requests | p50 ms | p99 ms | max ms | errors |",
                  "|---|---|---|---|---|---|"]
        for label, s in endurance["per_endpoint"].items():
            if s["n"]:
                lines.append(f"| {label} | {s['n']:,} | {s['p50_ms']:.1f} | {s['p99_ms']:.1f} "
                             f"| {s['max_ms']:.0f} | {s['errors']} |")
    lines += ["", "Runs (logs and JSON in the data directory's bench/ folder):", "",
              "| benchmark | status | seconds | command |", "|---|---|---|---|"]
    for name, o in outcomes.items():
        lines.append(f"| {name} | {o['status']} | {o.get('seconds', '')} | "
                     f"`{o.get('command', '')}` |")
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", default=os.environ.get("BENCH_QUICK")
                        not in (None, "", "0"), help="small sizes (or BENCH_QUICK=1)")
    parser.add_argument("--only", default=os.environ.get("BENCH_ONLY", ""),
                        help="comma-separated benchmark names (or BENCH_ONLY)")
    args = parser.parse_args()
    minutes = os.environ.get("ENDURANCE_MINUTES")
    todo = benches(float(minutes) if minutes else None, os.environ.get("ENDURANCE_RATE", "40"))
    if args.only:
        wanted = set(args.only.split(","))
        unknown = wanted - {b.name for b in todo}
        if unknown:
            raise SystemExit(f"unknown benchmark(s) {sorted(unknown)}; the names are "
                             f"{[b.name for b in todo]}")
        todo = [b for b in todo if b.name in wanted]
    data_dir = Path(os.environ.get("RISKGRID_DATA_DIR", "data"))
    data_dir = data_dir if data_dir.is_absolute() else ROOT / data_dir
    out_dir = data_dir / "bench"
    out_dir.mkdir(parents=True, exist_ok=True)
    info: dict = {"machine": machine(), "quick": args.quick}
    began = time.monotonic()
    outcomes: dict[str, dict] = {}
    setup_error = None
    if any(b.needs_model for b in todo):
        setup_error = ensure_model(data_dir, out_dir / "setup.log")
    for bench in todo:
        if bench.needs_model and setup_error:
            outcomes[bench.name] = {"status": f"crashed: not run, {setup_error}"}
            continue
        outcomes[bench.name] = run(bench, args.quick, out_dir)
    info["load_average_at_end"] = [round(x, 2) for x in os.getloadavg()]
    info["seconds"] = round(time.monotonic() - began, 1)
    rows = table_rows(outcomes)
    if args.only:
        rows, outcomes = with_earlier(rows, outcomes, ROOT / "bench" / "results.json")
    (ROOT / "bench" / "results.json").write_text(json.dumps(
        info | {"rows": rows, "benchmarks": outcomes}, indent=2) + "\n")
    (ROOT / "bench" / "results.md").write_text(markdown(info, rows, outcomes, args.quick))
    crashed = [n for n, o in outcomes.items() if o["status"] != "ok"]
    print(f"\nbench/results.md and bench/results.json written ({info['seconds'] / 60:.1f} min)"
          + (f"; crashed: {', '.join(crashed)}" if crashed else ""))
    return 1 if crashed else 0


if __name__ == "__main__":
    sys.exit(main())
