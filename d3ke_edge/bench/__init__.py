"""Benchmarks a user runs on their models: accuracy under test-time conditions (robustness) and latency.

``metrics.py`` holds the per-sequence error measures every benchmark reports (built on ``train.losses.metrics``).
"""
