"""``python -m bench.report RESULTS... --out reports/NAME``: a markdown report for a paper."""
import argparse
import os
import sys
from typing import List, Optional

from bench.report import document
from bench.report.load import ReportError, load


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.report", description=__doc__)
    parser.add_argument("paths", nargs="*", default=["results"],
                        help="result folders, or folders holding them (default: results)")
    parser.add_argument("--out", default=os.path.join("reports", "latest"), help="report folder (default: %(default)s)")
    parser.add_argument("--alias", action="append", default=[], metavar="DEVICE=LABEL",
                        help="name a device in the report, e.g. jetson-nano-developer-kit=Nano (repeatable)")
    parser.add_argument("--order", help="column order, e.g. 'Server CPU,Nano CPU,Server GPU,Nano GPU'")
    parser.add_argument("--references", default=os.path.join(document.PUBLISHED, "jetson-nano-ocr-2025.csv"),
                        help="published results to show beside ours (default: %(default)s)")
    parser.add_argument("--no-references", action="store_true", help="leave published results out")
    parser.add_argument("--title", default="OCR benchmark report")
    args = parser.parse_args(argv)
    try:
        aliases = dict(a.split("=", 1) for a in args.alias)
    except ValueError:
        print("error: --alias takes DEVICE=LABEL", file=sys.stderr)
        return 2
    empty = [a for a in args.alias if not all(part.strip() for part in a.split("=", 1))]
    if empty:
        print("error: --alias %r: DEVICE=LABEL, neither empty" % empty[0], file=sys.stderr)
        return 2
    try:
        results = load(args.paths, aliases)
        path = document.write(results, args.out, None if args.no_references else args.references,
                              [c.strip() for c in args.order.split(",")] if args.order else None, args.title)
    except ReportError as exc:
        print("error: %s" % exc, file=sys.stderr)
        return 2
    except OSError as exc:  # the report folder cannot be written: nothing else is touched
        print("error: cannot write the report into %s: %s%s" % (args.out, exc.strerror or exc,
                                                                ": " + exc.filename if exc.filename else ""),
              file=sys.stderr)
        return 2
    print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
