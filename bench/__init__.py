"""The harness: datasets, the runner and its per-cell workers, metrics, result files."""
