"""CityConfig: the synthetic city's size, its time span and the strength of each mechanism."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from features.synthetic_city.faults import Outage, Recoding


@dataclass(frozen=True)
class CityConfig:
    """The city's size, its time span and the strength of every planted mechanism."""

    seed: int = 7
    n_districts: int = 3
    streets_per_district: int = 4
    communities_per_street: int = 5
    grids_per_community: int = 10
    start: date = date(2022, 1, 3)
    end: date = date(2025, 12, 28)
    export_date: date = date(2026, 1, 5)
    # 1. calendar: scales the annual amplitudes / the log of the holiday multipliers
    seasonality: float = 1.0
    holiday_effect: float = 1.0
    # 2. grid covariates (log-rate coefficients; enterprises: elasticity of (1 + enterprises))
    floating_share_effect: float = 2.0
    rental_effect: float = 1.2
    enterprise_effect: float = 0.8
    key_person_effect: float = 0.05
    # 3. near-repeat: each dispute adds this / 7 to each neighbour's daily rate for 7 days
    neighbour_spread: float = 0.05
    # 4. backlog: elasticity of petitions and episode starts in (1 + open overdue disputes),
    # log-odds of escalation per log(1 + backlog), and how officer load drives the backlog
    backlog_effect: float = 0.5
    backlog_escalation: float = 0.6
    officer_load_power: float = 1.5
    # 5. grievance episodes (weak signals before collective petitions)
    episodes_per_grid_year: float = 0.085
    episode_petitions: float = 10.0
    episode_rise: float = 8.0
    collective_share: float = 0.45
    # 6. wage-arrears season: rate multiplier reaches 1 + this on the eve of Spring Festival
    wage_season_peak: float = 3.0
    # 7-8. reporting noise and export dirt
    under_reporting: bool = True
    duplicate_share: float = 0.002
    dirty_rows: bool = True
    # 9. grid regimes: a latent weekly AR(1) log-rate per grid (half shared by its community):
    # stationary sd (scaled by each family's loading) and week-to-week persistence
    regime_sd: float = 0.45
    regime_persistence: float = 0.97
    # 10. district trends, log-rate per year: the new town (D02) grows, the old centre declines
    district_growth: float = 0.18
    district_decline: float = 0.06
    # 11. city-wide weather shocks: livelihood requests x (1 + effect) while they last
    heat_wave_effect: float = 0.8
    rainstorm_effect: float = 1.0
    # 12. street enforcement campaigns (专项整治): law enforcement x (1 + effect) for 4-8 weeks
    campaign_effect: float = 0.8
    campaigns_per_street_year: float = 0.8
    # 13. group incidents (5+ people): share of disputes at random, extra share per open
    # overdue dispute of the grid, per unit of local dispute surge above 1, and extra share of
    # wage-arrears disputes on the eve of Spring Festival
    group_background: float = 0.004
    group_backlog_effect: float = 0.003
    group_surge_effect: float = 0.02
    wage_group_share: float = 0.2
    # 14. data faults (opt-in, none by default): outages and recodings of the exports
    faults: tuple[Outage | Recoding, ...] = ()

    @property
    def n_grids(self) -> int:
        return (self.n_districts * self.streets_per_district * self.communities_per_street
                * self.grids_per_community)

