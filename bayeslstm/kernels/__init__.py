"""Inference kernels, ``init``/``step`` pairs over NamedTuple states (``protocol``): the
particle filter and its resampling, the extended Kalman filter, online gradient methods and
the trivial baselines."""
