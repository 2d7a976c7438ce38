"""The fast netCDF writer (bayeslstm.report.netcdf) gives the file ArviZ's ``to_netcdf`` gives:
the same HDF5 objects in the same order, with the same dtypes, shapes, chunks, filters, fill
values and attributes (dimension scales and netCDF-4 ids included), and the same data read back."""

import h5py
import numpy as np
import pytest
import xarray as xr

from bayeslstm.report.inference_data import to_inference_data
from bayeslstm.report.netcdf import write_netcdf

az = pytest.importorskip("arviz")

VOLATILE = {"created_at", "_NCProperties"}  # a time stamp, and the name of the library that wrote the file


def _value(f: h5py.File, value):
    """An attribute as comparable data: references as the paths they point to, arrays with
    their dtype (the repr of their values, so that NaN equals NaN)."""
    if isinstance(value, h5py.Reference):
        return f[value].name
    if isinstance(value, np.ndarray) and value.dtype.names:  # REFERENCE_LIST: (dataset, axis) pairs, any order
        return sorted((f[ref].name, int(axis)) for ref, axis in value.tolist())
    if isinstance(value, np.ndarray) and value.dtype == object:
        return [_value(f, v) for v in value.flat]
    if isinstance(value, np.ndarray):
        return (str(value.dtype), value.shape, repr(value.tolist()))
    return (type(value).__name__, repr(value))


def _layout(path) -> list:
    """Every object of an HDF5 file in creation order, with what a reader sees of it."""
    rows = []
    with h5py.File(path, "r") as f:
        def walk(group):
            rows.append((group.name, "group", {k: _value(f, group.attrs[k]) for k in group.attrs if k not in VOLATILE}))
            for name in group:  # creation order: the file tracks it
                obj = group[name]
                if isinstance(obj, h5py.Group):
                    walk(obj)
                    continue
                rows.append((obj.name, str(obj.dtype), obj.shape, obj.chunks, obj.compression, obj.compression_opts,
                             obj.shuffle, repr(obj.fillvalue), {k: _value(f, obj.attrs[k]) for k in obj.attrs}))
        walk(f)
        for name in ["/", *f]:  # netCDF-C wants creation order tracked (and indexed) in every group
            assert h5py.h5g.open(f.id, name.encode()).get_create_plist().get_link_creation_order() == 3
    return rows


def _same_file(idata, tmp_path, compress: bool) -> None:
    theirs, ours = tmp_path / "arviz.nc", tmp_path / "ours.nc"
    idata.to_netcdf(str(theirs), compress=compress)
    write_netcdf(idata, ours, compress=compress)
    assert _layout(ours) == _layout(theirs)
    back = az.from_netcdf(str(ours))
    assert back.groups() == idata.groups() and back.attrs == idata.attrs
    for group in idata.groups():
        xr.testing.assert_identical(getattr(back, group), getattr(idata, group))


def test_same_file_as_arviz(idatas, annotated_run, tmp_path):
    """Particles (with their sample stats), a Gaussian (with its covariance over two parameter
    axes) and a model with named and unnamed dimensions, uncompressed as the outputs are; a
    centralized run compressed as ArviZ does by default."""
    runs = {"pf": idatas["pf"], "ekf": idatas["ekf"],
            "annotated": to_inference_data(annotated_run, num_draws=8, predictive_draws=4)}
    for label, idata in runs.items():
        folder = tmp_path / label.replace("@", "_")
        folder.mkdir()
        _same_file(idata, folder, compress=False)
    (tmp_path / "compressed").mkdir()
    _same_file(idatas["pf@centralized"], tmp_path / "compressed", compress=True)


def test_what_it_does_not_cover_goes_through_arviz(idatas, tmp_path):
    """A dimension without coordinates and a variable with an encoding of its own: ArviZ writes
    the file."""
    idata = idatas["ekf"].copy()
    idata.diagnostics = idata.diagnostics.drop_vars("node")
    idata.posterior["w_out"].encoding = {"dtype": "float64"}
    write_netcdf(idata, tmp_path / "ours.nc")
    idata.to_netcdf(str(tmp_path / "arviz.nc"), compress=False)
    assert _layout(tmp_path / "ours.nc") == _layout(tmp_path / "arviz.nc")
    back = az.from_netcdf(str(tmp_path / "ours.nc"))
    assert back.posterior["w_out"].dtype == np.float64 and "node" not in back.diagnostics.coords
