"""Opening a run: a new run folder under results/<device>/ with its run.json (``start``), or
an existing one to finish (``resume``), each held by one runner (bench/runfolder.py)."""
import difflib
import os
import sys
import time
from typing import Any, Dict, Optional

from bench import config as cfg
from bench import fingerprint, grammar, results, runfolder
from bench.dataset import dataset_hashes, manifest_warnings, open_dataset
from bench.runner import Run
from adapters.base import Adapter as BaseAdapter
from bench.worker import adapter_class


def _resolve(path: str) -> str:
    """A relative path from the working directory, else from the repository."""
    if os.path.isabs(path) or os.path.exists(path):
        return os.path.abspath(path)
    return os.path.join(cfg.REPO, path)


def results_root(path: str) -> str:
    """Where run folders go: a suite's relative ``results`` lies in the repository (the
    command line's ``--results`` is made absolute against the working directory first)."""
    return path if os.path.isabs(path) else os.path.join(cfg.REPO, path)


def check_adapters(config: Dict[str, Any]) -> None:
    """Every cell's adapter module imports here (without its engine) and names an adapter
    class whose options it accepts (``Adapter.check_options``), or a clear error."""
    for cell in cfg.cells(config, sys.executable):
        explicit = bool(config["engines"][cell.engine].get("adapter"))
        where = ("engines.%s.adapter: %s" if explicit else "engines.%s: adapter %s") % (cell.engine, cell.adapter)
        module, _, name = cell.adapter.partition(":")
        if not module.strip() or not all(part.isidentifier() for part in module.split(".")) or \
                (name and not name.isidentifier()):
            raise cfg.ConfigError("engines.%s.adapter: %r is not 'package.module:Class' (e.g. adapters.fots:Adapter)"
                                  % (cell.engine, cell.adapter))
        try:
            cls = adapter_class(cell.adapter)
        except Exception as exc:  # a missing module, a SyntaxError or any error while importing it
            raise cfg.ConfigError("%s cannot be loaded (%s: %s)" % (where, type(exc).__name__, exc))
        if not isinstance(cls, type) or not issubclass(cls, BaseAdapter):
            raise cfg.ConfigError("%s is not an adapter (a subclass of adapters.base.Adapter with modes, load and "
                                  "infer; see docs/adding-an-engine.md)" % where)
        unknown = sorted(set(cell.options) - set(cls.option_names)) if cls.option_names is not None else []
        if unknown:
            near = difflib.get_close_matches(unknown[0], cls.option_names, 1)
            raise cfg.ConfigError("engines.%s.options: unknown option %r%s; %s reads %s" % (
                cell.engine, unknown[0], " (did you mean %r?)" % near[0] if near else "", cell.adapter,
                ", ".join(cls.option_names) or "no options"))
        try:
            cls.check_options(cell.options)
        except ValueError as exc:
            raise cfg.ConfigError("engines.%s.options: %s" % (cell.engine, exc))


def start(config: Dict[str, Any], quiet: bool = False) -> Run:
    """A new run folder, results/<device>/<run-id>/, with run.json written first."""
    check_adapters(config)
    dataset = open_dataset(_resolve(config["dataset"]))
    entries = dataset.entries[: config["limit"]] if config["limit"] else dataset.entries
    info = fingerprint.fingerprint(cfg.REPO)
    device = config["device"] or fingerprint.device_name(info)
    grammar_path = grammar.locate(config["grammar"], dataset.root, cfg.REPO)
    code_grammar = grammar.describe(grammar_path, [e.text for e in entries]) if grammar_path else None
    config["results"] = results_root(config["results"])
    run_dir = runfolder.create(os.path.join(config["results"], device))
    lock = runfolder.RunLock(run_dir)
    run_id = os.path.basename(run_dir)
    warmup = dataset.warmup.sample_id if dataset.warmup else "first sample that decodes (no warmup.csv)"
    warnings = fingerprint.timing_warnings(info)
    twice = manifest_warnings(entries)
    for warning in warnings + twice + (code_grammar["warnings"] if code_grammar else []):
        print("WARNING: %s" % warning, file=sys.stderr)
    meta = {"run_id": run_id, "device": device, "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "ended": None, "resumed": [], "fingerprint": info, "timing_warnings": warnings,
            "dataset": dict({"path": dataset.manifest, "samples": len(entries), "warmup_image": warmup,
                             "warnings": twice}, **dataset_hashes(dataset)),
            "config": config, "grammar": code_grammar}
    results.write_json(os.path.join(run_dir, "run.json"), meta)
    return Run(run_dir, meta, entries, quiet, lock)


def resume(run_dir: str, quiet: bool = False) -> Run:
    """Continue a run from its folder, with the config it was started with, on the same
    data: a changed manifest or image is refused, named."""
    meta = results.read_json(os.path.join(run_dir, "run.json"))
    if meta is None:
        raise cfg.ConfigError("%s: no run.json, not a run folder" % run_dir)
    lock = runfolder.RunLock(run_dir)
    try:
        config = meta["config"]
        dataset = open_dataset(meta["dataset"]["path"])
        changes = runfolder.dataset_changes(meta["dataset"], dataset_hashes(dataset))
        if meta.get("grammar") and grammar.describe(meta["grammar"]["path"], [])["sha256"] != meta["grammar"]["sha256"]:
            changes.append("the grammar %s has changed" % meta["grammar"]["path"])
        if changes:
            raise runfolder.ResumeRefused("cannot resume %s: %s since it started; its finished rows would score "
                                          "against another truth. Start a new run instead." % (run_dir, "; ".join(changes)))
    except BaseException:
        lock.release()
        raise
    entries = dataset.entries[: config["limit"]] if config["limit"] else dataset.entries
    meta["resumed"].append(time.strftime("%Y-%m-%dT%H:%M:%S%z"))
    results.write_json(os.path.join(run_dir, "run.json"), meta)
    return Run(run_dir, meta, entries, quiet, lock)


def latest_run(results_dir: str) -> Optional[str]:
    """The run folder under results/<device>/ whose run.json was written last."""
    found = [os.path.join(results_dir, d, r) for d in os.listdir(results_dir) if os.path.isdir(os.path.join(results_dir, d))
             for r in os.listdir(os.path.join(results_dir, d))
             if os.path.isfile(os.path.join(results_dir, d, r, "run.json"))] if os.path.isdir(results_dir) else []
    return max(found, key=lambda p: os.path.getmtime(os.path.join(p, "run.json"))) if found else None


