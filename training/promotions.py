"""The promotion history, written as a markdown table in the registered model's description.

Each promotion is recorded on the promoted version as tags (``promoted_who``, ``promoted_when``,
``promoted_reason``, ``promoted_metric``, ``promoted_value``, ``previous_champion``,
``previous_value``); the description shows them, newest first, so the MLflow UI's model page
answers "who made this the champion, when, why, and by how much did it beat the last one".
"""

from __future__ import annotations

import math

from mlflow import MlflowClient

SHOWN = 25  # rows in the description (MLflow keeps 5,000 characters of it)
FIELDS = ("who", "when", "reason", "metric", "value")


def version_tags(record: dict) -> dict[str, str]:
    """The tags a promotion leaves on the version it promoted."""
    tags = {f"promoted_{k}": str(record[k]) for k in ("who", "when", "reason", "metric")}
    tags["promoted_value"] = repr(float(record["challenger_value"]))
    if "champion_version" in record:
        tags["previous_champion"] = str(record["champion_version"])
        tags["previous_value"] = repr(float(record["champion_value"]))
    return tags


def promotions(client: MlflowClient, name: str) -> list[dict]:
    """Every promoted version's record, newest promotion first."""
    found = []
    for version in client.search_model_versions(f"name = '{name}'"):
        tags = version.tags
        if "promoted_when" not in tags:
            continue
        found.append({"version": str(version.version),
                      **{k: tags.get(f"promoted_{k}", "") for k in FIELDS},
                      "previous": tags.get("previous_champion", ""),
                      "previous_value": tags.get("previous_value", "")})
    return sorted(found, key=lambda r: (r["when"], int(r["version"])), reverse=True)


def history_table(rows: list[dict]) -> str:
    """The description's markdown: a heading, one line on what it shows, and the table."""
    lines = ["## Promotion history", "",
             "Each time `riskgrid promote` moved the `champion` alias, newest first. The metric "
             "is the experiment's primary metric at horizon 1, from the same backtest (same "
             "data and folds) for the new and the previous champion.", "",
             "| version | who | when (UTC) | why | metric | value | previous champion | "
             "its value | change |",
             "|---|---|---|---|---|---|---|---|---|"]
    for r in rows[:SHOWN]:
        value, before = _number(r["value"]), _number(r["previous_value"])
        change = "" if math.isnan(value) or math.isnan(before) or before == 0 else \
            f"{100 * (value - before) / abs(before):+.1f}%"
        previous = f"version {r['previous']}" if r["previous"] else "none (first champion)"
        cells = [r["version"], r["who"], r["when"].replace("T", " ").replace("+00:00", ""),
                 r["reason"], r["metric"], _shown(value), previous, _shown(before), change]
        lines.append("| " + " | ".join(_cell(c) for c in cells) + " |")
    if len(rows) > SHOWN:
        lines += ["", f"{len(rows) - SHOWN} earlier promotions: see the versions' "
                  "`promoted_*` tags."]
    return "\n".join(lines) + "\n"


def describe(client: MlflowClient, name: str) -> str:
    """Rewrite the registered model's description from its versions' promotion tags."""
    text = history_table(promotions(client, name))
    client.update_registered_model(name, description=text)
    return text


def _number(text: str) -> float:
    try:
        return float(text)
    except (TypeError, ValueError):
        return math.nan


def _shown(value: float) -> str:
    return "" if math.isnan(value) else f"{value:.4f}"


def _cell(text: str) -> str:
    """A table cell: no line breaks, pipes escaped."""
    return " ".join(str(text).split()).replace("|", "\\|")
