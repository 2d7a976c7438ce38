"""JSON for what runs record (configurations, summaries, manifests): NumPy scalars become
numbers, arrays lists, and anything else its ``str``."""

from __future__ import annotations

import json
from typing import Any

import numpy as np


def json_default(value: Any) -> Any:
    """``json.dumps(..., default=json_default)`` for NumPy values and other objects."""
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    return str(value)


def to_json(value: Any, **kwargs: Any) -> str:
    """``value`` as JSON text (see :func:`json_default`)."""
    return json.dumps(value, default=json_default, **kwargs)
