"""How a cell's samples are fed to its engine: MLPerf's inference scenarios, as they apply to
one engine in one process (suite keys ``scenario``, ``batch``, ``streams``, ``rate_fps``).

- ``single-stream`` (the default): one image at a time, the next as soon as the last is
  read; each sample's latency.
- ``offline``: all samples in calls of ``batch`` images; throughput, and each call's latency.
- ``multi-stream``: ``streams`` cameras, triggered together ``rate_fps`` times a second,
  each giving one frame. Frames wait in a queue while the engine is busy and are read in
  calls of at most ``batch``; a frame's latency runs from its arrival, so it includes the
  wait. It is on time when read before the next trigger.

An engine whose adapter has no batch path (``batches`` false) is given one image per call
in every scenario; the summary says so (``batched``).

Every sample event carries ``t_pre_ms`` and ``t_infer_ms`` (the call that read it: decoding
and preprocessing all of its images, then inference), ``t_total_ms`` (the sample's latency:
from the call's start, or in multi-stream from its arrival, to its reading), ``batch_n``
(images in that call) and ``queue_ms`` (multi-stream: arrival to the call's start). Reading
the files is outside the clock. Device side: Python 3.6.
"""
import collections
import time
from typing import Any, Callable, Dict, Iterator, List, NamedTuple, Optional, Tuple

from adapters.base import join_reading_order
from bench.dataset import Entry, SampleError, decode, read_bytes

NAMES = ("single-stream", "offline", "multi-stream")
clock = time.perf_counter  # monotonic, highest resolution available


class Scenario(NamedTuple):
    name: str = "single-stream"
    batch: int = 1  # images per call at most (offline, multi-stream)
    streams: int = 1  # multi-stream: cameras
    rate_fps: float = 0.0  # multi-stream: frames per second of each camera

    @property
    def period_ms(self) -> float:
        """Multi-stream: time between two triggers, the deadline of each frame."""
        return 1000.0 / self.rate_fps


def parse(spec: Dict[str, Any], where: str) -> Scenario:
    """The scenario of an engine's suite entry; ValueError naming ``where`` and the key."""
    name = spec.get("scenario") or "single-stream"
    if name not in NAMES:
        raise ValueError("%s.scenario: %r is not one of %s" % (where, name, ", ".join(NAMES)))
    keys = {"single-stream": (), "offline": ("batch",), "multi-stream": ("streams", "rate_fps", "batch")}[name]
    extra = [k for k in ("batch", "streams", "rate_fps") if spec.get(k) is not None and k not in keys]
    if extra:
        raise ValueError("%s: %s has no %s (it takes %s)" % (where, name, ", ".join(extra), ", ".join(keys) or
                                                             "neither batch, streams nor rate_fps"))
    for key in ("batch", "streams"):
        value = spec.get(key)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
            raise ValueError("%s.%s: must be an integer >= 1, got %r" % (where, key, value))
    if name == "offline":
        return Scenario(name, spec.get("batch") or 1)
    if name == "multi-stream":
        rate = spec.get("rate_fps")
        if isinstance(rate, bool) or not isinstance(rate, (int, float)) or not 0 < rate < float("inf"):
            raise ValueError("%s.rate_fps: multi-stream needs each camera's frames per second, a finite number > 0, "
                             "got %r" % (where, rate))
        streams = spec.get("streams") or 1
        return Scenario(name, spec.get("batch") or streams, streams, float(rate))
    return Scenario()


def _blank() -> Dict[str, Any]:
    return {"pred": "", "t_pre_ms": None, "t_infer_ms": None, "t_total_ms": None, "error": "",
            "pred_grammar": None, "grammar_far": None, "t_post_ms": None, "batch_n": None, "queue_ms": None,
            "t_det_ms": None, "t_rec_ms": None}


def read_call(adapter, entries: List[Entry], image_opts: Dict[str, Any], post=None,
              waited_ms: Optional[List[float]] = None) -> List[Dict[str, Any]]:
    """Read ``entries`` in one call of the engine (``infer`` for one image, ``infer_batch``
    for several) and time it by stage; one row per entry. A file that cannot be read or
    decoded is that entry's error row, and the call goes on without it; an engine that
    fails makes an error row of every entry of the call. ``waited_ms``: how long each had
    waited before the call (multi-stream). ``post`` (a code grammar's ``correct``) then
    makes each constrained reading, timed on its own (``t_post_ms``)."""
    rows = [_blank() for _ in entries]
    raw: List[Tuple[int, bytes]] = []
    for i, entry in enumerate(entries):
        try:
            raw.append((i, read_bytes(entry)))
        except SampleError as exc:
            rows[i]["error"] = str(exc)
    live, inputs = [], []
    t0 = clock()
    for i, data in raw:
        try:
            inputs.append(adapter.preprocess(decode(data, entries[i], **image_opts)))
            live.append(i)
        except SampleError as exc:
            rows[i]["error"] = str(exc)
        except Exception as exc:  # the engine's preprocessing failed on this sample
            rows[i]["error"] = _failed(entries[i], exc)
    if not live:
        return rows
    t1 = clock()
    adapter.stage_ms = {}
    try:
        readings = [adapter.infer(inputs[0])] if len(inputs) == 1 else adapter.infer_batch(inputs)
        adapter.synchronize()
        t2 = clock()
        preds = [join_reading_order(words) for words in readings]
        t3 = clock()
    except Exception as exc:  # the engine failed on this call: record it, go on
        for i in live:
            rows[i]["error"] = _failed(entries[i], exc)
        return rows
    for i, pred in zip(live, preds):
        waited = waited_ms[i] if waited_ms else 0.0
        rows[i].update(pred=pred, t_pre_ms=(t1 - t0) * 1e3, t_infer_ms=(t2 - t1) * 1e3,
                       t_total_ms=(t3 - t0) * 1e3 + waited, batch_n=len(live),
                       queue_ms=waited if waited_ms else None, t_det_ms=adapter.stage_ms.get("det"),
                       t_rec_ms=adapter.stage_ms.get("rec"))
        if post is not None:
            t4 = clock()
            corrected = post(pred)
            rows[i].update(pred_grammar=corrected.text, grammar_far=int(corrected.far), t_post_ms=(clock() - t4) * 1e3)
    return rows


def _failed(entry: Entry, exc: Exception) -> str:
    return "%s, %s: %s: %s" % (entry.where, entry.sample_id, type(exc).__name__, exc)


Item = Tuple[int, Entry]  # pass index, sample
Row = Tuple[Item, Dict[str, Any]]


def feed(scenario: Scenario, adapter, items: List[Item], image_opts: Dict[str, Any], post=None,
         sleep: Callable[[float], None] = time.sleep) -> Iterator[Row]:
    """Each item with its row, as the scenario reads them."""
    size = scenario.batch if adapter.batches else 1
    if scenario.name != "multi-stream":
        for start in range(0, len(items), size):
            call = items[start:start + size]
            for item, row in zip(call, read_call(adapter, [e for _, e in call], image_opts, post)):
                yield item, row
        return
    waiting: "collections.deque[Tuple[Item, float]]" = collections.deque()  # item, arrival (s)
    period = scenario.period_ms / 1e3
    begun, tick, arrived = clock(), 0, 0
    while arrived < len(items) or waiting:
        now = clock() - begun
        while arrived < len(items) and tick * period <= now:  # every camera of this trigger
            for item in items[arrived:arrived + scenario.streams]:
                waiting.append((item, tick * period))
            arrived = min(len(items), arrived + scenario.streams)
            tick += 1
        if not waiting:
            sleep(max(0.0, tick * period - now))
            continue
        call = [waiting.popleft() for _ in range(min(size, len(waiting)))]
        start = clock() - begun
        rows = read_call(adapter, [e for (_, e), _ in call], image_opts, post,
                         [(start - arrival) * 1e3 for _, arrival in call])
        for (item, _), row in zip(call, rows):
            yield item, row


def warm(scenario: Scenario, adapter, entry: Entry, image_opts: Dict[str, Any], post=None) -> Optional[str]:
    """One warm-up call of the size the scenario will make; the error, if any."""
    size = scenario.batch if adapter.batches else 1
    rows = read_call(adapter, [entry] * size, image_opts, post)
    return next((row["error"] for row in rows if row["error"]), None)
