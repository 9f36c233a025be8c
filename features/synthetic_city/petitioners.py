"""Petitioners: a fake name, resident ID number and mobile number for every person who files."""

from __future__ import annotations

import numpy as np
import pandas as pd

from features.synthetic_city.areas import DISTRICT_CODES

SURNAMES = ("王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶"
            "程苏魏吕丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎"
            "贺顾毛郝龚邵万钱严武戴莫孔向汤")
MALE_CHARS = "伟强磊军勇杰涛斌超明刚平辉鹏华飞鑫波宇浩凯健俊帆旭宁龙林峰建国志文海东兵春德学成荣新庆祥福生"
FEMALE_CHARS = "芳娜敏静丽艳娟霞秀英慧玲婷红梅琳燕萍兰凤洁雪晶颖倩琴云莉桂珍玉华春丹"
OTHER_REGIONS = ("341221", "411522", "513030", "360721", "430521", "341522", "412726")
PHONE_PREFIXES = tuple(f"13{i}" for i in range(10)) + ("150", "151", "152", "153", "155",
                                                       "156", "157", "158", "159") + tuple(
    f"18{i}" for i in range(10))
ID_WEIGHTS = np.array([7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2])  # ISO 7064 11-2


def draw_petitioners(home: np.ndarray, grid: dict[str, np.ndarray],
                     rng: np.random.Generator) -> pd.DataFrame:
    """A name, resident ID number and mobile number for every petitioner (all fake)."""
    n = len(home)
    male = rng.random(n) < 0.55
    weights = 1 / np.arange(1, len(SURNAMES) + 1) ** 0.9
    surname = np.array(list(SURNAMES))[rng.choice(len(SURNAMES), n, p=weights / weights.sum())]
    chars = [np.array(list(FEMALE_CHARS)), np.array(list(MALE_CHARS))]
    first = np.where(male, chars[1][rng.integers(0, len(chars[1]), n)],
                     chars[0][rng.integers(0, len(chars[0]), n)])
    second = np.where(male, chars[1][rng.integers(0, len(chars[1]), n)],
                      chars[0][rng.integers(0, len(chars[0]), n)])
    given = np.where(rng.random(n) < 0.6, np.char.add(first, second), first)
    local = np.array(DISTRICT_CODES * (1 + grid["district"].max() // len(DISTRICT_CODES)))
    outsider = rng.random(n) < 0.8 * grid["floating_share"][home]
    region = np.where(outsider, np.array(OTHER_REGIONS)[rng.integers(0, len(OTHER_REGIONS), n)],
                      local[grid["district"][home]])
    return pd.DataFrame({"name": np.char.add(surname, given),
                         "id_number": _id_numbers(region, male, rng),
                         "phone": _unique(lambda k: _phones(k, rng), n)})


def _id_numbers(region: np.ndarray, male: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """18-digit resident IDs: region, birth date, sequence (odd for men), check digit."""
    n = len(region)
    birth = np.datetime64("1950-01-01") + rng.integers(0, 19_700, n).astype("timedelta64[D]")
    births = np.char.replace(np.datetime_as_string(birth, unit="D"), "-", "")
    while True:
        seq = rng.integers(0, 500, n) * 2 + male
        bodies = np.char.add(np.char.add(region, births), np.char.zfill(seq.astype(str), 3))
        if len(np.unique(bodies)) == n:
            break
    digits = np.frombuffer("".join(bodies).encode("ascii"), np.uint8).reshape(n, 17) - 48
    check = np.array(list("10X98765432"))[(digits.astype(int) @ ID_WEIGHTS) % 11]
    return np.char.add(bodies, check)


def _phones(n: int, rng: np.random.Generator) -> np.ndarray:
    prefix = np.array(PHONE_PREFIXES)[rng.integers(0, len(PHONE_PREFIXES), n)]
    return np.char.add(prefix, np.char.zfill(rng.integers(0, 10**8, n).astype(str), 8))


def _unique(draw, n: int) -> np.ndarray:
    """n distinct values from ``draw(k)``, redrawing collisions."""
    values = draw(n)
    while True:
        _, first = np.unique(values, return_index=True)
        repeated = np.setdiff1d(np.arange(n), first)
        if not len(repeated):
            return values
        values[repeated] = draw(len(repeated))

