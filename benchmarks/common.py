"""What the benchmarks share: method lists, options, the run cache, seed statistics, the
machine they ran on, and the TAE figure.

Seed statistics go through :func:`bayeslstm.report.comparison.compare_results` (the same
table a user's comparison gets: means and spreads over seeds, late MSE, running time and
traffic); each (seed, method) run is kept as a :class:`~bayeslstm.report.comparison.RunSummary`
in a JSON cache, so an interrupted call resumes with ``--resume``.
"""

from __future__ import annotations

import hashlib
import json
import os
import pathlib
import platform
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from bayeslstm.engine.encoding import to_json
from bayeslstm.errors import BayesLSTMError
from bayeslstm.methods import method_options, method_specs
from bayeslstm.report.comparison import Comparison, RunSummary, compare_results, summarize_run


def _split_entries(text: str) -> list[str]:
    """Comma-separated entries; commas inside [...] belong to the entry."""
    entries, depth, current = [], 0, ""
    for char in text:
        depth += (char == "[") - (char == "]")
        if char == "," and depth == 0:
            entries.append(current)
            current = ""
        else:
            current += char
    return [e.strip() for e in entries + [current] if e.strip()]


def _value(text: str) -> Any:
    for cast in (int, float):
        try:
            return cast(text)
        except ValueError:
            pass
    return text


def parse_methods(text: str) -> list[tuple[str, str, str, dict[str, Any]]]:
    """(label, method, fusion, options) per comma-separated entry ``NAME``, ``NAME@FUSION`` or
    either with options in brackets, ``pf@centralized[move=liu-west,discount=0.95]`` (a
    variant: its label keeps the brackets); checked before any work."""
    specs = []
    try:
        for entry in _split_entries(text):
            name, _, bracket = entry.partition("[")
            options = {}
            for item in filter(None, bracket.rstrip("]").split(",")):
                key, eq, value = item.partition("=")
                if not eq:
                    raise SystemExit(f"--methods: option {item!r} of {entry!r} is not key=value")
                options[key.strip()] = _value(value.strip())
            (label, method, fusion), = method_specs(name)
            unknown = sorted(set(options) - set(method_options(method, fusion)))
            if unknown:
                raise SystemExit(f"--methods: {method} has no option(s) {unknown}")
            specs.append((label + (f"[{bracket}" if bracket else ""), method, fusion, options))
    except BayesLSTMError as exc:
        raise SystemExit(f"--methods: {exc}") from None
    if not specs:
        raise SystemExit("--methods: no method given")
    return specs


def options_for(method: str, fusion: str, wanted: Mapping[str, Any], own: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The options in ``wanted`` that the method takes (the benchmark's flags go to every
    method that can use them), then the entry's ``own`` options on top."""
    accepted = method_options(method, fusion)
    return {**{k: v for k, v in wanted.items() if k in accepted and v is not None}, **(own or {})}


def graph_for(method: str, fusion: str | None, graph: Any) -> Any:
    """The benchmark's ``--graph`` for a distributed method, None for the others (which
    refuse a graph)."""
    return graph if method_specs([method], fusion)[0][2] == "distributed" else None


def cpu_model() -> str:
    """The processor's model name, as the kernel reports it."""
    try:
        for line in pathlib.Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith(("model name", "hardware", "cpu model")):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine() -> dict[str, Any]:
    """Where the numbers were measured: they are only comparable on the same machine."""
    import jax

    return {
        "cpu": cpu_model(),
        "cores": os.cpu_count(),
        "load_average_1min": os.getloadavg()[0],
        "platform": platform.platform(),
        "python": platform.python_version(),
        "jax": jax.__version__,
        "backend": jax.default_backend(),
        "devices": [d.device_kind for d in jax.devices()],
    }


def cache_path(folder: str | os.PathLike, key: Mapping[str, Any]) -> pathlib.Path:
    """A file for one (seed, method) run, named by a digest of everything that defines it."""
    text = json.dumps(key, sort_keys=True, default=str)
    digest = hashlib.sha1(text.encode()).hexdigest()[:12]
    label = str(key.get("label", "run")).replace("@", "_")
    return pathlib.Path(folder) / f"{label}_seed{key.get('seed', 0)}_{digest}.json"


def save_run(path: pathlib.Path, summary: RunSummary, extras: Mapping[str, Any] | None = None) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(to_json({"summary": summary._asdict(), "extras": dict(extras or {})}))


def load_run(path: pathlib.Path) -> tuple[RunSummary, dict[str, Any]]:
    data = json.loads(path.read_text())
    fields = data["summary"]
    for name in ("tae", "ess"):
        if fields.get(name) is not None:
            fields[name] = np.asarray(fields[name], float)
    return RunSummary(**fields), data["extras"]


def summarize(result) -> RunSummary:
    """The summary a comparison needs of a finished run."""
    return summarize_run(result)


def seed_statistics(runs: Mapping[str, Sequence[RunSummary]]) -> Comparison:
    """Means and spreads over seeds of every method: ``compare_results`` on the replicates."""
    return compare_results({label: list(group) for label, group in runs.items() if group})


def final_tae(summary: RunSummary) -> float:
    """Network mean of the TAE at the last step."""
    return float(np.mean(summary.tae[:, -1]))


def wins(a: Sequence[RunSummary], b: Sequence[RunSummary]) -> tuple[int, int]:
    """In how many of the shared seeds ``a``'s final TAE is below ``b``'s, and how many seeds."""
    pairs = list(zip(a, b))
    return sum(final_tae(x) < final_tae(y) for x, y in pairs), len(pairs)


def rows_by_label(comparison: Comparison) -> dict[str, dict[str, Any]]:
    """The comparison's table as {label: row}."""
    return {row["method"]: row for row in comparison.rows()}


def plot_panels(path: pathlib.Path, panels: Mapping[str, Comparison], noise_floor: float | None = None,
                ylabel: str = "network-mean TAE") -> None:
    """One TAE panel per comparison (a dataset, or the synthetic stream), drawn by the package's
    own :func:`bayeslstm.report.plots.plot_tae`, and saved to ``path``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from bayeslstm.report.plots import plot_tae

    width = 11 if len(panels) == 1 else 4.8 * len(panels)
    fig, axes = plt.subplots(1, len(panels), figsize=(width, 5.5 if len(panels) == 1 else 4.2), squeeze=False)
    for ax, (title, comparison) in zip(axes[0], panels.items()):
        plot_tae(comparison, ax=ax, noise_floor=noise_floor)
        ax.set_title(title)
        ax.set_ylabel(ylabel)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
