"""The names of a run's own files in its output folder; no clip may take one of them as its id."""

from __future__ import annotations

METRICS_FILE = "metrics.jsonl"
FAILURES_FILE = "failures.jsonl"
ERRORS_FILE = "errors.jsonl"
SUMMARY_JSON = "summary.json"
SUMMARY_CSV = "summary.csv"
RUN_CONFIG_FILE = "run_config.yaml"

RUN_FILES = (METRICS_FILE, FAILURES_FILE, ERRORS_FILE, SUMMARY_JSON, SUMMARY_CSV, RUN_CONFIG_FILE)
# a clip named after one of these would write ``<id>.json`` over the run's file, or be taken for it
RESERVED_IDS = tuple(sorted({name.split(".")[0] for name in RUN_FILES}))
