"""JSON for what runs record (bayeslstm.engine.encoding): NumPy scalars become plain numbers,
arrays lists, anything else its str."""

import json
import pathlib

import numpy as np

from bayeslstm.engine.encoding import json_default, to_json


def test_numpy_scalars_become_python_numbers():
    for value, expected in ((np.float32(1.5), 1.5), (np.float64(0.1), 0.1), (np.int64(3), 3), (np.bool_(True), True)):
        out = json_default(value)
        assert out == expected and type(out) is type(expected), (value, out)


def test_arrays_become_lists_and_other_objects_their_str():
    assert json_default(np.arange(3)) == [0, 1, 2]
    assert json_default(np.array([[1.5], [2.0]], np.float32)) == [[1.5], [2.0]]
    assert json_default(pathlib.Path("runs/a")) == "runs/a"


def test_to_json_writes_what_json_reads_back():
    value = {"b": np.float32(0.25), "a": np.arange(2), "where": pathlib.Path("x"), "n": np.int32(7)}
    text = to_json(value, sort_keys=True)
    assert text == '{"a": [0, 1], "b": 0.25, "n": 7, "where": "x"}'
    assert json.loads(text) == {"a": [0, 1], "b": 0.25, "n": 7, "where": "x"}
