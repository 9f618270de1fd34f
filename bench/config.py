"""Benchmark configuration: a suite file (YAML, or JSON without PyYAML) plus command-line
overrides. ``suites/default.yaml`` documents every key."""
import copy
import json
import os
from typing import Any, Dict, List, NamedTuple

from adapters.base import MODES
from bench.dataset import PREPROCESS_VARIANTS

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULT_SUITE = os.path.join(REPO, "bench", "suites", "default.yaml")

DEFAULTS: Dict[str, Any] = {
    "dataset": "datasets/synth-codes",
    "device": None,  # results/<device>/...; None: derived from the machine
    "results": "results",
    "preprocess": "raw",
    "grayscale": True,
    "crop": True,
    "warmup": 30,
    "calibration": 16,  # images an adapter may see before timing (TensorRT shapes, INT8)
    "passes": 1,
    "limit": None,  # first N samples only
    "timeout_s": 3600,  # per cell, load and warm-up included
    "telemetry_interval_s": 0.5,  # background sampling into telemetry.csv; 0: off
    "normalize": {"nfkc": True, "strip_whitespace": True, "casefold": False},
    "engines": {},
}
ENGINE_KEYS = {"modes", "python", "adapter", "options", "timeout_s"}


class ConfigError(Exception):
    """The configuration is wrong; the message names the key."""


class Cell(NamedTuple):
    """One engine x mode cell of the matrix."""

    engine: str
    mode: str
    adapter: str  # "module:Class"
    python: str  # interpreter that runs the worker
    options: Dict[str, Any]
    timeout_s: float

    @property
    def key(self) -> str:
        return "%s/%s" % (self.engine, self.mode)


def read_suite(path: str) -> Dict[str, Any]:
    with open(path, encoding="utf-8") as f:
        text = f.read()
    if path.endswith(".json"):
        return json.loads(text)
    import yaml  # PyYAML: python3-yaml on Ubuntu/JetPack

    return yaml.safe_load(text) or {}


def build(suite: Dict[str, Any], overrides: Dict[str, Any]) -> Dict[str, Any]:
    """Defaults, then the suite, then the non-None overrides; checked."""
    config = copy.deepcopy(DEFAULTS)
    for source in (suite, {k: v for k, v in overrides.items() if v is not None}):
        unknown = set(source) - set(DEFAULTS)
        if unknown:
            raise ConfigError("unknown key(s): %s" % ", ".join(sorted(unknown)))
        config.update(copy.deepcopy(source))
    config["engines"] = {name: dict(spec or {}) for name, spec in (config["engines"] or {}).items()}
    check(config)
    return config


def check(config: Dict[str, Any]) -> None:
    if config["preprocess"] not in PREPROCESS_VARIANTS:
        raise ConfigError("preprocess: %r is not one of %s" % (config["preprocess"], ", ".join(PREPROCESS_VARIANTS)))
    for key in ("warmup", "passes"):
        if not isinstance(config[key], int) or config[key] < (0 if key == "warmup" else 1):
            raise ConfigError("%s: must be an integer >= %d" % (key, 0 if key == "warmup" else 1))
    if not config["engines"]:
        raise ConfigError("engines: no engine configured")
    for engine, spec in config["engines"].items():
        unknown = set(spec) - ENGINE_KEYS
        if unknown:
            raise ConfigError("engines.%s: unknown key(s) %s" % (engine, ", ".join(sorted(unknown))))
        bad = [m for m in spec.get("modes", ["cpu"]) if m not in MODES]
        if bad:
            raise ConfigError("engines.%s.modes: %s not among %s" % (engine, ", ".join(bad), ", ".join(MODES)))


def cells(config: Dict[str, Any], default_python: str) -> List[Cell]:
    """The matrix, in the order of the suite: engines, then their modes."""
    out = []
    for engine, spec in config["engines"].items():
        for mode in spec.get("modes", ["cpu"]):
            out.append(Cell(engine, mode, spec.get("adapter") or "adapters.%s:Adapter" % engine,
                            os.path.expanduser(spec.get("python") or default_python),
                            spec.get("options") or {}, float(spec.get("timeout_s") or config["timeout_s"])))
    return out


def with_interpreters(suite: Dict[str, Any], interpreters: Dict[str, str]) -> Dict[str, Any]:
    """The suite with each named engine run by its own Python (env/jetson, env/server)."""
    out = copy.deepcopy(suite)
    for engine, python in interpreters.items():
        if engine not in (out.get("engines") or {}):
            raise ConfigError("--python %s: no such engine in the suite (%s)" % (engine, ", ".join(out.get("engines") or {})))
        if not os.access(os.path.expanduser(python), os.X_OK):
            raise ConfigError("--python %s: %s is not an executable interpreter" % (engine, python))
        out["engines"][engine] = dict(out["engines"][engine] or {}, python=python)
    build(out, {})
    return out


def select(config: Dict[str, Any], engines: List[str], modes: List[str]) -> None:
    """Keep only the named engines and modes (command-line ``--engines``/``--modes``)."""
    if engines:
        missing = [e for e in engines if e not in config["engines"]]
        if missing:
            raise ConfigError("--engines: %s not in the suite (%s)" % (", ".join(missing), ", ".join(config["engines"])))
        config["engines"] = {e: config["engines"][e] for e in engines}
    if modes:
        for spec in config["engines"].values():
            spec["modes"] = [m for m in spec.get("modes", ["cpu"]) if m in modes]
