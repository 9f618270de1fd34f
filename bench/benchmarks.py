"""Benchmarks the harness runs about itself (report speed, telemetry overhead, FOTS
backbone cost) append one JSON line per measurement under ``results/benchmarks/``, with
when and on what machine it was taken, so that runs can be compared over time."""
import json
import os
import platform
import time
from typing import Any, Dict


def record(path: str, fields: Dict[str, Any]) -> Dict[str, Any]:
    """Append ``fields`` plus time and machine to the JSON-lines file ``path``; print it."""
    entry = dict(fields, when=time.strftime("%Y-%m-%dT%H:%M:%S%z"), machine=platform.machine(),
                 node=platform.node(), cpu_count=os.cpu_count(), python=platform.python_version())
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    with open(path, "a") as f:
        f.write(json.dumps(entry) + "\n")
    print(json.dumps(entry))
    return entry
