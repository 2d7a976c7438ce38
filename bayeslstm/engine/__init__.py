"""The engine that runs methods: the one assembly path (``assembly``), the runner
(``runner``), live step-by-step use (``online``), checkpoints (``checkpoint``), the metrics
runs are scored by (``metrics``) and JSON for their records (``encoding``)."""
