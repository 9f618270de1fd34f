"""Telemetry parsing and sampling, and the Jetson fingerprint, without a Jetson."""
import csv
import os
import time

import pytest

from bench import fingerprint, telemetry

NANO = ("RAM 2236/3964MB (lfb 5x4MB) SWAP 12/1982MB (cached 0MB) CPU [9%@1479,6%@1479,4%@1479,5%@1479] "
        "EMC_FREQ 0% GR3D_FREQ 76% PLL@26C CPU@29.5C PMIC@100C GPU@28C AO@35C thermal@28.75C "
        "POM_5V_IN 4117/3311 POM_5V_GPU 1440/940 POM_5V_CPU 964/810")
XAVIER = ("RAM 3040/31927MB (lfb 6357x4MB) SWAP 0/15963MB (cached 0MB) CPU [2%@1190,1%@1190,0%@1190,"
          "0%@1190,off,off,off,off] EMC_FREQ 0% GR3D_FREQ 12% AO@40C GPU@40.5C Tdiode@42.25C PMIC@100C "
          "AUX@39.5C CPU@41.5C thermal@40.75C Tboard@40C GPU 310/155 CPU 154/154 SOC 1080/1080 CV 0/0 "
          "VDDRQ 153/153 SYS5V 1426/1426")
ORIN = ("11-22-2026 10:15:02 RAM 2581/30536MB (lfb 6425x4MB) SWAP 0/15268MB (cached 0MB) "
        "CPU [0%@729,0%@729,1%@729,0%@729] EMC_FREQ 0%@2133 GR3D_FREQ 43%@[305,0] VIC_FREQ 729 APE 174 "
        "CV0@-256C CPU@41.875C SOC2@39.343C SOC0@40.125C CV1@-256C GPU@39.281C tj@41.875C SOC1@38.906C "
        "CV2@-256C VDD_GPU_SOC 3187mW/3187mW VDD_CPU_CV 398mW/398mW VIN_SYS_5V0 2418mW/2418mW "
        "VDDQ_VDD2_1V8AO 303mW/303mW")


@pytest.mark.parametrize("line, ram, swap, gpu, temp, power, rails", [
    (NANO, 2236, 12, 76, 35.0, 4117, 3),  # input rail POM_5V_IN; PMIC@100C is a placeholder
    (XAVIER, 3040, 0, 12, 42.25, 1426, 6),  # SYS5V is the input rail
    (ORIN, 2581, 0, 43, 41.875, 2418, 4),  # mW units; -256C means "no sensor"
])
def test_tegrastats_lines_of_each_generation(line, ram, swap, gpu, temp, power, rails):
    values = telemetry.parse_tegrastats(line)
    assert values["ram_used_mb"] == ram and values["swap_used_mb"] == swap
    assert values["gpu_load_pct"] == gpu and values["temp_c"] == temp
    assert values["power_mw"] == power and len(values["rails"]) == rails


def test_nvidia_smi_line_and_missing_fields():
    assert telemetry.parse_nvidia_smi("1234, 56, 71.30, 48") == {
        "gpu_mem_mb": 1234.0, "gpu_load_pct": 56.0, "power_mw": pytest.approx(71300.0), "temp_c": 48.0}
    assert telemetry.parse_nvidia_smi("1234, 56, [N/A], 48")["gpu_mem_mb"] == 1234.0
    assert telemetry.parse_nvidia_smi("garbage") == {}


def test_sampler_writes_rows_and_tags_the_running_cell(tmp_path):
    path = str(tmp_path / "telemetry.csv")
    sampler = telemetry.Telemetry(path, interval_s=0.05)
    time.sleep(0.3)
    sampler.cell = "echo/cpu"
    time.sleep(0.3)
    sampler.cell = None
    stats = sampler.cell_stats("echo/cpu")
    sampler.stop()
    with open(path) as f:
        rows = list(csv.DictReader(f))
    assert len(rows) >= 6 and {"", "echo/cpu"} <= {r["cell"] for r in rows}
    assert stats["telemetry_rows"] >= 2 and stats["sys_peak_ram_mb"] > 0
    assert stats["mean_power_w"] is None  # no power source on this machine


def test_jetson_fingerprint_from_a_device_tree(tmp_path):
    (tmp_path / "proc" / "device-tree").mkdir(parents=True)
    (tmp_path / "proc" / "device-tree" / "model").write_bytes(b"NVIDIA Jetson Nano Developer Kit\x00")
    (tmp_path / "etc").mkdir()
    (tmp_path / "etc" / "nv_tegra_release").write_text("# R32 (release), REVISION: 6.1, GCID: 27863751\n")
    for cpu, (lo, hi) in enumerate([("1479000", "1479000"), ("102000", "1479000")]):
        folder = tmp_path / "sys" / "devices" / "system" / "cpu" / ("cpu%d" % cpu) / "cpufreq"
        folder.mkdir(parents=True)
        (folder / "scaling_min_freq").write_text(lo)
        (folder / "scaling_max_freq").write_text(hi)
    board = fingerprint.jetson(str(tmp_path))
    assert board["model"] == "NVIDIA Jetson Nano Developer Kit"
    assert board["l4t"].startswith("# R32 (release), REVISION: 6.1")
    assert board["clocks_locked"] is False
    assert fingerprint.device_name({"jetson": board}) == "jetson-nano-developer-kit"


def test_power_mode_and_timing_warnings():
    assert fingerprint.power_mode("NV Power Mode: MAXN\n0\n") == {"name": "MAXN", "id": 0}
    five_watt = {"jetson": {"power_mode": fingerprint.power_mode("NV Power Mode: 5W\n1\n"), "clocks_locked": True}}
    (warning,) = fingerprint.timing_warnings(five_watt)
    assert "power mode is 5W (id 1)" in warning and "nvpmodel -m 0" in warning
    full = {"jetson": {"power_mode": {"name": "MAXN", "id": 0}, "clocks_locked": False}}
    assert fingerprint.timing_warnings(full) == ["Jetson clocks are not locked: run `sudo jetson_clocks` before timing"]
    assert fingerprint.timing_warnings({"jetson": None}) == []
    assert os.path.isfile("/proc/meminfo") and telemetry.read_proc()["ram_used_mb"] > 0


def test_gpu_fingerprint_from_nvidia_smi_output():
    """The query's format (H100, driver 550) and an old driver's three basic fields."""
    query = "NVIDIA H100 80GB HBM3, 550.54.15, 81559 MiB, 345 MHz, 1980 MHz, 2619 MHz, 2619 MHz, P0, 700.00 W, 9.0\n"
    header = "| NVIDIA-SMI 550.54.15      Driver Version: 550.54.15      CUDA Version: 12.4     |"
    (gpu,) = fingerprint.parse_gpus(query, header)
    assert gpu == {"name": "NVIDIA H100 80GB HBM3", "driver": "550.54.15", "memory": "81559 MiB",
                   "sm_clock": "345 MHz", "sm_clock_max": "1980 MHz", "mem_clock": "2619 MHz",
                   "mem_clock_max": "2619 MHz", "pstate": "P0", "power_limit": "700.00 W",
                   "compute_capability": "9.0", "cuda_driver": "12.4"}
    assert fingerprint.parse_gpus("Tesla T4, 418.67, 15109 MiB\n") == [
        {"name": "Tesla T4", "driver": "418.67", "memory": "15109 MiB"}]
    assert fingerprint.parse_gpus("") == []
    assert fingerprint.device_name({"gpus": [gpu], "jetson": None}) == "h100-80gb-hbm3"


@pytest.mark.parametrize("scope, mode, energy", [
    ("module", "cpu", 2000.0),  # a Jetson's input rail covers the CPU: 20 W x 100 ms
    ("gpu", "gpu", 2000.0),
    ("gpu", "trt-fp16", 2000.0),
    ("gpu", "cpu", None),  # an idle GPU board's power says nothing of a CPU cell
    ("gpu", "onnx-cpu", None),
    (None, "cpu", 2000.0),  # runs recorded before the scope was: as then
])
def test_energy_per_sample_only_where_the_power_measured_covers_the_work(scope, mode, energy):
    from bench.summary import cell_summary

    rows = [{"gt": "LOT 1", "pred": "LOT 1", "error": "", "t_pre_ms": "1", "t_infer_ms": "99",
             "t_total_ms": "100"}] * 3
    info = {"status": "ok", "mean_power_w": 20.0, "power_scope": scope}
    out = cell_summary("e", mode, info, rows, {"nfkc": True, "strip_whitespace": True, "casefold": False})
    assert out["mean_power_w"] == 20.0 and out.get("energy_mj_per_sample") == energy
