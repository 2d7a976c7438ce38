"""Independent references for the tests: an exact Kalman filter and linear-Gaussian data."""

import numpy as np

from bayeslstm.data.streams import make_stream


def linear_gaussian_stream(T, nodes=1, features=2, max_len=5, q=1e-3, r=0.1, prior_scale=1.0, seed=0, replicate=False):
    """Data from the linear-Gaussian random walk; with ``replicate`` every node sees node 0's data."""
    rng = np.random.default_rng(seed)
    k = 1 if replicate else nodes
    lengths = rng.integers(1, max_len + 1, size=(T, k))
    X = rng.normal(size=(T, k, max_len, features))
    X = np.where((np.arange(max_len)[None, None, :] < lengths[..., None])[..., None], X, 0.0)
    theta = rng.normal(0, prior_scale, (k, features))
    d = np.zeros((T, k))
    for t in range(T):
        theta = theta + rng.normal(0, np.sqrt(q), theta.shape)
        xbar = X[t].sum(1) / lengths[t][:, None]
        d[t] = np.sum(theta * xbar, axis=1) + rng.normal(0, np.sqrt(r), k)
    if replicate:
        X, lengths, d = (np.repeat(a, nodes, axis=1) for a in (X, lengths, d))
    return make_stream(X.astype(np.float32), lengths, d.astype(np.float32))


def kalman_filter(stream, node, q, r, prior_scale):
    """Exact filter for theta_t = theta_{t-1} + N(0, qI), d_t = theta_t . xbar_t + N(0, r), in float64."""
    p = stream.features
    m = np.zeros(p)
    P = np.eye(p) * prior_scale**2
    preds, pred_vars, log_evidence, means = [], [], 0.0, []
    for t in range(stream.steps):
        P = P + q * np.eye(p)
        length = stream.lengths[t, node]
        H = stream.X[t, node, :length].astype(np.float64).mean(0)
        f = H @ m
        s = H @ P @ H + r
        d = float(stream.d[t, node])
        preds.append(f)
        pred_vars.append(s)
        log_evidence += -0.5 * (np.log(2 * np.pi * s) + (d - f) ** 2 / s)
        K = P @ H / s
        m = m + K * (d - f)
        P = P - np.outer(K, H @ P)
        means.append(m.copy())
    return dict(prediction=np.array(preds), predictive_var=np.array(pred_vars), log_evidence=log_evidence,
                mean=m, cov=P, means=np.array(means))
