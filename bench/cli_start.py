"""How fast the command line answers: help, a usage error and a store-only command, against
`python -c "import typer"` (the floor of any Typer command line) measured in the same run.

Each command runs as its own process, as a user runs it, once untimed (a warm file cache and
compiled bytecode, as on any second run) and then --repeat times; the best time counts, the
median is shown. The store-only command (`riskgrid keys list`) runs on an empty SQLite store in
a temporary data directory. Ratio: riskgrid's time over `import typer`'s (the target is at most
3x, and under 1 s).

    .venv/bin/python bench/cli_start.py [--repeat 7] [--json PATH]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

RISKGRID = str(Path(sys.executable).with_name("riskgrid"))
BASELINE = ("import typer", [sys.executable, "-c", "import typer"], 0)
# (label, argv, the exit code it must end with)
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


def timed(argv: list[str], code: int, env: dict[str, str], repeat: int) -> list[float]:
    """Wall-clock seconds of each of ``repeat`` runs (after one untimed run)."""
    times = []
    for i in range(repeat + 1):
        began = time.perf_counter()
        done = subprocess.run(argv, env=env, capture_output=True, check=False)
        took = time.perf_counter() - began
        if done.returncode != code:
            raise SystemExit(f"{' '.join(argv)} exited {done.returncode}, not {code}:\n"
                             f"{done.stderr.decode(errors='replace')[-2000:]}")
        if i:
            times.append(took)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as data:
        env = {**os.environ, "RISKGRID_DATA_DIR": data, "COLUMNS": "100"}
        env.pop("RISKGRID_DATABASE_URL", None)  # the store-only row uses its own empty store
        base = timed(BASELINE[1], BASELINE[2], env, args.repeat)
        rows = []
        for label, argv, code in COMMANDS:
            times = timed(argv, code, env, args.repeat)
            rows.append({"label": label, "command": " ".join(["riskgrid", *argv[1:]]),
                         "best_s": min(times),
                         "median_s": statistics.median(times),
                         "ratio": min(times) / min(base)})
    print(f"{BASELINE[0]:<42} best {min(base) * 1000:6.0f} ms, median "
          f"{statistics.median(base) * 1000:6.0f} ms ({args.repeat} runs, load average "
          f"{os.getloadavg()[0]:.2f})")
    for r in rows:
        print(f"{r['label']:<42} best {r['best_s'] * 1000:6.0f} ms, median "
              f"{r['median_s'] * 1000:6.0f} ms, {r['ratio']:.2f}x import typer")
    result = {"repeat": args.repeat, "target_s": HELP_TARGET_S, "target_ratio": RATIO_TARGET,
              "baseline": {"label": BASELINE[0], "best_s": min(base),
                           "median_s": statistics.median(base)},
              "commands": rows}
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
