"""Figures of a comparison (bayeslstm.report.plots): TAE, ESS, the output weights' posteriors and
the network, drawn from real (tiny) runs."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from bayeslstm.report.comparison import compare_results  # noqa: E402
from bayeslstm.report.plots import hdi, plot_ess, plot_network, plot_tae, plot_weights  # noqa: E402

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


def test_weights_figure_draws_each_nodes_hdi(idatas):
    """The forest plot's thin lines are ArviZ's HDI of each node's draws of every entry, its
    circles their medians; a legend names the nodes' colours."""
    rng = np.random.default_rng(0)
    draws = rng.standard_t(3, size=(5, 301))
    lower, upper = hdi(draws, 0.94)
    assert np.allclose(np.stack([lower, upper], -1), az.hdi(draws.T[None], hdi_prob=0.94))  # (chain=1, draw, 5)
    x = np.sort(draws, -1)  # the narrowest window of 94% of the sorted draws, by hand
    k = int(np.floor(0.94 * 301))
    start = np.argmin(x[:, k:] - x[:, :301 - k], -1)
    assert np.allclose(lower, x[np.arange(5), start]) and np.allclose(upper, x[np.arange(5), start + k])
    fig = plot_weights({"ekf": idatas["ekf"]}, detached=True)
    ax = fig.axes[0]
    site = idatas["ekf"].posterior["w_out"]  # (chain, draw, entry)
    thin = ax.collections[0].get_segments()  # chain-major: every entry of node 0, then of node 1...
    values = site.values.transpose(0, 2, 1).reshape(-1, site.sizes["draw"])
    assert np.allclose([[s[0, 0], s[1, 0]] for s in thin], np.stack(hdi(values, 0.94), -1))
    assert np.allclose(ax.collections[2].get_offsets()[:, 0], np.median(values, -1))
    assert [t.get_text() for t in ax.get_yticklabels()] == [f"w_out[{k}]" for k in range(site.shape[-1])]
    assert [t.get_text() for t in fig.legends[0].get_texts()] == [f"node {k}" for k in range(site.sizes["chain"])]


def test_weights_figure_draws_a_point_estimate_as_its_value(runs):
    """A gradient method's weights (its point_estimate group) are one circle per node at the
    value, with no interval, beside the posteriors of the other methods."""
    from bayeslstm.kernels.gradient import GradientState
    from bayeslstm.kernels.gradient import posterior as gradient_posterior
    from bayeslstm.report.inference_data import to_inference_data

    theta = np.random.default_rng(1).normal(size=(3, runs["pf"].layout.size)).astype(np.float32)
    point = to_inference_data(runs["pf"]._replace(final_state=GradientState(theta, None), posterior=gradient_posterior))
    fig = plot_weights({"sgd": point}, detached=True)
    ax = fig.axes[0]
    expected = theta[:, -2:].reshape(-1)  # node-major: both entries of node 0, then node 1...
    assert np.allclose(ax.collections[2].get_offsets()[:, 0], expected)
    assert np.allclose([s[0, 0] - s[1, 0] for s in ax.collections[0].get_segments()], 0.0)  # no interval
    assert "point estimate" in ax.get_title()
