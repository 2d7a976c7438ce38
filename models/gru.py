"""A GRU regressor in the same state-space form as the paper's LSTM (models/lstm.py).

Only the cell differs: bayeslstm.model.gru lays out its weights (update, reset and candidate
gates) and runs it over a sequence.
"""

from bayeslstm.model.cell_regression import Cell, cell_regression
from bayeslstm.model.gru import gru_layout, gru_predict

gru_regression = cell_regression(Cell("gru", "GRU", gru_layout, gru_predict))
