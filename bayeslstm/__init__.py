"""bayeslstm: online Bayesian training of LSTM regressors across a network of nodes."""

from .errors import BayesLSTMError, GraphError, InputError, ModelError, NumericalError, OptionError
from .comparison import compare_results
from .kernel import Batch, Kernel
from .reporting import prequential_log_score, to_inference_data
from .runner import RunResult, run, run_method
from .statespace import StateSpace, read_model
from .streams import Stream, make_stream, teacher_stream

__version__ = "0.1.0"

__all__ = [
    "Batch", "BayesLSTMError", "GraphError", "InputError", "Kernel", "ModelError", "NumericalError",
    "OptionError", "RunResult", "StateSpace", "Stream", "make_stream", "read_model", "run",
    "run_method", "teacher_stream", "compare_results", "prequential_log_score", "to_inference_data",
]
