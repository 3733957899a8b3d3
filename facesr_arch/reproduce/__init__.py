"""Reproducing the papers' tables: the published numbers as data (``tables``) and the measurement of a table
with this plugin's test sets, inference and metrics (``runner``, ``scripts/reproduce.py``)."""
