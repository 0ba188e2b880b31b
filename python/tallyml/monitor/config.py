"""Configuration of ``tallyml monitor``: a small TOML file (YAML too, when PyYAML is installed).

Example (every section and key is optional except ``monitor.task``)::

    [monitor]
    task = "binary"            # binary | multiclass | multilabel
    num_classes = 3            # multiclass
    num_labels = 4             # multilabel
    threshold = 0.5
    logits = false
    window = 10000
    model = "fraud"
    evaluate_every = 1.0       # seconds between rule evaluations
    max_pending = 100000       # predictions waiting for labels
    estimate = true            # label-free estimates from the scores

    [input]
    path = "predictions/"      # a folder (files appended to and added), one file, or "-" (stdin)
    pattern = "*"              # files of the folder to read (glob)
    format = "auto"            # auto (by extension) | jsonl | csv | parquet
    poll = 0.5                 # seconds between looks at the folder
    id = "id"                  # field names of a record
    score = "score"            # binary: a number; multiclass/multilabel: a list (JSONL) or
                               #   columns score_0, score_1, ... (CSV, Parquet)
    pred = "pred"              # a predicted label, when there are no scores
    label = "label"
    latency = "latency"        # seconds the prediction took (optional)

    [drift]
    reference = "reference_scores.npy"   # .npy, .csv or .parquet of reference scores
    window = 1000
    thresholds = "auto"        # auto | calibrate | {psi = 0.2, ...}

    [checkpoint]
    path = "monitor.ckpt"
    every = 5.0                # seconds

    [export]
    port = 9108                # 0: any free port; -1: no endpoint
    addr = "127.0.0.1"
    rules_file = "alerts.yml"  # write the rules as a Prometheus rule file
    tensorboard = "runs/monitor"

    [[rules]]
    name = "LowF1"
    expr = "f1_window < 0.8"
    for = 60
    severity = "page"

Every key is checked: an unknown section or key, or a value of the wrong type, is a
ValueError naming it (a typo must not silently disable an alert).
"""
from __future__ import annotations

import copy
import os

__all__ = ["DEFAULTS", "load_config", "check_config"]

DEFAULTS = {
    "monitor": {"task": None, "num_classes": None, "num_labels": None, "threshold": 0.5,
                "logits": False, "window": 10_000, "model": "model", "evaluate_every": 1.0,
                "max_pending": 100_000, "estimate": True},
    "input": {"path": "-", "pattern": "*", "format": "auto", "poll": 0.5, "id": "id",
              "score": "score", "pred": "pred", "label": "label", "latency": "latency"},
    "drift": {"reference": None, "window": None, "thresholds": "auto"},
    "checkpoint": {"path": None, "every": 5.0},
    "export": {"port": 9108, "addr": "127.0.0.1", "rules_file": None, "tensorboard": None},
    "rules": [],
}

_TYPES = {
    ("monitor", "task"): (str,), ("monitor", "num_classes"): (int, type(None)),
    ("monitor", "num_labels"): (int, type(None)), ("monitor", "threshold"): (int, float),
    ("monitor", "logits"): (bool,), ("monitor", "window"): (int,), ("monitor", "model"): (str,),
    ("monitor", "evaluate_every"): (int, float), ("monitor", "max_pending"): (int,),
    ("monitor", "estimate"): (bool,),
    ("input", "path"): (str,), ("input", "pattern"): (str,), ("input", "format"): (str,),
    ("input", "poll"): (int, float), ("input", "id"): (str,), ("input", "score"): (str,),
    ("input", "pred"): (str,), ("input", "label"): (str,), ("input", "latency"): (str,),
    ("drift", "reference"): (str, type(None)), ("drift", "window"): (int, type(None)),
    ("drift", "thresholds"): (str, dict),
    ("checkpoint", "path"): (str, type(None)), ("checkpoint", "every"): (int, float),
    ("export", "port"): (int,), ("export", "addr"): (str,),
    ("export", "rules_file"): (str, type(None)), ("export", "tensorboard"): (str, type(None)),
}
FORMATS = ("auto", "jsonl", "csv", "parquet")


def _read(path: str) -> dict:
    ext = os.path.splitext(path)[1].lower()
    try:
        with open(path, "rb") as f:
            raw = f.read()
    except OSError as e:
        raise ValueError(f"config: cannot read {path!r}: {e.strerror or e}") from None
    if ext in (".yaml", ".yml"):
        try:
            import yaml
        except ImportError:
            raise ValueError(f"config: {path!r} is YAML, which needs PyYAML (pip install pyyaml); "
                             "or write it as TOML") from None
        try:
            data = yaml.safe_load(raw.decode("utf-8"))
        except yaml.YAMLError as e:
            raise ValueError(f"config: {path!r} is not valid YAML: {e}") from None
        return {} if data is None else data
    try:
        import tomllib
    except ImportError:  # Python < 3.11
        try:
            import tomli as tomllib
        except ImportError:
            raise ValueError("config: reading TOML needs Python >= 3.11 or the tomli package") from None
    try:
        return tomllib.loads(raw.decode("utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
        raise ValueError(f"config: {path!r} is not valid TOML: {e}") from None


def check_config(data: dict, base_dir: str = ".") -> dict:
    """Merge ``data`` over the defaults and check every key; relative paths are resolved
    against ``base_dir`` (the config file's folder). Returns a new dict."""
    if not isinstance(data, dict):
        raise ValueError(f"config must be a table/mapping; got {type(data).__name__}")
    out = copy.deepcopy(DEFAULTS)
    for section, value in data.items():
        if section not in out:
            raise ValueError(f"config: unknown section [{section}]; known: {sorted(out)}")
        if section == "rules":
            if not isinstance(value, list) or not all(isinstance(r, dict) for r in value):
                raise ValueError("config: rules must be a list of tables ([[rules]] in TOML)")
            out["rules"] = [dict(r) for r in value]
            continue
        if not isinstance(value, dict):
            raise ValueError(f"config: [{section}] must be a table; got {type(value).__name__}")
        for key, v in value.items():
            if key not in out[section]:
                raise ValueError(f"config: unknown key {section}.{key}; known: {sorted(out[section])}")
            types = _TYPES[(section, key)]
            if isinstance(v, bool) and bool not in types:
                raise ValueError(f"config: {section}.{key} must be {_names(types)}; got {v!r}")
            if not isinstance(v, types):
                raise ValueError(f"config: {section}.{key} must be {_names(types)}; got {v!r}")
            out[section][key] = v
    if out["monitor"]["task"] is None:
        raise ValueError('config: monitor.task is required ("binary", "multiclass" or "multilabel")')
    if out["input"]["format"] not in FORMATS:
        raise ValueError(f"config: input.format must be one of {FORMATS}; got {out['input']['format']!r}")
    if out["input"]["poll"] <= 0:
        raise ValueError(f"config: input.poll must be > 0 seconds; got {out['input']['poll']!r}")
    if out["checkpoint"]["every"] < 0:
        raise ValueError(f"config: checkpoint.every must be >= 0 seconds; got {out['checkpoint']['every']!r}")
    if not -1 <= out["export"]["port"] <= 65535:
        raise ValueError(f"config: export.port must be -1 (off) or in [0, 65535]; got {out['export']['port']}")
    for section, key in (("input", "path"), ("drift", "reference"), ("checkpoint", "path"),
                         ("export", "rules_file"), ("export", "tensorboard")):
        p = out[section][key]
        if p is not None and p != "-" and not os.path.isabs(p):
            out[section][key] = os.path.normpath(os.path.join(base_dir, p))
    return out


def _names(types):
    return " or ".join("none" if t is type(None) else t.__name__ for t in types)


def load_config(path) -> dict:
    """Read and check a config file (.toml, or .yaml/.yml with PyYAML)."""
    path = os.fspath(path)
    return check_config(_read(path), os.path.dirname(os.path.abspath(path)))
