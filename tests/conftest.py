import json
import os
import subprocess
import sys

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
EMBEDDED = os.path.join(REPO, "datasets", "synth-codes")


@pytest.fixture(scope="session")
def small_dataset(tmp_path_factory):
    """Six generated frames with boxes, and a warm-up frame."""
    from synth.frames import write_dataset

    root = str(tmp_path_factory.mktemp("synth"))
    write_dataset(root, seed=7, count=6)
    return root


def write_suite(path, engines, **settings):
    """A JSON suite file (the runner reads JSON without PyYAML too)."""
    with open(path, "w") as f:
        json.dump(dict(settings, engines=engines), f)
    return str(path)


def bench(*args, timeout=600):
    """`python -m bench run ...` as a user runs it: a real process."""
    return subprocess.run([sys.executable, "-m", "bench", "run", "--quiet"] + [str(a) for a in args],
                          cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=timeout,
                          universal_newlines=True)


def run_folder(results_dir):
    """The single run folder under results_dir/<device>/."""
    found = [os.path.join(dp) for dp, _, files in os.walk(str(results_dir)) if "run.json" in files]
    assert len(found) == 1, found
    return found[0]
