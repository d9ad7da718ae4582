"""Metric definitions (`define_metric`): checking a call into a `metric` record body, and folding
a run's records into its summary the way the definitions say (min/max/mean/best/first/last/none,
step_sync). Every reader that computes a summary (the Run, resume, the server, the stdout sink)
uses the same fold. Standard library only: the run API imports it.
"""
from __future__ import annotations

from .check import SUMMARY_OPS, check_definition, merge_definition
from .fold import MetricFold

__all__ = ["SUMMARY_OPS", "MetricFold", "check_definition", "merge_definition"]
