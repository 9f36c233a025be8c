"""The project's vocabulary: column names, hierarchy levels and the incident taxonomy."""

from __future__ import annotations

# --- shared keys ---------------------------------------------------------------------------
AREA_ID = "area_id"
PERIOD = "period"
FAMILY = "family"
COUNT = "count"
SOURCE = "source"
ROW = "row"

# --- incidents -----------------------------------------------------------------------------
INCIDENT_ID = "incident_id"
OCCURRED_AT = "occurred_at"
REPORTED_AT = "reported_at"
CATEGORY = "category"
CHANNEL = "channel"
X = "x"
Y = "y"
PEOPLE_INVOLVED = "people_involved"
STATUS = "status"
CLOSED_AT = "closed_at"
OVERDUE = "overdue"
SATISFACTION = "satisfaction"
HANDLED = "handled"  # False: the source records no handling (no open/closed lifecycle)

# --- petitions -----------------------------------------------------------------------------
PETITION_ID = "petition_id"
FILED_AT = "filed_at"
TOPIC = "topic"
PETITIONER_COUNT = "petitioner_count"
COLLECTIVE = "collective"
REPEAT = "repeat"
ESCALATION = "escalation"
PETITIONER_KEY = "petitioner_key"
# Personal fields: read at ingest, replaced by PETITIONER_KEY, never written anywhere.
NAME = "name"
ID_NUMBER = "id_number"
PHONE = "phone"
PERSONAL_FIELDS = (NAME, ID_NUMBER, PHONE)

# --- areas ---------------------------------------------------------------------------------
AREA_NAME = "area_name"
COMMUNITY_ID, COMMUNITY_NAME = "community_id", "community_name"
STREET_ID, STREET_NAME = "street_id", "street_name"
DISTRICT_ID, DISTRICT_NAME = "district_id", "district_name"
POPULATION = "population"
FLOATING_POPULATION = "floating_population"
HOUSEHOLDS = "households"
RENTAL_UNITS = "rental_units"
ENTERPRISES = "enterprises"
KEY_CORRECTIONS = "key_persons_corrections"
KEY_MENTAL = "key_persons_mental_health"
KEY_DRUG = "key_persons_drug_rehab"
GRID_OFFICERS = "grid_officers"
AREA_KM2 = "area_km2"
URBAN = "urban"
NEIGHBOURS = "neighbours"
GEOMETRY = "geometry"
CENTROID_X, CENTROID_Y = "centroid_x", "centroid_y"

AREA_NUMERIC = (
    POPULATION, FLOATING_POPULATION, HOUSEHOLDS, RENTAL_UNITS, ENTERPRISES,
    KEY_CORRECTIONS, KEY_MENTAL, KEY_DRUG, GRID_OFFICERS,
)

# --- hierarchy -----------------------------------------------------------------------------
# Finest first. The grid level's id column is AREA_ID; "city" is the single root.
LEVELS = ("grid", "community", "street", "district", "city")
LEVEL_ID = {
    "grid": AREA_ID, "community": COMMUNITY_ID, "street": STREET_ID,
    "district": DISTRICT_ID, "city": "city_id",
}
LEVEL_NAME = {
    "grid": AREA_NAME, "community": COMMUNITY_NAME, "street": STREET_NAME,
    "district": DISTRICT_NAME, "city": "city_name",
}
CITY = "city"

# --- early warnings ------------------------------------------------------------------------
# The four colours of Chinese emergency warnings, highest first (red I ... blue IV).
WARNING_LEVELS = ("red", "orange", "yellow", "blue")
# The seeds' four kinds of risk; the order is also the tie-break of serving.warnings.kind_of
# (the one to act on first).
RISK_KINDS = ("sudden_group", "sinking_backlog", "spreading", "cyclical_sector")
# A warning's lifecycle (docs/ledger.md), and why one may be dismissed.
WARNING_STATUSES = ("issued", "acknowledged", "handled", "closed", "dismissed")
REASON_CODES = ("false_alarm", "duplicate", "out_of_scope", "already_handled", "data_error")

# --- the service and the meeting pack ------------------------------------------------------
ROLES = ("viewer", "analyst", "admin")  # what an API key may do, least first
REPORT_LEVELS = ("district", "street", "community")  # units of the map and trend charts
REPORT_LANGS = ("zh", "en")  # languages of the meeting pack (reporting/labels.toml)

# --- taxonomy ------------------------------------------------------------------------------
# The seeds' three streams of incidents. A category is "family.sub_category".
FAMILIES = {
    "law_enforcement": ("law enforcement", "行政执法类"),
    "livelihood": ("livelihood help requests", "民生求助类"),
    "dispute": ("conflicts and disputes", "矛盾纠纷类"),
}
SUB_CATEGORIES = {
    "law_enforcement": {
        "illegal_construction": "违章搭建", "street_vending": "占道经营",
        "pollution": "环境污染", "noise": "噪声扰民", "public_security": "治安",
        "fire_hazard": "消防隐患", "traffic": "交通秩序", "vehicle_theft": "盗窃机动车",
        "burglary": "入室盗窃", "street_crime": "街面犯罪", "other": "其他执法",
    },
    "livelihood": {
        "utilities": "水电气暖", "property_service": "物业服务", "road_facilities": "道路设施",
        "sanitation": "环境卫生", "social_assistance": "社会救助", "other": "其他求助",
    },
    "dispute": {
        "neighbour": "邻里纠纷", "family": "婚姻家庭", "wage_arrears": "劳资纠纷",
        "land_demolition": "征地拆迁", "property": "物业纠纷", "consumer": "消费纠纷",
        "other": "其他纠纷",
    },
}
CATEGORIES = tuple(f"{fam}.{sub}" for fam, subs in SUB_CATEGORIES.items() for sub in subs)

CHANNELS = {
    "hotline_12345": "12345热线", "grid_officer": "网格员巡查", "city_management": "数字城管",
    "police": "110警情", "online": "网络渠道",
}
INCIDENT_STATUSES = ("reported", "dispatched", "handled", "closed")

PETITION_TOPICS = {
    "wage_arrears": "欠薪", "land_demolition": "征地拆迁", "housing": "房屋",
    "environment": "环境", "social_security": "社会保障", "litigation": "涉法涉诉",
    "other": "其他",
}
# 0: filed at the proper level; 1-3: skipped to the city, the province or Beijing.
ESCALATION_LEVELS = {0: "本级", 1: "越级到市", 2: "越级到省", 3: "进京"}
PETITION_STATUSES = ("open", "in_progress", "closed")
COLLECTIVE_MIN_PEOPLE = 5


def family_of(category: str) -> str:
    """The family ("law_enforcement", "livelihood" or "dispute") of a category code."""
    return category.split(".", 1)[0]

# --- signals -----------------------------------------------------------------------------
SINCE_CAP = 104  # periods since the last collective petition are counted up to this

# --- trend frames (Prophet's own names; Y, the observed count, is the same "y" as a coordinate) ---
DS = "ds"
YHAT, YHAT_LOWER, YHAT_UPPER = "yhat", "yhat_lower", "yhat_upper"
IS_FORECAST, EXCESS = "is_forecast", "excess"
UNIT_LEVEL, UNIT_ID, UNIT_NAME = "level", "unit_id", "unit_name"
# Trend models are for aggregated series; grid and community counts are too sparse and too many.
TREND_LEVELS = ("street", "district", "city")
