"""Data: streams of variable-length sequences and labels (``streams``), the synthetic teacher
stream (``teacher``), tables cut into streams (``tables``) and the built-in datasets
(``datasets``)."""
