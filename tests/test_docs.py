"""The commands the README and docs/ show stay true: every ``make`` target exists in the
Makefile, every ``python -m`` module exists and takes the options shown (as its ``--help``
lists them), so that a renamed option breaks this test, not a user."""
import functools
import glob
import importlib.util
import os
import re
import subprocess
import sys

import pytest

from tests.conftest import REPO

PAGES = [os.path.join(REPO, "README.md")] + sorted(glob.glob(os.path.join(REPO, "docs", "*.md")))
RUN_TARGETS = {"bench": ("bench", "run"), "bench-real": ("bench", "run"), "resume": ("bench", "resume")}


def code(text: str) -> list:
    """The code a page shows: indented or fenced blocks (continued lines joined) and inline spans."""
    out, fenced = [], False
    for line in text.split("\n"):
        if line.startswith("```"):
            fenced = not fenced
            continue
        if fenced or line.startswith("    "):
            if out and out[-1].endswith("\\"):
                out[-1] = out[-1][:-1] + " " + line.strip()
            else:
                out.append(line.strip())
    out += re.findall(r"`([^`\n]+)`", text)
    return [c.split("  #")[0] for c in out]


def commands():
    found = set()
    for page in PAGES:
        with open(page) as f:
            for snippet in code(f.read()):
                for part in re.split(r"&&|;|\|", snippet):
                    words = part.split()
                    for i, word in enumerate(words):
                        if word == "make" and i + 1 < len(words) and re.match(r"^[a-z][a-z0-9-]*$", words[i + 1]):
                            args = re.search(r'ARGS="([^"]*)', part)
                            found.add(("make", words[i + 1], tuple(re.findall(r"(--[a-z][a-z0-9-]*)", args.group(1)))
                                       if args else (), os.path.basename(page)))
                        if word == "-m" and i > 0 and words[i - 1].endswith("python") and i + 1 < len(words):
                            module, rest = words[i + 1], words[i + 2:]
                            sub = (rest[0],) if rest and re.match(r"^[a-z]+$", rest[0]) and module == "bench" else ()
                            found.add(("python", (module,) + sub, tuple(w.split("=")[0] for w in rest
                                                                        if re.match(r"^--[a-z]", w)),
                                       os.path.basename(page)))
    return sorted(found, key=str)


COMMANDS = commands()


def targets() -> set:
    with open(os.path.join(REPO, "Makefile")) as f:
        return {m.group(1) for m in re.finditer(r"^([A-Za-z][\w-]*):", f.read(), re.M)}


@functools.lru_cache(maxsize=None)
def help_text(module: tuple) -> str:
    proc = subprocess.run([sys.executable, "-m"] + list(module) + ["--help"], cwd=REPO, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, universal_newlines=True, timeout=300)
    assert proc.returncode == 0, "python -m %s --help: %s" % (" ".join(module), proc.stdout[-2000:])
    return proc.stdout


def test_the_pages_show_commands():
    assert len([c for c in COMMANDS if c[0] == "make"]) >= 10 and len([c for c in COMMANDS if c[0] == "python"]) >= 10


@pytest.mark.parametrize("kind,what,options,page", COMMANDS, ids=lambda v: v if isinstance(v, str) else None)
def test_a_shown_command_exists_with_its_options(kind, what, options, page):
    if kind == "make":
        assert what in targets(), "%s shows `make %s`, which the Makefile lacks" % (page, what)
        if options and what in RUN_TARGETS:
            listed = help_text(RUN_TARGETS[what])
            missing = [o for o in options if o not in listed]
            assert not missing, "%s: `make %s ARGS=...` shows %s, not options of bench %s" % (
                page, what, missing, RUN_TARGETS[what][1])
        return
    assert importlib.util.find_spec(what[0]) is not None, "%s shows `python -m %s`: no such module" % (page, what[0])
    if not options:
        return
    listed = help_text(what)
    missing = [o for o in options if not re.search(re.escape(o) + r"\b", listed)]
    assert not missing, "%s shows `python -m %s` with %s, which its --help does not list" % (page, " ".join(what), missing)
