"""A plain tanh (Elman) RNN regressor in the same state-space form as the paper's LSTM
(models/lstm.py).

Only the cell differs: bayeslstm.model.rnn lays out its weights (one gate) and runs it over
a sequence.
"""

from bayeslstm.model.cell_regression import Cell, cell_regression
from bayeslstm.model.rnn import rnn_layout, rnn_predict

rnn_regression = cell_regression(Cell("rnn", "plain tanh (Elman) RNN", rnn_layout, rnn_predict))
