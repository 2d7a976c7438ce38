"""Model declarations: the NumPyro state-space form and how it is read (``statespace``),
names of built-in and user models (``declarations``, ``builtin``), the recurrent cells
(``lstm``, ``gru``, ``rnn`` over ``recurrence``), flat/named weights (``layout``), the
random-walk noise (``noise``) and the static form NUTS samples (``nuts``)."""
