"""Figures of a comparison: TAE over time, ESS over time, output weights, the network.

Every function draws with Matplotlib and returns the Axes or Figure it drew on: by default a
new pyplot figure (shown as pyplot shows any, e.g. inline in Jupyter), or with
``detached=True`` a :class:`matplotlib.figure.Figure` that pyplot does not track, so that no
backend is chosen or changed (what reports use; :func:`save_figure` writes it). Inputs are a
:class:`~bayeslstm.report.comparison.Comparison`
(or its dataset) and, for posteriors, ``{label: InferenceData}``; ArviZ draws the posteriors.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping, Sequence
from typing import Any

import matplotlib
import numpy as np
import xarray as xr

from ..errors import InputError
from .comparison import Comparison, edges_of

FAMILY_COLORS = {"pf": "tab:blue", "ekf": "tab:orange", "sgd": "tab:green", "adam": "tab:red"}
FUSION_STYLES = {"distributed": "-", "local": "--", "centralized": ":"}
SPARE_COLORS = ("tab:purple", "tab:brown", "tab:pink", "tab:olive", "tab:cyan", "tab:gray")


def _dataset(comparison: Comparison | xr.Dataset) -> xr.Dataset:
    if isinstance(comparison, Comparison):
        return comparison.dataset
    if isinstance(comparison, xr.Dataset) and "tae" in comparison:
        return comparison
    raise InputError(f"expected a Comparison (from compare_results) or its dataset; got {type(comparison).__name__}")


def _subplots(detached: bool, nrows: int = 1, ncols: int = 1, figsize=None, **kwargs):
    """(Figure, Axes) of a new figure: a pyplot one, or, ``detached``, one that pyplot does not
    track (drawing and saving it touch no backend)."""
    if not detached:
        import matplotlib.pyplot as plt

        return plt.subplots(nrows, ncols, figsize=figsize, layout="constrained", **kwargs)
    from matplotlib.figure import Figure

    fig = Figure(figsize=figsize, layout="constrained")
    return fig, fig.subplots(nrows, ncols, **kwargs)


def method_styles(dataset: xr.Dataset) -> dict[str, dict[str, Any]]:
    """Line colour by family (pf, ekf, sgd, adam), line style by fusion; repeats get a
    second style so that every method is told apart."""
    styles, used, spare = {}, set(), iter(SPARE_COLORS * 4)
    for method, family, fusion in zip(dataset["method"].values, dataset["family"].values, dataset["fusion"].values):
        color = FAMILY_COLORS.get(str(family)) or next(spare)
        style = FUSION_STYLES.get(str(fusion), "-")
        if (color, style) in used:
            style = "-."
        if (color, style) in used:
            color = next(spare)
        used.add((color, style))
        styles[str(method)] = {"color": color, "linestyle": style}
    return styles


def plot_tae(comparison, ax=None, noise_floor: float | None = None, band: bool = False, unit: str | None = None,
             detached: bool = False):
    """Network-mean TAE against time for every method, log y. ``noise_floor`` (the label
    noise variance, the best reachable TAE) is drawn as a grey line; ``band`` shades the
    range over nodes; ``unit``: the label's unit, for the y axis (default: the comparison's);
    ``detached``: without ``ax``, draw on a figure that pyplot does not track."""
    ds = _dataset(comparison)
    unit = unit or ds.attrs.get("unit") or None
    if ax is None:
        _, ax = _subplots(detached, figsize=(9.5, 4.5))
    styles = method_styles(ds)
    time = ds["time"].values
    for method in ds["method"].values:
        tae = ds["tae"].sel({"method": method})
        ax.plot(time, tae.mean("node"), label=str(method), linewidth=1.6, **styles[str(method)])
        if band:
            ax.fill_between(time, tae.min("node"), tae.max("node"), color=styles[str(method)]["color"], alpha=0.12, linewidth=0)
    if noise_floor is not None and noise_floor > 0:
        ax.axhline(noise_floor, color="0.4", linewidth=1.0, linestyle=(0, (1, 3)), label=f"noise floor ({noise_floor:g})")
    ax.set_yscale("log")
    ax.set_xlabel("time step t")
    ax.set_ylabel(f"TAE, network mean ({unit}$^2$)" if unit else "TAE (network mean)")
    ax.set_title("Time-accumulated squared error")
    ax.grid(True, which="major", alpha=0.3)
    _legend_outside(ax)
    return ax


def _legend_outside(ax) -> None:
    ax.legend(fontsize="small", frameon=False, loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0.0)


def _moving_average(values: np.ndarray, window: int) -> np.ndarray:
    if window <= 1:
        return values
    kernel = np.ones(window) / window
    padded = np.concatenate([np.full(window - 1, values[0]), values])
    return np.convolve(padded, kernel, mode="valid")


def plot_ess(comparison, ax=None, window: int | None = None, detached: bool = False):
    """ESS / N (network mean) against time for the particle methods, smoothed by a moving
    average over ``window`` steps (default T/50). Returns None if no method has an ESS.
    ``detached``: without ``ax``, draw on a figure that pyplot does not track."""
    ds = _dataset(comparison)
    methods = [m for m in ds["method"].values if np.isfinite(ds["ess"].sel({"method": m})).any()]
    if not methods:
        return None
    if ax is None:
        _, ax = _subplots(detached, figsize=(9.5, 4))
    styles = method_styles(ds)
    T = ds.sizes["time"]
    window = max(1, T // 50) if window is None else int(window)
    for method in methods:
        n = int(ds["num_particles"].sel({"method": method}))
        ess = ds["ess"].sel({"method": method}).mean("node").values / (n if n > 0 else 1)
        ax.plot(ds["time"].values, _moving_average(ess, window), label=f"{method} (N={n})", linewidth=1.4, **styles[str(method)])
    thresholds = ds["ess_threshold"].sel({"method": methods}).values if "ess_threshold" in ds else np.array([])
    for value in sorted({float(v) for v in thresholds if np.isfinite(v)}):
        users = [str(m) for m, v in zip(methods, thresholds) if v == value]
        which = "" if len(users) == len(methods) else f" of {', '.join(users)}"
        ax.axhline(value, color="0.35", linewidth=1.0, linestyle=(0, (1, 2)), label=f"resampling threshold{which} ({value:g})")
    ax.set_ylim(bottom=0, top=max(1.02, ax.get_ylim()[1]))
    ax.set_xlabel("time step t")
    ax.set_ylabel("ESS / N" + (f" (moving mean, {window} steps)" if window > 1 else ""))
    ax.set_title("Effective sample size before resampling (network mean)")
    ax.grid(True, alpha=0.3)
    _legend_outside(ax)
    return ax


def _grid(n: int, ncols: int) -> tuple[int, int]:
    ncols = max(1, min(ncols, n))
    return math.ceil(n / ncols), ncols


def plot_weights(idatas: Mapping[str, Any], var_name: str = "w_out", ncols: int = 3, hdi_prob: float = 0.94,
                 detached: bool = False):
    """One ArviZ forest plot per method of ``var_name``'s posterior, a colour per node (chain).

    Local nodes learn on their own and may settle on different (equally good, e.g. permuted)
    weights; cooperative methods should agree. Returns the Figure, or None if no run has
    ``var_name``. ``detached``: draw on a figure that pyplot does not track.
    """
    import arviz as az

    runs = {label: idata for label, idata in idatas.items() if "posterior" in idata.groups() and var_name in idata.posterior}
    if not runs:
        return None
    rows_per_panel = max(idata.posterior[var_name].size // idata.posterior.sizes["draw"] for idata in runs.values())
    nrows, ncols = _grid(len(runs), ncols)
    fig, axes = _subplots(detached, nrows, ncols, figsize=(max(4.6 * ncols, 7.0), 0.6 + nrows * (1.2 + 0.14 * rows_per_panel)),
                          squeeze=False)
    colors = matplotlib.rcParams["axes.prop_cycle"].by_key()["color"]
    for ax, (label, idata) in zip(axes.flat, runs.items()):
        chains = idata.posterior["chain"].values
        per_chain = [idata.sel(chain=[c], groups="posterior") for c in chains]
        names = [f"node {c}" for c in chains] if len(chains) > 1 else ["network"]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            az.plot_forest(per_chain, model_names=names, var_names=[var_name], combined=True, hdi_prob=hdi_prob,
                           ax=ax, legend=False, textsize=8, markersize=4, linewidth=1.2,
                           colors=[colors[k % len(colors)] for k in range(len(chains))])
        ax.set_title(f"{label}  ({idata.attrs.get('draws_are', '')})", fontsize=9)
        # ArviZ names an entry's variable only on its first line; every line gets it here
        ax.set_yticks(ax.get_yticks(), [_weight_label(t.get_text(), var_name) for t in ax.get_yticklabels()])
        ax.set_xlabel(f"value of {var_name}", fontsize=8)
    for ax in list(axes.flat)[len(runs):]:
        ax.set_visible(False)
    fig.suptitle(f"Posterior of {var_name} at the last step: {round(hdi_prob * 100)}% HDI, one colour per node",
                 fontsize="medium", wrap=True)
    return fig


def _weight_label(text: str, var_name: str) -> str:
    """``node 0: [1]`` -> ``node 0: w_out[1]``; ``node 0: w_out[0]`` stays."""
    head, sep, tail = text.rpartition(": ")
    if tail.startswith("["):
        tail = var_name + tail
    return f"{head}{sep}{tail}" if sep else (var_name + text if text.startswith("[") else text)


def _positions(nodes: int, edges: Sequence[tuple[int, int]] | None):
    import networkx as nx

    graph = nx.Graph()
    graph.add_nodes_from(range(nodes))
    graph.add_edges_from(edges or [])
    layout = nx.circular_layout(graph) if nodes <= 32 or not edges else nx.spring_layout(graph, seed=0)
    return graph, layout


def plot_network(comparison, edges: Sequence[tuple[int, int]] | None = None, ncols: int = 3, cmap: str = "viridis",
                 detached: bool = False):
    """The network once per method, each node coloured by its final TAE (one shared log
    scale). Edges are drawn for the distributed methods, which use them; ``edges`` defaults
    to the graph stored in the comparison; ``detached``: draw on a figure that pyplot does not
    track."""
    import networkx as nx
    from matplotlib.cm import ScalarMappable
    from matplotlib.colors import LogNorm, Normalize

    ds = _dataset(comparison)
    edges = edges if edges is not None else edges_of(ds)
    methods = [str(m) for m in ds["method"].values]
    K = ds.sizes["node"]
    graph, pos = _positions(K, edges)
    final = ds["final_tae"]
    finite = final.values[np.isfinite(final.values) & (final.values > 0)]
    norm: Normalize
    if finite.size and finite.min() < finite.max():
        norm = LogNorm(finite.min(), finite.max())
    else:
        low = finite.min() if finite.size else 1.0
        norm = Normalize(0.5 * low, 1.5 * low)
    nrows, ncols = _grid(len(methods), ncols)
    size = 3.2 if K <= 20 else 4.2
    fig, axes = _subplots(detached, nrows, ncols, figsize=(size * ncols + 0.8, size * nrows), squeeze=False)
    node_size = max(60, 500 - 12 * K)
    colormap = matplotlib.colormaps[cmap]
    for ax, method in zip(axes.flat, methods):
        values = final.sel({"method": method}).values
        fusion = str(ds["fusion"].sel({"method": method}).values)
        if fusion == "distributed" and graph.number_of_edges():
            nx.draw_networkx_edges(graph, pos, ax=ax, edge_color="0.6", width=1.0)
        colors = colormap(norm(np.where(np.isfinite(values), values, np.nan)))
        nx.draw_networkx_nodes(graph, pos, ax=ax, node_color=colors, node_size=node_size, edgecolors="0.2", linewidths=0.6)
        if K <= 20:
            for node, rgba in zip(range(K), colors):
                light = 0.299 * rgba[0] + 0.587 * rgba[1] + 0.114 * rgba[2] > 0.55
                ax.text(*pos[node], str(node), ha="center", va="center", fontsize=7, color="black" if light else "white")
        name = method if f"@{fusion}" in method else f"{method} ({fusion})"
        ax.set_title(f"{name}\nmean TAE {np.nanmean(values):.3g}", fontsize=9)
        ax.set_axis_off()
        ax.margins(0.12)
    for ax in list(axes.flat)[len(methods):]:
        ax.set_visible(False)
    mappable = ScalarMappable(norm=norm, cmap=colormap)
    fig.colorbar(mappable, ax=axes.ravel().tolist(), shrink=0.8, label="final TAE of the node")
    fig.suptitle("Final TAE per node")
    return fig


def save_figure(fig, path) -> None:
    """Write ``fig`` (a Figure, or an Axes of one) as PNG; a pyplot figure is then closed."""
    from matplotlib.axes import Axes
    from matplotlib.figure import SubFigure

    figure = fig.figure if isinstance(fig, Axes) else fig
    if isinstance(figure, SubFigure):  # it has no savefig of its own
        raise InputError("save_figure needs a Figure or an Axes of one, not of a SubFigure")
    figure.savefig(path, dpi=110)
    if figure.canvas.manager is not None:  # pyplot tracks it
        import matplotlib.pyplot as plt

        plt.close(figure)
