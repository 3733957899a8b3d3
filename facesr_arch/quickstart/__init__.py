"""The quick start: a small configuration of each method, trained on a CPU in minutes and compared with the
bicubic-upsampled (or degraded) input on held-out faces.

``options`` reads the quick-start option files (``options/train/<Method>/quickstart_*.yml``) and points them at
the faces of a run (its top level imports the standard library only: command lines list the methods before
torch is imported); ``faces`` makes, splits and packs the faces; ``heldout`` restores the held-out faces with the
trained checkpoint, scores them with the metrics report of ``calculate_metrics`` and draws the comparison
figure. ``facesr_arch.cli.demo`` (``make demo``) runs the whole chain.
"""
