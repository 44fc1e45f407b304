"""GPU time of one enqueued operation, from CUDA events on the benchmark's single stream.

A sample is the time between two events recorded around ``inner`` back-to-back calls, divided by
``inner``: the host enqueues the whole sample before the GPU finishes it, so the launch overhead
of Python (ours) and of PyTorch's dispatcher (theirs) is hidden behind the GPU work instead of
being measured as idle time, once a sample lasts well over a launch (``min_sample_ms``). The
figure reported is the median over samples.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass


@dataclass(frozen=True)
class Timing:
    median_ms: float
    min_ms: float
    samples_ms: tuple
    inner: int
    warmup: int

    def as_dict(self) -> dict:
        return {"median_ms": self.median_ms, "min_ms": self.min_ms, "samples_ms": list(self.samples_ms),
                "inner": self.inner, "warmup": self.warmup}


@dataclass(frozen=True)
class TimingPolicy:
    warmup: int = 2  # calls before timing; one only when a call takes longer than slow_ms
    target_s: float = 0.3  # GPU time to spend on the samples of one measurement
    min_samples: int = 3
    max_samples: int = 30
    min_sample_ms: float = 1.0  # calls per sample are raised until a sample lasts this long
    max_inner: int = 64
    slow_ms: float = 100.0


def measure(torch, stream, fn, policy: TimingPolicy) -> Timing:
    """Times ``fn`` (which enqueues GPU work on ``stream`` and returns at once)."""
    def event():
        return torch.cuda.Event(enable_timing=True)

    # The first warm-up call is timed too: it says how many more warm-ups and samples fit the budget.
    start, end = event(), event()
    start.record(stream)
    fn()
    end.record(stream)
    end.synchronize()
    estimate = max(start.elapsed_time(end), 1e-3)
    warmup = 1
    if estimate < policy.slow_ms:
        for _ in range(policy.warmup - 1):
            fn()
            warmup += 1
        start, end = event(), event()
        start.record(stream)
        fn()
        end.record(stream)
        end.synchronize()
        estimate = max(start.elapsed_time(end), 1e-3)
        warmup += 1

    inner = max(1, min(policy.max_inner, math.ceil(policy.min_sample_ms / estimate)))
    samples = math.ceil(policy.target_s * 1e3 / (estimate * inner))
    samples = max(policy.min_samples, min(policy.max_samples, samples))
    pairs = []
    for _ in range(samples):
        s, e = event(), event()
        s.record(stream)
        for _ in range(inner):
            fn()
        e.record(stream)
        pairs.append((s, e))
    stream.synchronize()
    times = tuple(s.elapsed_time(e) / inner for s, e in pairs)
    return Timing(statistics.median(times), min(times), times, inner, warmup)
