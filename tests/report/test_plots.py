"""Figures of a comparison (bayeslstm.report.plots): TAE, ESS, the output weights' posteriors and
the network, drawn from real (tiny) runs."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402

from bayeslstm.report.comparison import compare_results  # noqa: E402
from bayeslstm.report.plots import plot_ess, plot_network, plot_tae, plot_weights  # noqa: E402

az = pytest.importorskip("arviz")


def test_plots_draw(runs, idatas):
    comparison = compare_results(runs)
    ax = plot_tae(comparison, noise_floor=0.01, band=True)
    assert ax.get_yscale() == "log" and len(ax.get_lines()) == len(runs) + 1
    ess = plot_ess(comparison)
    labels = [line.get_label() for line in ess.get_lines()]
    assert [label.split(" ")[0] for label in labels[:3]] == ["pf", "pf@centralized", "dpf"]
    assert labels[3:] == ["resampling threshold of pf, pf@centralized (0.5)"]  # the Markov-chain DPF has none
    assert plot_ess(compare_results({"ekf": runs["ekf"]})) is None
    fig = plot_weights(idatas)
    assert len([a for a in fig.axes if a.get_visible()]) == len(runs)
    net = plot_network(comparison)
    assert len(net.axes) >= len(runs)
    assert plot_weights(idatas, var_name="nope") is None
    plt.close("all")
