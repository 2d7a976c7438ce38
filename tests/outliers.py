"""The outlier problem the robust-update tests share (tests/kernels/): a 400-step teacher
stream with 5% of its labels moved 20 label standard deviations, and the clean late labels
the methods are scored on."""

import numpy as np

import bayeslstm as bl


def outlier_stream():
    """(clean stream, the labels with outliers, the late clean steps to score)."""
    stream, _ = bl.teacher_stream(steps=400, nodes=1, features=2, min_len=2, max_len=4, seed=3, noise_var=0.01)
    rng = np.random.default_rng(0)
    bad = rng.random(stream.steps) < 0.05
    d = stream.d.copy()
    d[bad, 0] += 20 * stream.d[:, 0].std() * rng.choice([-1, 1], size=bad.sum())
    late = (np.arange(stream.steps) >= stream.steps // 2) & ~bad
    return stream, d, late
