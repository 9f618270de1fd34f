"""Benchmark configuration: a suite file (YAML, or JSON without PyYAML) plus command-line
overrides. ``suites/default.yaml`` documents every key."""
import copy
import json
import os
import re
from typing import Any, Dict, List, NamedTuple, Optional

from adapters.base import MODES
from bench import scenarios
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
    "grammar": "auto",  # code grammar for the constrained reading: auto (grammar.txt beside the manifest), none, a path
    "threads": None,  # CPU threads of every cell: an integer, "cores" (this machine's), None (each engine's default)
    "engines": {},
}
ENGINE_KEYS = {"modes", "python", "adapter", "options", "timeout_s", "threads", "scenario", "batch", "streams",
               "rate_fps"}


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
    scenario: Dict[str, Any]  # bench/scenarios.py's Scenario as a mapping
    threads: Optional[int]  # None: the engine's default

    @property
    def key(self) -> str:
        return "%s/%s" % (self.engine, self.mode)


def _threads(key: str, value: Any) -> Optional[int]:
    """A ``threads`` setting as a count: "cores" is this machine's; None stays None."""
    if value is None:
        return None
    if value == "cores":
        return os.cpu_count() or 1
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigError("%s: an integer >= 1, \"cores\" (this machine's) or null (each engine's default), "
                          "got %r" % (key, value))
    return value


def read_suite(path: str) -> Dict[str, Any]:
    """A suite file's settings; a file that does not parse, or holds no mapping, is a
    ConfigError naming it."""
    try:
        with open(path, encoding="utf-8-sig") as f:
            text = f.read()
    except UnicodeDecodeError as exc:
        raise ConfigError("%s: not UTF-8 text (%s)" % (path, exc))
    except OSError as exc:
        raise ConfigError("%s: cannot read the suite (%s)" % (path, exc.strerror or exc))
    if path.endswith(".json"):
        try:
            suite = json.loads(text, object_pairs_hook=lambda pairs: _unique_keys(pairs, path))
        except ValueError as exc:
            raise ConfigError("%s: not valid JSON (%s)" % (path, exc))
    else:
        import yaml  # PyYAML: python3-yaml on Ubuntu/JetPack

        try:
            suite = yaml.load(text, Loader=_UniqueKeyLoader) or {}
        except yaml.YAMLError as exc:
            raise ConfigError("%s: not valid YAML (%s)" % (path, " ".join(str(exc).split())))
    if not isinstance(suite, dict):
        raise ConfigError("%s: a suite is a mapping of settings (dataset:, engines:, ...), not a %s"
                          % (path, type(suite).__name__))
    return suite


def _unique_keys(pairs, where: str):
    """A JSON object's or YAML mapping's pairs as a dict; a key written twice is refused
    (a parser keeps the last one silently)."""
    seen: Dict[str, Any] = {}
    for key, value in pairs:
        if key in seen:
            raise ConfigError("%s: key %r is written twice in one mapping; which one counts?" % (where, key))
        seen[key] = value
    return seen


try:
    import yaml

    class _UniqueKeyLoader(yaml.SafeLoader):
        """PyYAML's safe loader, refusing a key written twice in one mapping."""

    def _mapping(loader, node, deep=False):
        loader.flatten_mapping(node)
        pairs = [(loader.construct_object(k, deep=deep), loader.construct_object(v, deep=deep)) for k, v in node.value]
        return _unique_keys(pairs, "line %d" % (node.start_mark.line + 1))

    _UniqueKeyLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _mapping)
except ImportError:  # a device without PyYAML reads JSON suites
    pass


ENGINE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.+-]*$")


def build(suite: Dict[str, Any], overrides: Dict[str, Any]) -> Dict[str, Any]:
    """Defaults, then the suite, then the non-None overrides; checked."""
    config = copy.deepcopy(DEFAULTS)
    for source in (suite, {k: v for k, v in overrides.items() if v is not None}):
        unknown = set(source) - set(DEFAULTS)
        if unknown:
            raise ConfigError("unknown key(s): %s" % ", ".join(sorted(unknown)))
        config.update(copy.deepcopy(source))
    engines = config["engines"] or {}
    if not isinstance(engines, dict):
        raise ConfigError("engines: a mapping of engine names to their settings (easyocr: {modes: [cpu]}), not a "
                          "%s" % type(engines).__name__)
    for name, spec in engines.items():
        if spec is not None and not isinstance(spec, dict):
            raise ConfigError("engines.%s: a mapping of its settings (modes:, options:, ...), got %r" % (name, spec))
    config["engines"] = {str(name): dict(spec or {}) for name, spec in engines.items()}
    check(config)
    return config


def _integer(key: str, value: Any, least: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < least:
        raise ConfigError("%s: must be an integer >= %d, got %r" % (key, least, value))


def _number(key: str, value: Any, positive: bool) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value != value or \
            value in (float("inf"), float("-inf")) or (value <= 0 if positive else value < 0):
        raise ConfigError("%s: must be a finite number %s 0, got %r" % (key, ">" if positive else ">=", value))


def _text(key: str, value: Any) -> None:
    if not isinstance(value, str) or not value.strip():
        raise ConfigError("%s: must be a non-empty string, got %r" % (key, value))


def check(config: Dict[str, Any]) -> None:
    """Every setting's type and range; the message names the key and what it allows."""
    if config["preprocess"] not in PREPROCESS_VARIANTS:
        raise ConfigError("preprocess: %r is not one of %s" % (config["preprocess"], ", ".join(PREPROCESS_VARIANTS)))
    _integer("warmup", config["warmup"], 0)
    _integer("passes", config["passes"], 1)
    _integer("calibration", config["calibration"], 0)
    if config["limit"] is not None:
        _integer("limit", config["limit"], 1)
    _number("timeout_s", config["timeout_s"], positive=True)
    _number("telemetry_interval_s", config["telemetry_interval_s"], positive=False)
    _text("dataset", config["dataset"])
    if config["grammar"] is not None:
        _text("grammar", config["grammar"])
    _text("results", config["results"])
    if config["device"] is not None:
        _text("device", config["device"])
        if os.sep in config["device"] or config["device"] in (".", ".."):
            raise ConfigError("device: %r names a folder under results/, so it cannot hold %r" % (config["device"], os.sep))
    for key in ("grayscale", "crop"):
        if not isinstance(config[key], bool):
            raise ConfigError("%s: must be true or false, got %r" % (key, config[key]))
    normalize = config["normalize"]
    if not isinstance(normalize, dict) or set(normalize) - set(DEFAULTS["normalize"]) or \
            not all(isinstance(v, bool) for v in normalize.values()):
        raise ConfigError("normalize: a mapping of %s to true or false, got %r"
                          % (", ".join(DEFAULTS["normalize"]), normalize))
    _threads("threads", config["threads"])
    if not config["engines"]:
        raise ConfigError("engines: no engine configured")
    for engine, spec in config["engines"].items():
        if not ENGINE_NAME.match(engine):
            raise ConfigError("engines: %r cannot name an engine: its name names files under the run folder, so it "
                              "is letters, digits and . _ + - only, not starting with . or -" % engine)
        unknown = set(spec) - ENGINE_KEYS
        if unknown:
            raise ConfigError("engines.%s: unknown key(s) %s (allowed: %s)"
                              % (engine, ", ".join(sorted(unknown)), ", ".join(sorted(ENGINE_KEYS))))
        modes = spec.get("modes", ["cpu"])
        if not isinstance(modes, list) or not modes:
            raise ConfigError("engines.%s.modes: a non-empty list of modes among %s, got %r"
                              % (engine, ", ".join(MODES), modes))
        bad = [str(m) for m in modes if m not in MODES]
        if bad:
            raise ConfigError("engines.%s.modes: %s not among %s" % (engine, ", ".join(bad), ", ".join(MODES)))
        twice = sorted(set(m for m in modes if modes.count(m) > 1))
        if twice:
            raise ConfigError("engines.%s.modes: %s named more than once" % (engine, ", ".join(twice)))
        if not isinstance(spec.get("options") or {}, dict):
            raise ConfigError("engines.%s.options: a mapping of the adapter's options, got %r" % (engine, spec["options"]))
        for key in ("python", "adapter"):
            if spec.get(key) is not None:
                _text("engines.%s.%s" % (engine, key), spec[key])
        if spec.get("timeout_s") is not None:
            _number("engines.%s.timeout_s" % engine, spec["timeout_s"], positive=True)
        _threads("engines.%s.threads" % engine, spec.get("threads"))
        try:
            scenarios.parse(spec, "engines." + engine)
        except ValueError as exc:
            raise ConfigError(str(exc))


def cells(config: Dict[str, Any], default_python: str) -> List[Cell]:
    """The matrix, in the order of the suite: engines, then their modes."""
    out = []
    for engine, spec in config["engines"].items():
        scenario = scenarios.parse(spec, "engines." + engine)._asdict()
        threads = _threads("threads", spec["threads"] if "threads" in spec else config["threads"])
        for mode in spec.get("modes", ["cpu"]):
            out.append(Cell(engine, mode, spec.get("adapter") or "adapters.%s:Adapter" % engine,
                            os.path.expanduser(spec.get("python") or default_python),
                            spec.get("options") or {}, float(spec.get("timeout_s") or config["timeout_s"]),
                            dict(scenario), threads))
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
        bad = [m for m in modes if m not in MODES]
        if bad:
            raise ConfigError("--modes: %s not among %s" % (", ".join(bad), ", ".join(MODES)))
        suite_modes = {name: spec.get("modes", ["cpu"]) for name, spec in config["engines"].items()}
        for name, spec in config["engines"].items():
            spec["modes"] = [m for m in suite_modes[name] if m in modes]
        if not any(spec["modes"] for spec in config["engines"].values()):
            raise ConfigError("--modes %s: no engine here has such a mode (%s)" % (",".join(modes), "; ".join(
                "%s: %s" % (name, ",".join(m)) for name, m in suite_modes.items())))
