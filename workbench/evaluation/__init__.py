"""Evaluation: base against tuned on held-out data (loss, text and task metrics), the forgetting probe, and
the optional pairwise judge; the offline metric modules live in ``metrics/``.
"""
