"""Timing and peak-memory measurement shared by the model and training benchmarks."""
import threading
import time

import psutil
import torch


def sync_device(device):
    """Wait for the device's queued work (CUDA); nothing on CPU."""
    if device.type == 'cuda':
        torch.cuda.synchronize(device)


class PeakMemory:
    """Peak memory above the level at entry: CUDA max allocated, or process RSS sampled every 2 ms on CPU.

    Attributes:
        peak_mb (float): Peak increase in MiB, set on exit.
    """

    def __init__(self, device):
        self.device = device
        self.peak_mb = 0.0

    def __enter__(self):
        if self.device.type == 'cuda':
            torch.cuda.synchronize(self.device)
            torch.cuda.reset_peak_memory_stats(self.device)
            self._base = torch.cuda.memory_allocated(self.device)
        else:
            self._process = psutil.Process()
            self._base = self._peak = self._process.memory_info().rss
            self._stop = threading.Event()
            self._thread = threading.Thread(target=self._sample, daemon=True)
            self._thread.start()
        return self

    def _sample(self):
        while not self._stop.wait(0.002):
            self._peak = max(self._peak, self._process.memory_info().rss)

    def __exit__(self, *exc):
        if self.device.type == 'cuda':
            torch.cuda.synchronize(self.device)
            peak = torch.cuda.max_memory_allocated(self.device)
        else:
            self._stop.set()
            self._thread.join()
            peak = max(self._peak, self._process.memory_info().rss)
        self.peak_mb = (peak - self._base) / 2**20


def time_calls(fn, device, warmup, repeats):
    """Seconds of each of ``repeats`` calls of ``fn`` after ``warmup`` untimed ones (device synchronised)."""
    for _ in range(warmup):
        fn()
    sync_device(device)
    seconds = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        sync_device(device)
        seconds.append(time.perf_counter() - start)
    return seconds
