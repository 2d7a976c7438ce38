"""Reports: runs as ArviZ InferenceData (``inference_data`` builds it from ``draws`` and
``names``; ``reading`` reads it back), one record per run (``summary``), comparisons of
methods (``comparison``), figures (``plots``) and report folders (``folder``)."""
