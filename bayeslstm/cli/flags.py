"""The command line's flags as the library's parameter names, both ways: messages from the
library name the flags, and ``--model-arg KEY=VALUE`` pairs become a model factory's options."""

from __future__ import annotations

import inspect
import re
from collections.abc import Sequence
from typing import Any

from ..errors import ModelError, OptionError
from ..methods import OPTIONS

# flags that set a parameter of the same meaning in the library (the methods' options come from the registry)
RUN_FLAGS = {
    "link_failure": "--link-failure", "node_dropout": "--node-dropout", "partition": "--partition",
    "mesh": "--devices", "exchange": "--exchange", "num_draws": "--draws", "predictive_draws": "--predictive-draws",
    "checkpoint_every": "--checkpoint-every", "max_steps": "--max-steps", "noise_var": "--noise-var",
    "teacher_scale": "--teacher-scale", "min_len": "--min-len", "max_len": "--max-len", "record": "--record",
    "steps": "--steps", "nodes": "--nodes", "features": "--features", "horizon": "--horizon", "window": "--window",
    "nan": "--nan", "assign": "--assign", "target": "--target", "group": "--group", "order": "--order",
    "fusion": "--fusion", "rule": "--rule", "graph": "--graph", "seed": "--seed", "unit": "--unit",
    "model_options": "--model-arg",
}


def parameter_flags() -> dict[str, str]:
    """The library's parameter names -> the flags that set them (methods' options included)."""
    return {**{o.name: o.flag for o in OPTIONS.values() if o.flag}, **RUN_FLAGS}


def flag_names(message: str) -> str:
    """A library message with its parameter names as the command line's flags:
    ``num_particles`` -> ``--particles``, ``nan='drop'`` -> ``--nan drop``."""
    flags = parameter_flags()
    names = "|".join(sorted(map(re.escape, flags), key=len, reverse=True))
    message = re.sub(r"(?<![\w-])[a-z_]+=(?:'[^']*'|[^\s(]+) \((--[^)]*)\)", r"\1", message)  # x=1 (--x 1): the flag
    message = re.sub(rf"(?<![\w-])({names})=(?:'([^']*)'|\"([^\"]*)\"|([^\s,;)\]]+))",
                     lambda m: f"{flags[m[1]]} {next(g for g in m.groups()[1:] if g is not None)}", message)
    message = re.sub(rf"(?:^|(?<=: )|(?<=; ))({names})(?= must\b)", lambda m: flags[m[1]], message)
    underscored = "|".join(sorted((re.escape(k) for k in flags if "_" in k), key=len, reverse=True))
    message = re.sub(rf"(?<![\w.-])({underscored})(?![\w-])", lambda m: flags[m[1]], message)
    message = re.sub(r"'(--[\w-]+)'", r"\1", message)
    return re.sub(r"\[((?:--[\w-]+(?:, )?)+)\]", r"\1", message)


def option_flags(options: Sequence[str]) -> str:
    """Method option names as their flags (options without a flag are left out)."""
    return ", ".join(OPTIONS[o].flag for o in options if o in OPTIONS and OPTIONS[o].flag) or "none of the method flags"


def _parse_value(text: str) -> Any:
    for cast in (int, float):
        try:
            return cast(text)
        except ValueError:
            pass
    return {"true": True, "false": False}.get(text.lower(), text)


TYPE_NAMES = {int: "an integer", float: "a number", bool: "true or false", str: "a string"}


def _expected_type(parameter: inspect.Parameter) -> type | None:
    """int, float, bool or str from a factory parameter's annotation (or its default), else None."""
    note = parameter.annotation
    if isinstance(note, str):
        kinds = [part.strip() for part in note.split("|") if part.strip() != "None"]
        note = {"int": int, "float": float, "bool": bool, "str": str}.get(kinds[0]) if len(kinds) == 1 else None
    if note in TYPE_NAMES:
        return note
    default = parameter.default
    return type(default) if type(default) in TYPE_NAMES else None


def _typed(key: str, text: str, parameter: inspect.Parameter, name: str) -> Any:
    """One ``--model-arg`` value read as the factory parameter's type."""
    value, kind = _parse_value(text), _expected_type(parameter)
    if kind is str:
        return text
    wrong = (kind is bool and not isinstance(value, bool)
             or kind is int and (isinstance(value, bool) or not isinstance(value, int))
             or kind is float and (isinstance(value, bool) or not isinstance(value, (int, float))))
    if wrong:
        assert kind is not None  # wrong is only ever true for int, float or bool
        raise OptionError(f"--model-arg {key}={text}: {key} of the model {name} is {TYPE_NAMES[kind]} "
                          f"(default {parameter.default!r}); got {text!r}")
    return float(value) if kind is float else value


def model_args(pairs: Sequence[str], model: str | None) -> dict[str, Any]:
    """``--model-arg KEY=VALUE`` pairs as the model factory's options, each checked against the
    factory's parameters (name and type) so that a mistake names the flag and the option."""
    raw: dict[str, str] = {}
    for pair in pairs:
        if "=" not in pair:
            raise OptionError(f"--model-arg expects key=value; got {pair!r}")
        key, value = pair.split("=", 1)
        raw[key.strip()] = value.strip()
    if not raw:
        return {}
    from ..model.builtin import BUILTIN
    from ..model.declarations import load_declaration
    from ..model.regression import check_model_options
    from ..model.statespace import is_declaration

    factory = load_declaration("lstm" if model is None else model)
    name = model or "lstm"
    if is_declaration(factory):
        raise OptionError(f"--model-arg {', '.join(raw)}: the model {name} is a declaration, not a factory, "
                          "so it takes no options")
    parameters = {k: p for k, p in inspect.signature(factory).parameters.items()
                  if p.default is not inspect.Parameter.empty and k != "features"}
    out: dict[str, Any] = {}
    for key, text in raw.items():
        if key not in parameters:
            raise OptionError(f"--model-arg {key}={text}: the model {name} has no option {key!r}; it takes "
                              f"{', '.join(sorted(parameters)) or 'none'}")
        out[key] = _typed(key, text, parameters[key], name)
    if factory in BUILTIN.values():
        try:
            check_model_options(out)
        except ModelError as exc:
            raise ModelError(f"--model-arg {', '.join(f'{k}={raw[k]}' for k in out)}: {exc}") from None
    return out
