"""Benchmarks, as JSON (never run as tests): ``facesr_arch/cli/benchmark.py``."""
import _light

if __name__ == '__main__':
    _light.run_command('benchmark')
