"""Command line: ``python -m bench run ...`` (see ``--help``)."""
import argparse
import os
import signal
import sys
from typing import List, Optional

from adapters.base import MODES
from bench import config as cfg
from bench import launch, runner
from bench.dataset import ManifestError
from bench.grammar import GrammarError
from bench.runfolder import ResumeRefused, RunLocked

# what a resumed run takes from its run.json, never from the command line: option -> its flag
FIXED_ON_RESUME = {name: "--" + name for name in ("config", "dataset", "engines", "modes", "warmup", "passes",
                                                  "limit", "preprocess", "device", "grammar")}
FIXED_ON_RESUME["timeout_s"] = "--timeout"


def _list(text: Optional[str], option: str) -> List[str]:
    """A comma-separated option's items; an option given but naming nothing is refused
    (``--engines ''`` would otherwise run every engine)."""
    if text is None:
        return []
    items = [t.strip() for t in text.split(",") if t.strip()]
    if not items:
        raise cfg.ConfigError("%s: %r names nothing; leave the option out to run them all" % (option, text))
    return items


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description="OCR benchmark harness")
    sub = parser.add_subparsers(dest="command")
    run = sub.add_parser("run", help="run a suite: every engine x mode cell in its own process")
    run.add_argument("--config", help="suite file, YAML or JSON (default: %s)" % os.path.relpath(cfg.DEFAULT_SUITE, cfg.REPO))
    run.add_argument("--dataset", help="dataset folder or manifest.csv")
    run.add_argument("--engines", help="comma-separated subset of the suite's engines")
    run.add_argument("--modes", help="comma-separated subset of modes (%s)" % ",".join(MODES))
    run.add_argument("--warmup", type=int, help="warm-up runs per cell")
    run.add_argument("--passes", type=int, help="timed passes over the dataset")
    run.add_argument("--limit", type=int, help="only the first N samples")
    run.add_argument("--preprocess", help="raw, otsu or clahe")
    run.add_argument("--grammar", help="code grammar file for the constrained reading (default: grammar.txt beside "
                                       "the manifest, if any; 'none': no grammar)")
    run.add_argument("--timeout", type=float, dest="timeout_s", help="per-cell timeout in seconds")
    run.add_argument("--device", help="device name for results/<device>/ (default: from the machine)")
    run.add_argument("--results", help="results folder, relative to the working directory (default: the "
                                       "repository's results/)")
    run.add_argument("--resume", nargs="?", const="latest", metavar="RUN_DIR",
                     help="continue a run (default: the latest one) without redoing finished samples")
    run.add_argument("--quiet", action="store_true", help="no progress bars")
    suite = sub.add_parser("suite", help="write a suite with each engine's own interpreter (env/jetson, env/server)")
    suite.add_argument("--config", default=cfg.DEFAULT_SUITE, help="the suite to start from (default: %(default)s)")
    suite.add_argument("--python", action="append", default=[], metavar="ENGINE=INTERPRETER",
                       help="run ENGINE's cells with INTERPRETER (repeatable)")
    suite.add_argument("--out", required=True, help="the suite file to write (YAML)")
    args = parser.parse_args(argv)
    if args.command == "suite":
        return write_suite(args.config, args.python, args.out)
    if args.command != "run":
        parser.print_help()
        return 2
    if args.results:
        args.results = os.path.abspath(args.results)
    try:
        if args.resume:
            current = launch.resume(_run_to_resume(args), quiet=args.quiet)
        else:
            overrides = {k: getattr(args, k) for k in ("dataset", "warmup", "passes", "limit", "preprocess",
                                                       "timeout_s", "device", "results", "grammar")}
            config = cfg.build(cfg.read_suite(args.config or cfg.DEFAULT_SUITE), overrides)
            cfg.select(config, _list(args.engines, "--engines"), _list(args.modes, "--modes"))
            current = launch.start(config, quiet=args.quiet)
    except (cfg.ConfigError, ManifestError, GrammarError, RunLocked, ResumeRefused, OSError) as exc:
        print("error: %s" % exc, file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted before any cell ran", file=sys.stderr)
        return 130
    print("run folder: %s" % current.dir, file=sys.stderr)
    signal.signal(signal.SIGTERM, _interrupt)  # a service manager's stop, as Ctrl-C
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT, signal.SIGTERM})  # even if its parent blocked them
    try:
        summary = current.execute()
    except runner.RunStopped as exc:
        print("\nstopped: %s" % exc, file=sys.stderr)
        return exc.exit_code
    try:
        runner.print_summary(current, summary)
        sys.stdout.flush()
    except BrokenPipeError:  # piped into head or less that has quit: the results are written all the same
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    statuses = {row["status"] for row in summary}
    if "failed" in statuses and "ok" not in statuses:
        print("every cell that ran failed", file=sys.stderr)
        return 1
    return 0


def _interrupt(signum, frame) -> None:
    raise KeyboardInterrupt


def _run_to_resume(args: argparse.Namespace) -> str:
    """The run folder ``--resume`` names (or the latest under ``--results``); options that
    would change the run are refused, not ignored."""
    given = [flag for name, flag in FIXED_ON_RESUME.items() if getattr(args, name) is not None]
    if given:
        raise cfg.ConfigError("--resume continues a run with the settings in its run.json; %s cannot be changed "
                              "(start a new run for other settings)" % ", ".join(given))
    if args.resume != "latest":
        return args.resume
    root = launch.results_root(args.results or cfg.DEFAULTS["results"])
    run_dir = launch.latest_run(root)
    if run_dir is None:
        raise cfg.ConfigError("--resume: no run found under %s" % root)
    return run_dir


def write_suite(source: str, pairs: List[str], out: str) -> int:
    import yaml

    try:
        bad = [p for p in pairs if "=" not in p]
        if bad:
            raise cfg.ConfigError("--python %s: expected ENGINE=INTERPRETER" % bad[0])
        suite = cfg.with_interpreters(cfg.read_suite(source), dict(p.split("=", 1) for p in pairs))
    except (cfg.ConfigError, OSError) as exc:
        print("error: %s" % exc, file=sys.stderr)
        return 2
    with open(out, "w") as f:
        f.write("# Written by `python -m bench suite` from %s: each engine with its own interpreter.\n"
                % os.path.relpath(source, cfg.REPO))
        yaml.safe_dump(suite, f, sort_keys=False, default_flow_style=None)
    print("wrote %s" % out, file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
