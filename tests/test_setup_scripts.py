"""The Jetson and server set-up scripts: shell-checked, and the Jetson script's detection of
JetPack and swap run on recorded /etc/nv_tegra_release and /proc/meminfo contents."""
import os
import subprocess
import sys

import pytest

from tests.conftest import REPO

SCRIPTS = ["env/jetson/setup.sh", "env/server/setup.sh", "env/install-system.sh"]
RELEASES = {  # first line of /etc/nv_tegra_release on each JetPack
    "# R32 (release), REVISION: 7.1, GCID: 29818004, BOARD: t210ref, EABI: aarch64, DATE: Sat Feb 19 17:05:08 UTC 2022": "L4T R32.7 -> JetPack 4",
    "# R35 (release), REVISION: 4.1, GCID: 33958178, BOARD: t186ref, EABI: aarch64, DATE: Tue Aug  1 19:57:35 UTC 2023": "L4T R35.4 -> JetPack 5",
    "# R36 (release), REVISION: 4.3, GCID: 38968081, BOARD: generic, EABI: aarch64, DATE: Wed Jan  8 01:49:37 UTC 2025": "L4T R36.4 -> JetPack 6",
}


def test_scripts_pass_shellcheck():
    shellcheck = os.path.join(os.path.dirname(sys.executable), "shellcheck")
    proc = subprocess.run([shellcheck] + SCRIPTS, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          universal_newlines=True)
    assert proc.returncode == 0, proc.stdout


def check(tmp_path, release_line, swap_kb):
    release = tmp_path / "nv_tegra_release"
    release.write_text(release_line + "\n")
    meminfo = tmp_path / "meminfo"
    meminfo.write_text("MemTotal:        4051032 kB\nSwapTotal:       %d kB\nSwapFree:        %d kB\n" % (swap_kb, swap_kb))
    env = dict(os.environ, NV_TEGRA_RELEASE=str(release), MEMINFO=str(meminfo), ENVS=str(tmp_path / "envs"))
    return subprocess.run(["bash", "env/jetson/setup.sh", "--check"], cwd=REPO, env=env, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, universal_newlines=True)


@pytest.mark.parametrize("line,expected", sorted(RELEASES.items()))
def test_jetson_check_names_the_jetpack_swap_and_missing_environments(tmp_path, line, expected):
    proc = check(tmp_path, line, 6 * 1048576)
    assert proc.returncode == 0, proc.stdout
    assert expected in proc.stdout
    assert "swap: 6 GB" in proc.stdout and "env paddleocr: missing" in proc.stdout


def test_jetson_setup_refuses_a_machine_that_is_not_a_jetson(tmp_path):
    release = tmp_path / "absent"
    env = dict(os.environ, NV_TEGRA_RELEASE=str(release), ENVS=str(tmp_path / "envs"))
    proc = subprocess.run(["bash", "env/jetson/setup.sh"], cwd=REPO, env=env, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, universal_newlines=True)
    assert proc.returncode == 1
    assert "not a Jetson" in proc.stdout and "env/server/setup.sh" in proc.stdout
    assert not os.path.exists(str(tmp_path / "envs"))


def test_suite_command_points_engines_at_their_interpreters(tmp_path):
    out = tmp_path / "suite.yaml"
    proc = subprocess.run([sys.executable, "-m", "bench", "suite", "--out", str(out),
                           "--python", "paddleocr=" + sys.executable], cwd=REPO, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, universal_newlines=True)
    assert proc.returncode == 0, proc.stdout
    import yaml

    suite = yaml.safe_load(out.read_text())
    assert suite["engines"]["paddleocr"]["python"] == sys.executable
    assert suite["engines"]["paddleocr"]["options"]["det_limit_side_len"] == 160  # the default suite's, kept
    assert "python" not in suite["engines"]["easyocr"]
    bad = subprocess.run([sys.executable, "-m", "bench", "suite", "--out", str(out), "--python", "paddleocr=/no/such"],
                         cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, universal_newlines=True)
    assert bad.returncode == 2 and "/no/such is not an executable interpreter" in bad.stdout
