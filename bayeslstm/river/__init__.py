"""bayeslstm for river users: :class:`~bayeslstm.river.regressor.Regressor`, a
``river.base.Regressor`` over any single-node method, and
:func:`~bayeslstm.river.streams.network_stream`, river streams turned into one stream for the
distributed methods.

Needs the optional extra: ``pip install "bayeslstm[river]"``.
"""
