"""The device-side code (runner, worker, adapters, metrics, results) must run on the
Jetson Nano's Python 3.6.9 (JetPack 4.6)."""
import os
import subprocess
import sys

from tests.conftest import REPO


def test_device_side_code_needs_nothing_newer_than_python_36():
    proc = subprocess.run([os.path.join(os.path.dirname(sys.executable), "vermin"), "-t=3.6-", "--violations", "--no-tips",
                           "--eval-annotations", "--exclude-regex", "bench/report/", "bench", "adapters", "models"], cwd=REPO,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, universal_newlines=True)
    assert proc.returncode == 0, proc.stdout
