"""The GPU side of one benchmark run: PyTorch, the CUDA context and stream both sides share, the
shipped PTX modules loaded into that context, and the environment the report names.

Imports torch (and cupy, for ``--loader cupy``) when constructed, never at module import: the dry
run works without them.
"""

from __future__ import annotations

import datetime
import platform
import shutil
import subprocess
import time

from .cuda_driver import CudaError, make_loader
from .ptx import PtxError

TORCH_DTYPE_NAMES = {"fp32": "float32", "fp16": "float16", "bf16": "bfloat16"}


class ContextLost(RuntimeError):
    """A kernel fault left the CUDA context unusable; nothing more can run in this process."""


class GpuSession:
    def __init__(self, bundle, loader_kind: str):
        import torch  # the GPU machine has it; the dry run never gets here

        if not torch.cuda.is_available():
            raise RuntimeError("torch sees no CUDA device")
        self.torch = torch
        self.bundle = bundle
        torch.cuda.set_device(0)
        # First touch: PyTorch makes the primary context current on this thread; our modules load into it.
        torch.empty(1, device="cuda")
        torch.cuda.synchronize()
        self.loader = make_loader(loader_kind)
        self.loader.ensure_context()
        self.stream = torch.cuda.Stream()
        self.capability = torch.cuda.get_device_capability()
        free, total = torch.cuda.mem_get_info()
        self.free_bytes_at_start = free
        self.total_bytes = total
        self._modules = {}
        self._module_errors = {}
        self.module_load_s = {}
        self.kernel_attributes = {}

    @property
    def stream_handle(self) -> int:
        return self.stream.cuda_stream

    def dtype(self, name: str):
        return getattr(self.torch, TORCH_DTYPE_NAMES[name])

    def module(self, name: str):
        """The loaded module; loaded (and JIT-compiled by the driver) on first use. A module that
        failed to load raises the same CudaError every time it is asked for."""
        if name in self._module_errors:
            raise self._module_errors[name]
        if name not in self._modules:
            t0 = time.perf_counter()
            try:
                ptx = self.bundle.ptx_bytes(name)
            except PtxError as e:  # unreadable, or not the bytes the manifest names
                self._module_errors[name] = CudaError(f"PTX module {name}", -1, "not loaded", str(e))
                raise self._module_errors[name] from e
            try:
                self._modules[name] = self.loader.load(ptx, name)
            except CudaError as e:
                self._module_errors[name] = e
                raise
            self.module_load_s[name] = round(time.perf_counter() - t0, 3)
        return self._modules[name]

    def kernel(self, module_name: str, kernel_name: str):
        k = self.module(module_name).kernel(kernel_name)
        if kernel_name not in self.kernel_attributes:
            try:
                self.kernel_attributes[kernel_name] = k.attributes()
            except CudaError:
                self.kernel_attributes[kernel_name] = {}
        return k

    def synchronize_or_lost(self, after: str) -> None:
        """Waits for the stream; a sticky fault (illegal address, launch failure) becomes ContextLost."""
        try:
            self.stream.synchronize()
        except RuntimeError as e:
            raise ContextLost(f"the CUDA context failed after {after}: {e}") from e

    def healthy(self) -> bool:
        try:
            self.torch.cuda.synchronize()
            return True
        except RuntimeError:
            return False

    def release_cached(self) -> None:
        self.torch.cuda.synchronize()
        self.torch.cuda.empty_cache()

    def environment(self) -> dict:
        torch = self.torch
        props = torch.cuda.get_device_properties(0)
        driver_api = self.loader.driver_version()
        env = {
            "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
            "device": torch.cuda.get_device_name(0),
            "compute_capability": f"{self.capability[0]}.{self.capability[1]}",
            "sm_count": props.multi_processor_count,
            "memory_gib": round(self.total_bytes / 2 ** 30, 1),
            "driver": _nvidia_smi_driver() or "unknown",
            "driver_cuda": f"{driver_api // 1000}.{driver_api % 1000 // 10}",
            "torch": torch.__version__,
            "torch_cuda": torch.version.cuda,
            "cudnn": torch.backends.cudnn.version() if torch.backends.cudnn.is_available() else None,
            "python": platform.python_version(),
            "loader": self.loader.name,
            "ptx_dir": self.bundle.directory,
            "ptx_manifest": self.bundle.manifest_found,
            "ptx_modules": {name: {"ptxVersion": m.ptx_version, "target": m.target, "sha256": m.sha256[:16]}
                            for name, m in self.bundle.modules.items()},
            "module_jit_load_s": dict(self.module_load_s),
            "kernel_attributes": dict(self.kernel_attributes),
        }
        if self.loader.name == "cupy":
            import cupy
            env["cupy"] = cupy.__version__
        return env


def _nvidia_smi_driver():
    exe = shutil.which("nvidia-smi")
    if not exe:
        return None
    try:
        out = subprocess.run([exe, "--query-gpu=driver_version", "--format=csv,noheader", "-i", "0"],
                             capture_output=True, text=True, timeout=20, check=True)
        return out.stdout.strip().splitlines()[0] if out.stdout.strip() else None
    except (OSError, subprocess.SubprocessError):
        return None
