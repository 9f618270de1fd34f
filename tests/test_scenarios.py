"""Scenarios (bench/scenarios.py): the arithmetic on a fake engine of known timings on a
virtual clock, so every latency is exact; then real runs of the harness in each scenario."""
import csv
import os

import pytest

from bench import scenarios
from bench.dataset import open_dataset
from bench.summary import cell_summary
from tests.conftest import bench, run_folder, write_suite

NORMALIZE = {"nfkc": True, "strip_whitespace": True, "casefold": False}


class Clock:
    """Virtual time in seconds: the engine and the scenario's waits advance it."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


class Timed:
    """An engine whose calls take known times: ``each`` ms per image alone; with a batch path,
    ``fixed`` + ``per_image`` ms per call."""

    def __init__(self, clock: Clock, each: float, batches: bool = False, fixed: float = 0.0,
                 per_image: float = 0.0) -> None:
        self.clock, self.each, self.batches, self.fixed, self.per_image = clock, each, batches, fixed, per_image
        self.calls = []

    def preprocess(self, image):
        return image

    def infer(self, inputs):
        self.calls.append(1)
        self.clock.sleep(self.each / 1e3)
        return []

    def infer_batch(self, inputs):
        self.calls.append(len(inputs))
        self.clock.sleep((self.fixed + self.per_image * len(inputs)) / 1e3)
        return [[] for _ in inputs]

    def synchronize(self):
        pass


@pytest.fixture
def clock(monkeypatch):
    virtual = Clock()
    monkeypatch.setattr(scenarios, "clock", virtual)
    return virtual


@pytest.fixture(scope="module")
def items(small_dataset):
    entries = open_dataset(small_dataset).entries
    return [(0, e) for e in entries] + [(1, e) for e in entries[:2]]  # 8 samples, two passes


OPTS = {"grayscale": True, "crop": True, "variant": "raw"}


def feed(scenario, engine, items, clock):
    return [row for _, row in scenarios.feed(scenario, engine, items, OPTS, sleep=clock.sleep)]


def summary_of(scenario, rows, batched=True):
    as_csv = [{k: "" if v is None else str(v) for k, v in dict(row, gt="", pred="").items()} for row in rows]
    return cell_summary("fake", "cpu", {"status": "ok", "scenario": scenario._asdict(), "batched": batched},
                        as_csv, NORMALIZE)


def test_single_stream_latency_is_each_call(items, clock):
    rows = feed(scenarios.Scenario(), Timed(clock, each=20), items, clock)
    assert [round(r["t_total_ms"], 6) for r in rows] == [20.0] * 8
    assert {r["batch_n"] for r in rows} == {1}
    s = summary_of(scenarios.Scenario(), rows)
    assert s["throughput_ips"] == pytest.approx(50.0) and s["fps"] == pytest.approx(50.0)
    assert s["scenario"] == "single-stream" and "on_time" not in s


def test_offline_batches_share_each_call(items, clock):
    engine = Timed(clock, each=20, batches=True, fixed=12, per_image=4)
    scenario = scenarios.Scenario("offline", batch=3)
    rows = feed(scenario, engine, items, clock)
    assert engine.calls == [3, 3, 2]
    assert [r["batch_n"] for r in rows] == [3, 3, 3, 3, 3, 3, 2, 2]
    assert [round(r["t_total_ms"], 6) for r in rows] == [24.0] * 6 + [20.0] * 2  # each call's latency
    s = summary_of(scenario, rows)
    assert s["throughput_ips"] == pytest.approx(8 / (24 + 24 + 20) * 1e3)  # 117.6, against 50 one at a time
    assert s["batch"] == 3 and s["batched"] == 1


def test_offline_without_a_batch_path_is_one_image_per_call(items, clock):
    engine = Timed(clock, each=20)
    rows = feed(scenarios.Scenario("offline", batch=4), engine, items, clock)
    assert engine.calls == [1] * 8
    assert summary_of(scenarios.Scenario("offline", batch=4), rows, batched=False)["throughput_ips"] == \
        pytest.approx(50.0)


def test_multi_stream_that_keeps_up_is_on_time(items, clock):
    """2 cameras at 10 frames/s: a call of 2 takes 30 ms, well inside the 100 ms period."""
    scenario = scenarios.Scenario("multi-stream", batch=2, streams=2, rate_fps=10)
    engine = Timed(clock, each=20, batches=True, fixed=20, per_image=5)
    rows = feed(scenario, engine, items, clock)
    assert engine.calls == [2, 2, 2, 2]
    assert [round(r["t_total_ms"], 6) for r in rows] == [30.0] * 8
    assert [round(r["queue_ms"], 6) for r in rows] == [0.0] * 8
    assert clock.now == pytest.approx(0.330)  # the last trigger at 300 ms, read by 330 ms
    s = summary_of(scenario, rows)
    assert s["on_time"] == 1.0 and s["streams"] == 2 and s["rate_fps"] == 10
    assert s["throughput_ips"] == pytest.approx(8 / (4 * 30) * 1e3)


def test_multi_stream_overloaded_queues_and_misses_deadlines(items, clock):
    """2 cameras at 20 frames/s (a frame each 50 ms) and an engine of 35 ms per image with
    no batch path: arrivals 0,0,50,50,100,100,150,150 ms; calls back to back end at 35, 70,
    ..., 280 ms; so latencies 35,70,55,90,75,110,95,130 and on time (<= 50 ms) 1 of 8."""
    scenario = scenarios.Scenario("multi-stream", batch=2, streams=2, rate_fps=20)
    rows = feed(scenario, Timed(clock, each=35), items, clock)
    assert [round(r["t_total_ms"], 6) for r in rows] == [35, 70, 55, 90, 75, 110, 95, 130]
    assert [round(r["queue_ms"], 6) for r in rows] == [0, 35, 20, 55, 40, 75, 60, 95]
    s = summary_of(scenario, rows, batched=False)
    assert s["on_time"] == pytest.approx(1 / 8)
    assert s["throughput_ips"] == pytest.approx(1000 / 35)  # the engine's own rate, wait left out
    assert s["t_total_p50_ms"] == pytest.approx(82.5)


def test_a_bad_image_is_its_own_error_row_and_the_batch_goes_on(tmp_path, items, clock):
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"not a jpeg")
    bad = (0, items[1][1]._replace(path=str(broken), sample_id="broken.jpg"))
    engine = Timed(clock, each=20, batches=True, fixed=10, per_image=5)
    rows = feed(scenarios.Scenario("offline", batch=3), engine, [items[0], bad, items[2]], clock)
    assert engine.calls == [2]
    assert "broken.jpg" in rows[1]["error"] and rows[1]["t_total_ms"] is None
    assert [rows[0]["batch_n"], rows[2]["batch_n"]] == [2, 2]


@pytest.mark.parametrize("spec, message", [
    ({"scenario": "server"}, "engines.e.scenario: 'server' is not one of"),
    ({"scenario": "offline", "batch": 0}, "engines.e.batch: must be an integer >= 1"),
    ({"scenario": "multi-stream", "streams": 4}, "engines.e.rate_fps: multi-stream needs"),
    ({"batch": 8}, "engines.e: single-stream has no batch"),
    ({"scenario": "offline", "streams": 2}, "engines.e: offline has no streams"),
])
def test_scenario_settings_are_checked_by_name(spec, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(")):
        scenarios.parse(spec, "engines.e")


def test_multi_stream_batch_defaults_to_the_streams():
    assert scenarios.parse({"scenario": "multi-stream", "streams": 3, "rate_fps": 2}, "e") == \
        scenarios.Scenario("multi-stream", 3, 3, 2.0)


def _summary(folder):
    with open(os.path.join(folder, "summary.csv")) as f:
        return {r["engine"]: r for r in csv.DictReader(f)}


def test_a_run_in_every_scenario_records_them_and_the_threads(tmp_path, small_dataset):
    """Real runner and worker processes; the stand-in engine takes 30 ms per image."""
    echo = {"adapter": "tests.fault_adapters:Echo", "options": {"delay": 0.03}}
    suite = write_suite(tmp_path / "suite.json", {
        "single": dict(echo, threads=1),
        "offline": dict(echo, scenario="offline", batch=4),
        "cameras": dict(echo, scenario="multi-stream", streams=2, rate_fps=4),
    }, warmup=1, threads=2, telemetry_interval_s=0)
    done = bench("--config", suite, "--dataset", small_dataset, "--results", tmp_path / "results")
    assert done.returncode == 0, done.stderr
    folder = run_folder(tmp_path / "results")
    rows = _summary(folder)
    assert [rows[e]["scenario"] for e in ("single", "offline", "cameras")] == ["single-stream", "offline",
                                                                             "multi-stream"]
    assert (rows["single"]["threads"], rows["offline"]["threads"]) == ("1", "2")
    assert rows["offline"]["batch"] == "4" and rows["offline"]["batched"] == "0"  # Echo has no batch path
    assert (rows["cameras"]["streams"], rows["cameras"]["rate_fps"]) == ("2", "4")
    assert float(rows["cameras"]["on_time"]) == 1.0  # 60 ms of work every 250 ms
    for engine in rows:
        assert 20 < float(rows[engine]["throughput_ips"]) < 34, engine  # at most 1000 / 30 ms
    with open(os.path.join(folder, "samples.csv")) as f:
        samples = [r for r in csv.DictReader(f) if r["engine"] == "cameras"]
    assert all(float(r["queue_ms"]) < 40 for r in samples[::2])  # the first frame of each trigger barely waits
    assert all(float(r["queue_ms"]) >= 25 for r in samples[1::2])  # the second waits for the first
