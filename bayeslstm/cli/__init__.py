"""The ``bayeslstm`` command line (:func:`bayeslstm.cli.main.main`): ``run`` one method, ``compare`` several on one stream,
``report`` to redraw the report of an output folder.

``run`` and ``compare`` write the same output folder ``OUT`` (``--out``, default ``runs/latest``):

* ``OUT/summary.json``::

    {"config": {...}, "methods": {"<label>": {"status": "ok", "final_tae": float, "tae": [...],
                                              "seconds": float, "netcdf": "<label>.nc", ...}}}

  a method that failed while running has ``"status": "failed"`` and its ``"error"``;
* ``OUT/<label>.nc``: each method's ArviZ InferenceData (the label made file-safe:
  ``pf@centralized`` -> ``pf_centralized.nc``); the baselines learn no weights, so their
  numbers are in ``summary.json`` only;
* ``OUT/report.md`` and its figures ``OUT/*.png``.

The outputs are written once the runs are over, into a new folder inside ``OUT`` that then
replaces the previous outputs (files of other origins are left alone), so a folder never
mixes two runs; nothing is written when the arguments are refused. ``report DIR`` rebuilds
the report and the figures from ``summary.json`` and the netCDF files.

Exit status: 0 done; 1 a method failed while running (the others' outputs are written);
2 bad arguments or data (nothing written); 130 interrupted (Ctrl-C).
"""
