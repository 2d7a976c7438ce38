"""Figures of a comparison: TAE over time, ESS over time, output weights, the network, and the
weights of a model average's members over time.

Every function draws with Matplotlib and returns the Axes or Figure it drew on: by default a
new pyplot figure (shown as pyplot shows any, e.g. inline in Jupyter), or with
``detached=True`` a :class:`matplotlib.figure.Figure` that pyplot does not track, so that no
backend is chosen or changed (what reports use; :func:`save_figure` writes it). Inputs are a
:class:`~bayeslstm.report.comparison.Comparison`
(or its dataset) and, for posteriors, ``{label: InferenceData}``.
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Mapping, Sequence
from typing import Any, Literal

import matplotlib
import numpy as np
import xarray as xr
from matplotlib.colors import to_rgba

from ..errors import InputError
from .comparison import Comparison, edges_of
from .reading import weight_draws

FAMILY_COLORS = {"pf": "tab:blue", "ekf": "tab:orange", "sgd": "tab:green", "adam": "tab:red"}
FUSION_STYLES = {"distributed": "-", "local": "--", "centralized": ":"}
NETWORK_COLOR = "0.25"  # the weights figure's colour for a centralized run's one filter
SPARE_COLORS = ("tab:purple", "tab:brown", "tab:pink", "tab:olive", "tab:cyan", "tab:gray")


def _dataset(comparison: Comparison | xr.Dataset) -> xr.Dataset:
    if isinstance(comparison, Comparison):
        return comparison.dataset
    if isinstance(comparison, xr.Dataset) and "tae" in comparison:
        return comparison
    raise InputError(f"expected a Comparison (from compare_results) or its dataset; got {type(comparison).__name__}")


def _subplots(detached: bool, nrows: int = 1, ncols: int = 1, figsize=None, layout: Literal["constrained"] | None = "constrained",
              **kwargs):
    """(Figure, Axes) of a new figure: a pyplot one, or, ``detached``, one that pyplot does not
    track (drawing and saving it touch no backend). ``layout=None``: the caller places the axes
    (constrained layout measures every text of the figure once more before drawing it)."""
    if not detached:
        import matplotlib.pyplot as plt

        return plt.subplots(nrows, ncols, figsize=figsize, layout=layout, **kwargs)
    from matplotlib.figure import Figure

    fig = Figure(figsize=figsize, layout=layout)
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
    """One forest plot per method of ``var_name``'s posterior, a colour per node (chain): for
    every entry of the site (``w_out[0]``...), one row per node, node 0 at the top, with the
    ``hdi_prob`` highest-density interval (thin line), the interquartile range (thick line) and
    the median (circle), as ArviZ's ``plot_forest(..., combined=True)`` draws them with one model
    per node. A gradient method's point estimate is one circle per node. A legend names the
    nodes' colours; with more nodes than colours every row is named instead. A centralized
    run's one filter is drawn in dark grey.

    Local nodes learn on their own and may settle on different (equally good, e.g. permuted)
    weights; cooperative methods should agree. Returns the Figure, or None if no run has
    ``var_name``. ``detached``: draw on a figure that pyplot does not track.
    """
    from matplotlib.lines import Line2D

    found = {label: weight_draws(idata, var_name) for label, idata in idatas.items()}
    sites = {label: site for label, site in found.items() if site is not None}
    if not sites:
        return None
    rows_per_panel = max(site.size // site.sizes["draw"] for site in sites.values())
    nrows, ncols = _grid(len(sites), ncols)
    fig, axes = _subplots(detached, nrows, ncols, figsize=(max(4.6 * ncols, 7.0), 0.9 + nrows * (1.2 + 0.14 * rows_per_panel)),
                          squeeze=False)
    cycle = matplotlib.rcParams["axes.prop_cycle"].by_key()["color"]
    chains = {site.sizes["chain"] for site in sites.values()}
    name_rows = max(chains) > len(cycle)
    for ax, (label, site) in zip(axes.flat, sites.items()):
        _forest(ax, site, var_name, hdi_prob, cycle, name_rows)
        ax.set_title(f"{label}  ({'point estimate' if site.sizes['draw'] == 1 else idatas[label].attrs.get('draws_are', '')})",
                     fontsize=9)
    for ax in list(axes.flat)[len(sites):]:
        ax.set_visible(False)
    if not name_rows:
        handles = [Line2D([], [], color=cycle[k], linewidth=2.4, label=f"node {k}") for k in range(max(chains) if max(chains) > 1 else 0)]
        if 1 in chains:
            handles.append(Line2D([], [], color=NETWORK_COLOR, linewidth=2.4, label="network (one filter)"))
        fig.legend(handles=handles, loc="outside lower center", ncols=min(len(handles), 6), fontsize=8, frameon=False)
    fig.suptitle(f"Posterior of {var_name} at the last step: {round(hdi_prob * 100)}% HDI (thin), interquartile range "
                 "(thick) and median, one colour per node", fontsize="medium", wrap=True)
    return fig


def hdi(values: np.ndarray, prob: float) -> tuple[np.ndarray, np.ndarray]:
    """ArviZ's highest-density interval of the draws on the last axis of ``values``, each row
    apart: (lower, upper) over the other axes."""
    import arviz as az

    dims = tuple(f"axis_{i}" for i in range(np.ndim(values) - 1)) + ("draw",)
    bounds = az.hdi(xr.DataArray(np.asarray(values, float), dims=dims), hdi_prob=prob, input_core_dims=[["draw"]])
    bounds = bounds[next(iter(bounds.data_vars))] if isinstance(bounds, xr.Dataset) else bounds
    return bounds.sel(hdi="lower").values, bounds.sel(hdi="higher").values


def _forest(ax, site: xr.DataArray, var_name: str, hdi_prob: float, cycle: Sequence[str], name_rows: bool,
            linewidth: float = 1.2, markersize: float = 4) -> None:
    """A forest plot of one run's ``site`` (chain, draw, ...) on ``ax``: rows grouped by entry
    (every other group shaded), one row per chain in a group, top to bottom; the groups named on
    the y axis, or every row (``node 3: w_out[0]``) with ``name_rows``. A handful of artists
    whatever the number of rows."""
    chains = site.sizes["chain"]
    entry_dims = [d for d in site.dims if d not in ("chain", "draw")]
    values = site.transpose("chain", *entry_dims, "draw").values.reshape(chains, -1, site.sizes["draw"])
    entries = values.shape[1]
    q25, median, q75 = np.quantile(values, [0.25, 0.5, 0.75], axis=-1)
    lower, upper = hdi(values, hdi_prob) if values.shape[-1] > 1 else (median, median)  # a point estimate: its value
    top = np.arange(entries) * (chains + 1)  # each group's first row; a blank row between groups
    y = -(top[None, :] + np.arange(chains)[:, None])  # (chain, entry)
    palette = [cycle[c % len(cycle)] for c in range(chains)] if chains > 1 else [NETWORK_COLOR]
    colors = np.repeat([to_rgba(c) for c in palette], entries, axis=0)
    y, lower, upper, q25, median, q75 = (np.ravel(a) for a in (y, lower, upper, q25, median, q75))
    ax.hlines(y, lower, upper, colors=colors, linewidth=linewidth)
    ax.hlines(y, q25, q75, colors=colors, linewidth=2 * linewidth)
    ax.scatter(median, y, s=(0.75 * markersize) ** 2, facecolors=ax.get_facecolor(), edgecolors=colors,
               linewidths=1.0, zorder=3)
    for first in top[::2]:
        ax.axhspan(-first + 0.5, -(first + chains - 1) - 0.5, color="k", alpha=0.1, linewidth=0)
    names = _entry_names(site, entry_dims, var_name)
    if name_rows:
        nodes = [f"node {c}" for c in site["chain"].values] if chains > 1 else ["network"]
        ax.set_yticks(y, [f"{nodes[c]}: {names[e]}" for c in range(chains) for e in range(entries)], fontsize=7)
    else:
        ax.set_yticks(-(top + (chains - 1) / 2), names, fontsize=8)
    ax.set_ylim(y.min() - 0.8, y.max() + 0.8)
    ax.tick_params(axis="x", labelsize=8)
    ax.tick_params(axis="y", length=0)
    ax.grid(False)
    ax.set_xlabel(f"value of {var_name}", fontsize=8)


def _entry_names(site: xr.DataArray, dims: Sequence[Hashable], var_name: str) -> list[str]:
    """``w_out[0]``, ``W_i[0, 1]``..., by the coordinates of the site's own dimensions, in C order."""
    if not dims:
        return [var_name]
    coords = [site[d].values if d in site.coords else np.arange(site.sizes[d]) for d in dims]
    grid = np.meshgrid(*coords, indexing="ij")
    return [f"{var_name}[{', '.join(str(g.flat[i]) for g in grid)}]" for i in range(grid[0].size)]


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
    width, height = size * ncols + 1.5, size * nrows + 0.4
    fig, axes = _subplots(detached, nrows, ncols, figsize=(width, height), squeeze=False, layout=None)
    # placed by hand: 0.4 inch at the top for the figure's title, 0.45 inch above each panel for
    # its two-line title, 1.5 inches on the right for the colour bar and its label
    fig.subplots_adjust(left=0.05 / width, right=1 - 1.5 / width, bottom=0.05 / height, top=1 - 0.85 / height,
                        wspace=0.05, hspace=0.45 / (size - 0.45))
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
        ax.set(xlim=(-1.25, 1.25), ylim=(-1.25, 1.25), aspect="equal")  # the layouts lie in [-1, 1]^2
    for ax in list(axes.flat)[len(methods):]:
        ax.set_visible(False)
    mappable = ScalarMappable(norm=norm, cmap=colormap)
    bar = fig.add_axes((1 - 1.25 / width, 0.15, 0.18 / width, 0.7))
    fig.colorbar(mappable, cax=bar, label="final TAE of the node")
    fig.suptitle("Final TAE per node")
    return fig


def plot_average_weights(averages, detached: bool = False):
    """The weight of each member of a model average (``bl.model_average``) against time, network
    mean over nodes, stacked (they sum to 1): the share of each method's predictive density in
    the mixture that predicts each step; beside it, for an average that learns how fast to
    forget, the weight of each forgetting factor. ``averages``: a model average's RunResult, or its
    :class:`~bayeslstm.report.summary.RunSummary`, or ``{label: either}`` for one panel each.
    Returns the Figure, or None if none has member weights; ``detached``: draw on a figure that
    pyplot does not track."""
    from .summary import RunSummary, summarize_run

    if isinstance(averages, Mapping):
        summaries = {str(label): summarize_run(run) for label, run in averages.items()}
    else:
        summaries = {"average": summarize_run(averages)}
    summaries = {label: s for label, s in summaries.items() if isinstance(s, RunSummary) and s.member_weights}
    if not summaries:
        return None
    columns = 2 if any(s.memory_weights for s in summaries.values()) else 1
    fig, axes = _subplots(detached, len(summaries), columns, figsize=(9.5 + 4.5 * (columns - 1), 0.5 + 3.5 * len(summaries)),
                          squeeze=False)
    for row, (label, summary) in zip(axes, summaries.items()):
        weights = summary.member_weights or {}
        time = summary.time if summary.time is not None else np.arange(1, len(next(iter(weights.values()))) + 1)
        forgetting = (summary.options or {}).get("forgetting")
        note = f" (forgetting {forgetting:g})" if forgetting is not None and not np.ndim(forgetting) else ""
        _stacked(row[0], time, weights, f"{label}: weight of each member{note}")
        if columns == 2:
            if summary.memory_weights:
                _stacked(row[1], time, summary.memory_weights, f"{label}: weight of each forgetting factor")
            else:
                row[1].set_visible(False)
    return fig


def _stacked(ax, time, weights: Mapping[str, np.ndarray], title: str) -> None:
    """Weights that sum to 1 against time, stacked, with a legend from top to bottom."""
    colormap = matplotlib.colormaps["tab20" if len(weights) > 10 else "tab10"]
    colors = [colormap(k % colormap.N) for k in range(len(weights))]
    layers = ax.stackplot(time, *weights.values(), labels=list(weights), colors=colors, linewidth=0)
    ax.set(xlim=(time[0], time[-1]), ylim=(0, 1), xlabel="time step t", ylabel="weight (network mean)", title=title)
    ax.legend(layers[::-1], list(weights)[::-1], fontsize="small", frameon=False, loc="upper left",
              bbox_to_anchor=(1.01, 1.0), borderaxespad=0.0)  # top to bottom, as stacked


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
