"""Reports: runs as ArviZ InferenceData (``inference_data``), comparisons of methods
(``comparison``), figures (``plots``) and report folders (``folder``)."""
