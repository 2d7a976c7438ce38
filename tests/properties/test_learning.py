"""On teacher data the filters (particle, extended, ensemble and Gaussian-sum) and Adam learn the
teacher down to the noise floor r, and the filters get there in fewer steps than SGD (fixed
seeds; the paper's synthetic claim)."""

import numpy as np

import bayeslstm as bl
from bayeslstm.models import lstm_regression

R = 0.01
T = 1500


def steps_to_reach(sq_err, threshold, window=100):
    """First step at which the trailing ``window``-step mean squared error is below ``threshold``."""
    avg = np.convolve(sq_err, np.ones(window) / window, mode="valid")
    hit = np.nonzero(avg < threshold)[0]
    return int(hit[0] + window) if hit.size else len(sq_err) + 1


def test_filters_reach_noise_floor_faster_than_sgd():
    teacher = lstm_regression(features=2, hidden=2, prior_scale=2.0)
    stream, _ = bl.teacher_stream(steps=T, features=2, min_len=2, max_len=8, noise_var=R, seed=0, model=teacher)
    assert stream.d.var() > 8 * R  # the labels carry real signal beyond the noise
    student = dict(hidden=2, q=1e-4, prior_scale=1.0)
    runs = {
        "pf": dict(num_particles=1000),
        "ekf": {},
        "enkf": dict(num_members=64),
        "gspf": {},
        "adam": dict(learning_rate=0.02),
        "sgd": {},
    }
    tail, reach = {}, {}
    for method, options in runs.items():
        res = bl.run(stream, method, model_options=student, seed=0, **options)
        err = (res.predictions[:, 0] - res.labels[:, 0]) ** 2
        tail[method] = err[-T // 5 :].mean()
        reach[method] = steps_to_reach(err, 1.5 * R)
    for method in ("pf", "ekf", "enkf", "gspf", "adam"):
        assert tail[method] < 1.5 * R, (method, tail)
    for method in ("pf", "ekf", "enkf", "gspf"):
        assert reach[method] < reach["sgd"], reach
