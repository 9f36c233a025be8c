"""The meeting pack's equity section: where the warnings go and whether attention feeds itself."""

from __future__ import annotations

import pandas as pd

from riskgrid import vocabulary as C

SHOWN = ("residents", "grids", "flagged", "high", "flagged_per_10k", "high_per_10k",
         "flag_share", "population_share", "incident_share", "flag_vs_incidents",
         "repeat_share", "mean_run", "officer_share", "flagged_officer_share",
         "officer_signal_share")


def equity_section(report: dict, level: str, since: pd.Timestamp | None) -> dict:
    """The city and its districts or streets (``level``; streets for a community pack) at the
    as-of period, the city at the last meeting's period, and the city's trend."""
    shown_level = level if level in ("district", "street") else "street"
    as_of = report["as_of"]
    before = None if since is None else str(since.date())

    def pick(period: str | None, levels: tuple[str, ...]) -> list[dict]:
        return [{"level": r["level"], "unit_id": r["unit_id"],
                 **{k: r.get(k) for k in SHOWN}}
                for r in report["rows"] if r["period"] == period and r["level"] in levels]

    city = pick(as_of, (C.CITY,))
    earlier = pick(before, (C.CITY,))
    return {"level": shown_level, "horizon": report["horizon"], "window": report["window"],
            "channels_known": report["channels_known"],
            "officer_channels": report["officer_channels"],
            "periods": len(report["periods"]),
            "city": city[0] if city else None, "city_since": earlier[0] if earlier else None,
            "rows": pick(as_of, (shown_level,)), "trend": report["trend"]}


def trend_rows(section: dict, horizon: int) -> list[dict]:
    """The city's equity figures as rows of the scorecard's trend (neither better nor worse)."""
    return [{"horizon": horizon, "metric": r["metric"], "vintages": r["periods"],
             "recent": r["recent"], "previous": r["previous"], "change": r["change"],
             "improved": None} for r in section["trend"]]
