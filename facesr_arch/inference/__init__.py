"""Batch inference for every facesr_arch method: aligned faces or whole photos, from folders, files or LMDBs.

``specs`` says how each method is called, ``loading`` builds a trained network, ``runner`` restores in
batches and writes outputs, ``whole_image`` detects, aligns and pastes back faces, ``figures`` draws the
labelled strips and grids of the papers' qualitative figures, ``own_method`` declares how a user's own
architecture is fed (``register_method`` or an option file's ``inference:`` block).
"""
from .loading import build_network, network_config
from .own_method import register_method
from .runner import FaceRestorer, Summary, run_aligned, run_whole_images
from .specs import Controls, MethodSpec, get_spec

__all__ = ['Controls', 'FaceRestorer', 'MethodSpec', 'Summary', 'build_network', 'get_spec', 'network_config',
           'register_method', 'run_aligned', 'run_whole_images']
