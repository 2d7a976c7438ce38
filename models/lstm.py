"""The paper's model: LSTM regressor whose weights follow a Gaussian random walk.

    theta_0 ~ N(0, s0^2 I)
    theta_t = theta_{t-1} + e_t,        e_t ~ N(0, q I)
    d_t     = f(X_t; theta_t) [+ the naive forecast] + v_t,  v_t ~ N(0, r)   (r learnt with learn_r)

The declaration itself is written out in bayeslstm.model.regression (it is the same for every
recurrent cell); models/named_sites.py shows a declaration written by hand. For another cell,
give cell_regression its own layout and predict functions.
"""

from bayeslstm.model.cell_regression import Cell, cell_regression
from bayeslstm.model.lstm import lstm_layout, lstm_predict

lstm_regression = cell_regression(Cell("lstm", "LSTM", lstm_layout, lstm_predict))
