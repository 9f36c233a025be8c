"""How fast the command line answers: help, a usage error and a store-only command, against
`python -c "import typer"` (the floor of any Typer command line) measured in the same run.

Each command runs as its own process, as a user runs it, once untimed (a warm file cache, as
on any second run) and then --repeat times, the commands taking turns; the best time counts,
the median is shown. The store-only command (`riskgrid keys list`) runs on an empty SQLite store in
a temporary data directory. Ratio: riskgrid's time over `import typer`'s. Targets: every help and
usage error under 1 s; every help also at most 3x `import typer`.

    .venv/bin/python bench/cli_start.py [--repeat 7] [--json PATH]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

RISKGRID = str(Path(sys.executable).with_name("riskgrid"))
BASELINE = ("import typer", [sys.executable, "-c", "import typer"], 0)
# (label, argv, the exit code it must end with); help and usage errors have the targets below
COMMANDS = [
    ("riskgrid --help", [RISKGRID, "--help"], 0),
    ("riskgrid train --help", [RISKGRID, "train", "--help"], 0),
    ("riskgrid report --help", [RISKGRID, "report", "--help"], 0),
    ("riskgrid keys create --help", [RISKGRID, "keys", "create", "--help"], 0),
    ("riskgrid warnings list --help", [RISKGRID, "warnings", "list", "--help"], 0),
    ("usage error: riskgrid trian", [RISKGRID, "trian"], 2),
    ("usage error: riskgrid train (no file)", [RISKGRID, "train"], 2),
    ("riskgrid keys list (empty SQLite store)", [RISKGRID, "keys", "list"], 0),
]
HELP_TARGET_S, RATIO_TARGET = 1.0, 3.0


def run(argv: list[str], code: int, env: dict[str, str]) -> tuple[float, float]:
    """Wall-clock and CPU (user + system) seconds of one run, which must end with exit code
    ``code``. The CPU time varies less with the other work on a shared machine."""
    cpu = resource.getrusage(resource.RUSAGE_CHILDREN)
    began = time.perf_counter()
    done = subprocess.run(argv, env=env, capture_output=True, check=False)
    took = time.perf_counter() - began
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != code:
        raise SystemExit(f"{' '.join(argv)} exited {done.returncode}, not {code}:\n"
                         f"{done.stderr.decode(errors='replace')[-2000:]}")
    return took, after.ru_utime + after.ru_stime - cpu.ru_utime - cpu.ru_stime


def measure(repeat: int, env: dict[str, str]) -> dict[str, list[tuple[float, float]]]:
    """Seconds of each command's runs. The commands take turns, round after round, so a load
    that comes and goes on a shared machine falls on all of them alike."""
    every = [BASELINE, *COMMANDS]
    for _, argv, code in every:  # untimed: the file cache warm, the empty store created
        run(argv, code, env)
    times: dict[str, list[tuple[float, float]]] = {label: [] for label, _, _ in every}
    for _ in range(repeat):
        for label, argv, code in every:
            times[label].append(run(argv, code, env))
    return times


def summary(runs: list[tuple[float, float]]) -> dict[str, float]:
    wall, cpu = [w for w, _ in runs], [c for _, c in runs]
    return {"best_s": min(wall), "median_s": statistics.median(wall), "cpu_best_s": min(cpu)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as data:
        env = {**os.environ, "RISKGRID_DATA_DIR": data, "COLUMNS": "100"}
        env.pop("RISKGRID_DATABASE_URL", None)  # the store-only row uses its own empty store
        measured = measure(args.repeat, env)
    stats = {label: summary(runs) for label, runs in measured.items()}
    base = stats[BASELINE[0]]
    rows = [{"label": label, "command": " ".join(["riskgrid", *argv[1:]]), **stats[label],
             "ratio": stats[label]["best_s"] / base["best_s"],
             "median_ratio": stats[label]["median_s"] / base["median_s"],
             "cpu_ratio": stats[label]["cpu_best_s"] / base["cpu_best_s"],
             "targeted": argv[1:3] != ["keys", "list"], "help": argv[-1] == "--help"}
            for label, argv, _ in COMMANDS]
    print(f"{args.repeat} rounds, load average {os.getloadavg()[0]:.2f}; wall-clock best and "
          "median, CPU best; ratios to import typer")
    print(f"{BASELINE[0]:<40} {base['best_s'] * 1000:5.0f} {base['median_s'] * 1000:5.0f} ms, "
          f"CPU {base['cpu_best_s'] * 1000:4.0f} ms")
    for r in rows:
        print(f"{r['label']:<40} {r['best_s'] * 1000:5.0f} {r['median_s'] * 1000:5.0f} ms, "
              f"CPU {r['cpu_best_s'] * 1000:4.0f} ms: {r['ratio']:.2f}x best, "
              f"{r['median_ratio']:.2f}x median, {r['cpu_ratio']:.2f}x CPU")
    result = {"repeat": args.repeat, "target_s": HELP_TARGET_S, "target_ratio": RATIO_TARGET,
              "load_average": list(os.getloadavg()),
              "baseline": {"label": BASELINE[0], **base}, "commands": rows}
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
