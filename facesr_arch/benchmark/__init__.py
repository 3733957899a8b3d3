"""Benchmarks of ``scripts/benchmark.py`` (never timed tests): ``models`` (parameters, FLOPs, latency, memory per
method, optimised paths, GFPGAN reference), ``training`` (training iterations through each method's own dataset
and BasicSR's dataloader), ``data`` (degradation pipelines and LMDB reads). Not imported by ``import facesr_arch``.
"""
