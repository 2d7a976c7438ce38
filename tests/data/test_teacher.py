"""The synthetic teacher stream (bayeslstm.data.teacher): random sequences of the asked lengths
labelled by a fixed teacher drawn from the model's prior, plus Gaussian noise. With a
linear-Gaussian teacher the clean labels are written out by hand."""

import numpy as np
import pytest

import bayeslstm as bl
from bayeslstm.errors import InputError
from bayeslstm.models import linear_gaussian

SHAPE = dict(steps=400, nodes=2, features=3, min_len=2, max_len=5)


@pytest.fixture(scope="module")
def clean():
    return bl.teacher_stream(**SHAPE, noise_var=0.0, seed=1, model=linear_gaussian(features=3))


def test_clean_labels_are_the_teacher_on_the_valid_rows(clean):
    """d = theta* . (mean of the valid rows): labels computed on the padding, or with a teacher
    other than the one returned, would fail."""
    stream, theta = clean
    assert stream.X.shape == (400, 2, 5, 3) and theta.shape == (3,)
    assert stream.lengths.min() == 2 and stream.lengths.max() == 5
    valid = np.arange(5)[None, None, :] < stream.lengths[..., None]
    assert not stream.X[~valid].any()  # right padding is zero
    xbar = stream.X.sum(axis=2) / stream.lengths[..., None]
    np.testing.assert_allclose(stream.d, xbar @ theta, rtol=1e-4, atol=1e-5)
    assert stream.observed.all()


def test_noise_has_the_asked_variance_and_the_seed_fixes_everything(clean):
    stream, theta = clean
    noisy, same_theta = bl.teacher_stream(**SHAPE, noise_var=0.25, seed=1, model=linear_gaussian(features=3))
    np.testing.assert_array_equal(noisy.X, stream.X)  # the same inputs and teacher for the same seed
    np.testing.assert_array_equal(same_theta, theta)
    noise = (noisy.d - stream.d).ravel()
    assert abs(noise.mean()) < 0.05 and noise.var() == pytest.approx(0.25, rel=0.1)  # 800 draws: sd of var ~5%
    other, _ = bl.teacher_stream(**SHAPE, noise_var=0.0, seed=2, model=linear_gaussian(features=3))
    assert not np.array_equal(other.X, stream.X)


def test_bad_shapes_are_refused():
    with pytest.raises(InputError, match="min_len <= max_len"):
        bl.teacher_stream(steps=3, min_len=4, max_len=2)
    with pytest.raises(InputError, match="positive"):
        bl.teacher_stream(steps=0)
    with pytest.raises(InputError, match="noise_var"):
        bl.teacher_stream(steps=3, noise_var=-1.0)
