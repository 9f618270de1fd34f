"""`make fleet` (env/fleet/bench.yml): a real Ansible run over two hosts on this machine (local
connection), each with its own clone of the repository, one made to fail, then the same
command again. The hosts run the committed code (HEAD), as a fleet does."""
import csv
import glob
import json
import os
import re
import shutil
import subprocess

import pytest

from tests.conftest import REPO

pytestmark = pytest.mark.skipif(not os.path.isdir(os.path.join(REPO, ".git")) or shutil.which("git") is None,
                                reason="the fleet sends this repository's commit: needs git and a clone")
VENV = os.path.join(REPO, ".venv")


def inventory(path, root, broken=None):
    hosts = {}
    for name in ("host-a", "host-b"):
        venv = "/nonexistent/venv" if name == broken else VENV
        hosts[name] = {"repo_dir": os.path.join(str(root), name, "ocr-edge-bench"), "device": name,
                       "make_vars": ["VENV=%s" % venv, "DEPS="]}
    import yaml

    with open(str(path), "w") as f:
        yaml.safe_dump({"all": {"vars": {"ansible_connection": "local",
                                         "ansible_python_interpreter": "{{ ansible_playbook_python }}"},
                                "hosts": hosts}}, f)
    return str(path)


def fleet(inv, results, report):
    return subprocess.run(["make", "--no-print-directory", "fleet", "INVENTORY=" + inv, "DEPS=", "VENV=" + VENV,
                           "REPORT_FROM=" + str(results), "REPORT_OUT=" + str(report),
                           "ARGS=--limit 3 --warmup 1 --engines fots --modes onnx-cpu"],
                          cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, universal_newlines=True,
                          timeout=900)


def samples(folder):
    with open(os.path.join(folder, "samples.csv")) as f:
        return list(csv.DictReader(f))


def test_fleet_runs_every_host_names_the_failed_one_and_resumes(tmp_path):
    results, report = tmp_path / "results", tmp_path / "report"
    first = fleet(inventory(tmp_path / "inv.yml", tmp_path / "hosts", broken="host-b"), results, report)
    assert first.returncode != 0, first.stdout[-3000:]
    assert "fatal: [host-b]" in first.stdout and "not finished on host-b" in first.stdout, first.stdout[-3000:]
    (run_a,) = glob.glob(str(results / "host-a" / "*"))
    assert len(samples(run_a)) == 3 and not os.path.exists(str(results / "host-b"))
    with open(os.path.join(run_a, "summary.csv")) as f:
        assert [r["status"] for r in csv.DictReader(f)] == ["ok"]

    # host-a's run on the host as a kill would leave it: unfinished, its last sample not recorded
    (on_host,) = glob.glob(str(tmp_path / "hosts" / "host-a" / "ocr-edge-bench" / "results" / "fleet-*" / "host-a" / "*"))
    os.remove(os.path.join(os.path.dirname(os.path.dirname(on_host)), ".finished"))
    with open(os.path.join(on_host, "samples.csv")) as f:
        lines = f.readlines()
    with open(os.path.join(on_host, "samples.csv"), "w") as f:
        f.writelines(lines[:-1])

    second = fleet(inventory(tmp_path / "inv.yml", tmp_path / "hosts"), results, report)
    assert second.returncode == 0, second.stdout[-3000:]
    assert glob.glob(str(results / "host-a" / "*")) == [run_a]  # host-a resumed its run, not a new one
    with open(os.path.join(run_a, "run.json")) as f:
        assert len(json.load(f)["resumed"]) == 1
    assert sorted(r["sample_id"] for r in samples(run_a)) == sorted(r["sample_id"] for r in samples(on_host))
    assert len(samples(run_a)) == 3  # each sample once
    (run_b,) = glob.glob(str(results / "host-b" / "*"))
    assert len(samples(run_b)) == 3
    with open(str(report / "report.md")) as f:
        text = f.read()
    assert "host-a" in text and "host-b" in text

    third = fleet(inventory(tmp_path / "inv.yml", tmp_path / "hosts"), results, report)
    assert third.returncode == 0, third.stdout[-3000:]
    for host in ("host-a", "host-b"):  # finished: nothing run, nothing fetched again, nothing changed
        assert re.search(r"%s\s+: ok=\d+\s+changed=0 " % host, third.stdout), third.stdout[-1500:]
