"""Attune's GPU benchmark: the shipped PTX kernels against PyTorch on the same GPU, in one process.

Run it with ``bin/gpu-bench`` (or ``python3 -m attune_bench`` with this directory's parent on
``PYTHONPATH``). Only ``gpu_session`` and ``suites`` touch torch and the GPU, and they import
torch lazily: planning, the PTX checks and the report need nothing outside the standard library.
"""
