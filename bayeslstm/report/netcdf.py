"""Writing an ``InferenceData`` to netCDF quickly: the file ArviZ's ``idata.to_netcdf(path)``
writes, in a tenth to a twentieth of the time.

ArviZ writes each group through xarray and h5netcdf, whose bookkeeping costs about 5 ms per
variable (an InferenceData of a run has 40 to 50 of them, coordinates included): 0.3 s a file.
:func:`write_netcdf` encodes every group as xarray does for netCDF (``xarray.conventions``: NaN
fill values of floats, booleans as int8 with ``dtype: bool``) and writes it with h5py directly,
in the netCDF-4 layout h5netcdf gives it: the same datasets in the same order, dtypes,
compression (when asked), chunks, fill values, dimension scales (``CLASS``, ``NAME``,
``DIMENSION_LIST``, ``REFERENCE_LIST``), netCDF-4 dimension ids (``_Netcdf4Dimid``,
``_Netcdf4Coordinates``) and attributes, with creation order tracked as the netCDF-C library
wants it. ``tests/report/test_netcdf.py`` checks that both writers give the same HDF5 objects
and attributes and that ``az.from_netcdf`` reads the same data back.

What it does not cover -- a dimension without a coordinate variable, a variable that carries an
encoding of its own (one read from a file), a dtype other than numbers, booleans and strings,
an attribute other than a string or a number -- goes through ArviZ's ``to_netcdf``, as before.
"""

from __future__ import annotations

import numbers
import os
from collections.abc import Mapping
from typing import Any

import numpy as np

_FAST_KINDS = frozenset("biuf")  # numbers and booleans; strings are handled apart


class _Unsupported(Exception):
    """Something the fast writer leaves to ArviZ."""


def write_netcdf(idata, path, compress: bool = False) -> None:
    """Write ``idata`` (an ``az.InferenceData``) to ``path`` as ``idata.to_netcdf(path,
    compress=compress)`` would (h5netcdf's netCDF-4 file), through h5py directly; what this writer
    does not cover goes through ArviZ (see the module docstring).

    ``compress``: gzip the numeric variables, as ArviZ does by default. Off by default: a run's
    draws are noise to gzip, which saves about a tenth of the size and triples the writing time."""
    try:
        groups = {name: _encoded(getattr(idata, name), compress) for name in idata.groups()}
        root = _attributes(idata.attrs)
    except _Unsupported:
        idata.to_netcdf(str(path), compress=compress)
        return
    _write(path, root, groups)


def _attributes(attrs: Mapping[str, Any]) -> dict[str, Any]:
    """Attributes as h5netcdf stores them: a string as it is, a number as a one-element array."""
    out: dict[str, Any] = {}
    for key, value in attrs.items():
        if not isinstance(key, str) or key.startswith("_") or key in ("CLASS", "NAME", "DIMENSION_LIST", "REFERENCE_LIST"):
            raise _Unsupported(key)
        if isinstance(value, str):
            out[key] = value
        elif isinstance(value, (numbers.Integral, numbers.Real)) and not isinstance(value, (bool, np.bool_)):
            out[key] = np.atleast_1d(np.asarray(value))
        else:
            raise _Unsupported(key)
    return out


def _encoded(dataset, compress: bool) -> tuple[dict[str, Any], dict[str, Any]]:
    """A group's variables encoded as xarray encodes them for netCDF, ``{name: (dims, values,
    attrs, fill value, compressed)}``, and its attributes."""
    from xarray import conventions

    for name, variable in dataset.variables.items():
        if variable.encoding or not isinstance(name, str) or "/" in name:
            raise _Unsupported(name)
    for dim in dataset.dims:
        if not isinstance(dim, str) or dim not in dataset.variables or dataset.variables[dim].dims != (dim,):
            raise _Unsupported(dim)  # a dimension without a coordinate variable
    variables, attrs = conventions.encode_dataset_coordinates(dataset)
    compressed = {name for name, v in variables.items() if compress and v.dtype.kind in _FAST_KINDS}  # ArviZ's zlib
    variables, attrs = conventions.cf_encoder(variables, attrs)
    encoded = {}
    for name, variable in variables.items():
        values = np.asarray(variable.values)
        if values.dtype.kind in "UO":
            if not all(isinstance(v, str) for v in values.flat):
                raise _Unsupported(name)
            values = values.astype(object)
        elif values.dtype.kind not in _FAST_KINDS or values.dtype.kind == "b":
            raise _Unsupported(name)
        var_attrs = dict(variable.attrs)
        fill = var_attrs.pop("_FillValue", None)
        encoded[name] = (variable.dims, values, _attributes(var_attrs), fill, name in compressed and values.ndim > 0)
    return encoded, _attributes(attrs)


def _nc_properties() -> np.ndarray:
    import h5py

    from ..version import __version__

    text = f"version=2,bayeslstm={__version__},hdf5={h5py.version.hdf5_version},h5py={h5py.__version__}"
    return np.array(text, dtype=h5py.string_dtype(encoding="ascii", length=len(text)))


def _write(path, root: Mapping[str, Any], groups: Mapping[str, tuple[dict, dict]]) -> None:
    """The file: the root's attributes, then every group as h5netcdf lays it out; the netCDF-4
    dimension ids count the dimensions across the file in the order they first appear."""
    import h5py

    first_id = 0
    with h5py.File(os.fspath(path), "w", track_order=True) as f:
        for key, value in root.items():
            f.attrs[key] = value
        for name, (variables, attrs) in groups.items():
            group = f.create_group(name, track_order=True)
            for key, value in attrs.items():
                group.attrs[key] = value
            first_id = _write_group(group, variables, first_id)
        f.attrs["_NCProperties"] = _nc_properties()


def _write_group(group, variables: Mapping[str, tuple], first_id: int) -> int:
    """A group's variables in their order, each dimension's coordinate variable made its
    dimension scale and attached to the variables over it; returns the next dimension id."""
    import h5py

    ids: dict[str, int] = {}
    for dims, *_ in variables.values():
        for dim in dims:
            if dim not in ids:
                ids[dim], first_id = first_id, first_id + 1
    datasets = {}
    for name, (_, values, _, fill, compressed) in variables.items():
        dtype = h5py.string_dtype() if values.dtype == object else values.dtype
        datasets[name] = group.create_dataset(name, data=values, dtype=dtype, fillvalue=fill, track_order=True,
                                              **({"compression": "gzip"} if compressed else {}))
    for name, (dims, *_) in variables.items():
        if dims == (name,):  # a coordinate variable: its dimension's scale
            datasets[name].attrs["_Netcdf4Dimid"] = np.array(ids[name], dtype=np.int32)
            datasets[name].make_scale(name)
    for name, (dims, values, attrs, fill, _) in variables.items():
        dataset = datasets[name]
        if dims != (name,):
            for axis, dim in enumerate(dims):
                dataset.dims[axis].attach_scale(datasets[dim])
        if dims:
            dataset.attrs["_Netcdf4Coordinates"] = np.array([ids[d] for d in dims], dtype=np.int32)
            if dims != (name,):
                dataset.attrs["_Netcdf4Dimid"] = np.array(ids[dims[0]], dtype=np.int32)
        if fill is not None:
            dataset.attrs["_FillValue"] = np.array([fill], dtype=values.dtype)
        for key, value in attrs.items():
            dataset.attrs[key] = value
    return first_id
