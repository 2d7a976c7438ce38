"""bayeslstm: online Bayesian training of LSTM regressors across a network of nodes.

The package has one wing per concept: ``bayeslstm.model`` (declarations and the recurrent
cells), ``bayeslstm.kernels`` (the inference kernels), ``bayeslstm.network`` (graphs, mixing,
the distributed schemes, faults, sharding), ``bayeslstm.data`` (streams, tables, datasets),
``bayeslstm.engine`` (assembly, the runner, live use, checkpoints, metrics) and
``bayeslstm.report`` (InferenceData, comparisons, figures, report folders); the method
registry is ``bayeslstm.methods``. The names below are the ones most users need. They load on
first use, so that the command line answers ``--help`` without starting JAX;
``import bayeslstm as bl; bl.run(...)`` and ``from bayeslstm import run`` work as usual.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from .errors import (
    BayesLSTMError,
    CheckpointError,
    GraphError,
    InputError,
    ModelError,
    NumericalError,
    OptionError,
)
from .version import __version__ as __version__

if TYPE_CHECKING:  # what the names below are, for type checkers and the API reference
    from .data.datasets import DATASETS, dataset_table, load_dataset
    from .data.streams import Stream, make_stream
    from .data.tables import TableStream, original_variance, table_stream, to_original_units
    from .data.teacher import teacher_stream
    from .engine import online
    from .engine.averaging import model_average
    from .engine.online import online_learner
    from .engine.runner import RunResult, run, run_method
    from .kernels.protocol import Batch, Kernel
    from .model.statespace import StateSpace, read_model
    from .report.comparison import compare_log_scores, compare_results
    from .report.inference_data import prequential_log_score, to_inference_data

# exported name -> the module that defines it
_LAZY = {
    **dict.fromkeys(("DATASETS", "dataset_table", "load_dataset"), ".data.datasets"),
    **dict.fromkeys(("Stream", "make_stream"), ".data.streams"),
    **dict.fromkeys(("TableStream", "original_variance", "table_stream", "to_original_units"), ".data.tables"),
    "teacher_stream": ".data.teacher",
    "online_learner": ".engine.online",
    "model_average": ".engine.averaging",
    **dict.fromkeys(("RunResult", "run", "run_method"), ".engine.runner"),
    **dict.fromkeys(("Batch", "Kernel"), ".kernels.protocol"),
    **dict.fromkeys(("StateSpace", "read_model"), ".model.statespace"),
    **dict.fromkeys(("compare_log_scores", "compare_results"), ".report.comparison"),
    **dict.fromkeys(("prequential_log_score", "to_inference_data"), ".report.inference_data"),
}


def __getattr__(name: str) -> Any:
    if name == "online":
        value: Any = importlib.import_module(".engine.online", __name__)
    elif name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name], __name__), name)
    else:
        raise AttributeError(f"module 'bayeslstm' has no attribute {name!r}")
    globals()[name] = value  # loaded once
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))


__all__ = [
    "Batch", "BayesLSTMError", "CheckpointError", "GraphError", "InputError", "Kernel", "ModelError",
    "NumericalError", "OptionError", "RunResult", "StateSpace", "Stream", "make_stream", "read_model", "run",
    "run_method", "teacher_stream", "compare_results", "compare_log_scores", "prequential_log_score", "to_inference_data",
    "TableStream", "table_stream", "to_original_units", "original_variance",
    "DATASETS", "dataset_table", "load_dataset", "online", "online_learner", "model_average",
]
