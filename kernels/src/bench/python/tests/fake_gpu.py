"""A stand-in for torch and the CUDA driver, on numpy, for the control-flow test of a whole run.

It says nothing about GPUs: it lets the harness's GPU-only code (session, suites, timing, report)
run end to end on a machine without one, with "kernels" that compute on host memory what the ABI
in kernels/src/main/cuda/README.md says the real ones compute. Kernel arguments are decoded from
the very ``void**`` arrays the harness builds, and device pointers are real host addresses of
numpy buffers, so a wrong argument order or a wrong pointer shows up as a wrong result.
"""

from __future__ import annotations

import contextlib
import ctypes
import sys
import time
import types
import warnings

import numpy as np

_REGISTRY = {}  # address of a buffer's first element -> the numpy array


def _register(arr: np.ndarray) -> np.ndarray:
    _REGISTRY[arr.__array_interface__["data"][0]] = arr
    return arr


class DType:
    def __init__(self, name, np_type):
        self.name, self.np = name, np_type

    def __repr__(self):
        return f"torch.{self.name}"


float32 = DType("float32", np.float32)
float16 = DType("float16", np.float32)  # stored in fp32: rounding is not what this test is about
bfloat16 = DType("bfloat16", np.float32)
int32 = DType("int32", np.int32)


class Tensor:
    def __init__(self, arr, dtype):
        self.a, self.dtype = arr, dtype

    # views and copies
    def view(self, *shape):
        return Tensor(self.a.reshape(shape), self.dtype)

    def transpose(self, i, j):
        return Tensor(np.swapaxes(self.a, i, j), self.dtype)

    def reshape(self, *shape):
        return Tensor(np.ascontiguousarray(self.a).reshape(shape), self.dtype)

    def t(self):
        return Tensor(self.a.T, self.dtype)

    def float(self):
        return Tensor(self.a.astype(np.float32), float32)

    def to(self, dtype):
        return Tensor(_register(np.ascontiguousarray(self.a.astype(dtype.np))), dtype)

    # arithmetic used by the harness
    def __sub__(self, o):
        return Tensor(self.a - o.a, self.dtype)

    def __mul__(self, s):
        return Tensor(_register((self.a * s).astype(self.a.dtype)), self.dtype)

    def __invert__(self):
        return Tensor(~self.a, self.dtype)

    def abs(self):
        return Tensor(np.abs(self.a), self.dtype)

    def max(self):
        return Tensor(np.array(self.a.max()), self.dtype)

    def sum(self):
        return Tensor(np.array(self.a.sum()), self.dtype)

    def norm(self):
        return Tensor(np.array(np.sqrt((self.a.astype(np.float64) ** 2).sum())), self.dtype)

    def item(self):
        return self.a.item()

    def numel(self):
        return self.a.size

    def fill_(self, value):
        self.a.fill(value)
        return self

    def data_ptr(self):
        return self.a.__array_interface__["data"][0]


def _new(arr, dtype):
    return Tensor(_register(np.ascontiguousarray(arr.astype(dtype.np))), dtype)


class Generator:
    def __init__(self, device=None):
        self.rng = np.random.default_rng(0)

    def manual_seed(self, seed):
        self.rng = np.random.default_rng(seed)


def randn(shape, generator=None, device=None, dtype=float32):
    return _new((generator.rng if generator else np.random.default_rng()).standard_normal(shape), dtype)


def empty(shape, device=None, dtype=float32):
    return _new(np.zeros(shape), dtype)


def full(shape, value, device=None, dtype=float32):
    return _new(np.full(shape, value), dtype)


def arange(start, stop, step, device=None, dtype=int32):
    return _new(np.arange(start, stop, step), dtype)


def isfinite(t):
    return Tensor(np.isfinite(t.a), t.dtype)


def matmul(a, b):
    return _new(a.a.astype(np.float64) @ b.a.astype(np.float64), a.dtype)


def _attention(q, k, v, scale, causal):  # (..., N, d)
    s = np.einsum("...id,...jd->...ij", q.astype(np.float64), k.astype(np.float64)) * scale
    if causal:
        n = s.shape[-1]
        s = np.where(np.tril(np.ones((n, n), dtype=bool)), s, -np.inf)
    p = np.exp(s - s.max(-1, keepdims=True))
    p /= p.sum(-1, keepdims=True)
    return p @ v.astype(np.float64)


# torch.nn.attention: EFFICIENT_ATTENTION "has no kernel", CUDNN_ATTENTION does not exist here.
class SDPBackend:
    FLASH_ATTENTION = "flash"
    EFFICIENT_ATTENTION = "efficient"
    MATH = "math"


_backend = [None]


@contextlib.contextmanager
def sdpa_kernel(backend):
    _backend.append(backend)
    try:
        yield
    finally:
        _backend.pop()


def scaled_dot_product_attention(q, k, v, is_causal=False, scale=None):
    if _backend[-1] == SDPBackend.EFFICIENT_ATTENTION:
        warnings.warn("Memory efficient kernel not used because: fake torch has none")
        raise RuntimeError("No available kernel. Aborting execution.")
    return _new(_attention(q.a, k.a, v.a, scale, is_causal), q.dtype)


# torch.cuda
class Stream:
    cuda_stream = 0x5EED

    def synchronize(self):
        pass


class Event:
    def __init__(self, enable_timing=False):
        self.t = None

    def record(self, stream=None):
        self.t = time.perf_counter()

    def synchronize(self):
        pass

    def elapsed_time(self, end):
        return max((end.t - self.t) * 1e3, 1e-4)


class _Props:
    multi_processor_count = 132


def _cuda_module():
    cuda = types.ModuleType("torch.cuda")
    cuda.is_available = lambda: True
    cuda.set_device = lambda i: None
    cuda.synchronize = lambda: None
    cuda.Stream = Stream
    cuda.Event = Event
    cuda.get_device_capability = lambda i=0: (9, 0)
    cuda.mem_get_info = lambda: (70 * 2 ** 30, 80 * 2 ** 30)
    cuda.get_device_properties = lambda i: _Props()
    cuda.get_device_name = lambda i=0: "Fake GPU (numpy)"
    cuda.empty_cache = lambda: None
    cuda.stream = lambda s: contextlib.nullcontext()
    return cuda


def install():
    """Puts this fake in sys.modules as torch (and torch.nn.attention); returns the old entries."""
    torch = types.ModuleType("torch")
    for name in ("float32", "float16", "bfloat16", "int32", "Generator", "randn", "empty", "full", "arange",
                 "isfinite", "matmul"):
        setattr(torch, name, globals()[name])
    torch.__version__ = "0.0-fake"
    torch.cuda = _cuda_module()
    torch.version = types.SimpleNamespace(cuda="0.0")
    torch.backends = types.SimpleNamespace(cudnn=types.SimpleNamespace(is_available=lambda: False,
                                                                       version=lambda: None))
    nn = types.ModuleType("torch.nn")
    nn.functional = types.SimpleNamespace(scaled_dot_product_attention=scaled_dot_product_attention)
    attention = types.ModuleType("torch.nn.attention")
    attention.SDPBackend = SDPBackend
    attention.sdpa_kernel = sdpa_kernel
    nn.attention = attention
    torch.nn = nn
    names = ("torch", "torch.nn", "torch.nn.attention", "torch.cuda")
    saved = {n: sys.modules.get(n) for n in names}
    sys.modules.update({"torch": torch, "torch.nn": nn, "torch.nn.attention": attention, "torch.cuda": torch.cuda})
    return saved


def uninstall(saved):
    for name, module in saved.items():
        if module is None:
            sys.modules.pop(name, None)
        else:
            sys.modules[name] = module


# ─── the driver and the kernels ─────────────────────────────────────────────────────────────────
_FUSED = "pppppiiiiifi"
SIGNATURES = {"flash_sm80_fwd": _FUSED, "flash_sm75_fwd": _FUSED, "mem_efficient_fwd": _FUSED,
              "math_scores": "ppppiiiiiiiifi", "math_softmax": "ppiiiii", "math_pv": "ppppiiiiiiii",
              "gemm_": "ppppiiii"}


def _decode(name, address):
    sig = next(s for prefix, s in SIGNATURES.items() if name.startswith(prefix))
    slots = (ctypes.c_void_p * len(sig)).from_address(address)
    kinds = {"p": ctypes.c_uint64, "i": ctypes.c_int32, "f": ctypes.c_float}
    return [kinds[c].from_address(slots[i]).value for i, c in enumerate(sig)]


def _buf(ptr):
    return _REGISTRY[ptr].reshape(-1)


class FakeLoader:
    """The CtypesLoader interface; a kernel named in ``wrong`` drops its last key of every row."""

    name = "fake"

    def __init__(self, wrong=()):
        self.wrong = set(wrong)
        self.launches = []
        self.opt_ins = {}

    def driver_version(self):
        return 13000

    def ensure_context(self):
        pass

    def load(self, ptx, module_name):
        from attune_bench.cuda_driver import Module
        assert ptx.endswith(b"\n") or ptx.endswith(b"}") or ptx, "PTX bytes as shipped"
        return Module(self, hash(module_name) & 0xFFFF, module_name)

    def get_function(self, module_handle, name, module_name):
        return name

    def set_attribute(self, func, attribute, value, what):
        self.opt_ins[func] = value

    def get_attribute(self, func, attribute):
        return 64

    def launch(self, func, gx, gy, gz, block, shared, stream, params_address, name):
        assert stream == Stream.cuda_stream, "every launch goes to the benchmark's stream"
        if shared > 48 * 1024:
            assert self.opt_ins.get(func, 0) >= shared, f"{name}: {shared} bytes without the opt-in"
        args = _decode(name, params_address)
        self.launches.append((name, (gx, gy, gz), block, shared))
        if name.startswith(("flash", "mem_efficient")):
            self._fused(name, (gx, gy, gz), *args)
        elif name.startswith("math_scores"):
            self._scores(*args)
        elif name == "math_softmax":
            self._softmax(*args)
        elif name.startswith("math_pv"):
            self._pv(*args)
        else:
            self._gemm(*args)

    def _fused(self, name, grid, q, k, v, o, cu, heads, d, qs, kvs, os_, scale, causal):
        cu = _buf(cu)
        batch = len(cu) - 1
        assert grid[1] == heads and grid[2] == batch
        for b in range(batch):
            lo, hi = int(cu[b]), int(cu[b + 1])
            qq = _buf(q).reshape(-1, qs)[lo:hi, :heads * d].reshape(hi - lo, heads, d).transpose(1, 0, 2)
            kk = _buf(k).reshape(-1, kvs)[lo:hi, :heads * d].reshape(hi - lo, heads, d).transpose(1, 0, 2)
            vv = _buf(v).reshape(-1, kvs)[lo:hi, :heads * d].reshape(hi - lo, heads, d).transpose(1, 0, 2)
            out = _attention(qq, kk, vv, scale, causal)
            if name in self.wrong:
                out = out * 0.9
            _buf(o).reshape(-1, os_)[lo:hi, :heads * d] = out.transpose(1, 0, 2).reshape(hi - lo, heads * d)

    def _scores(self, q, k, s, cu, batch, heads, d, qs, kvs, max_n, begin, count, scale, causal):
        cu = _buf(cu)
        scores = _buf(s)[:batch * heads * count * max_n].reshape(batch, heads, count, max_n)
        for b in range(batch):
            lo, n = int(cu[b]), int(cu[b + 1] - cu[b])
            rows = max(0, min(count, n - begin))  # queries of this chunk inside the row
            if rows == 0:
                continue
            qq = _buf(q).reshape(-1, qs)[lo + begin:lo + begin + rows, :heads * d].reshape(rows, heads, d)
            kk = _buf(k).reshape(-1, kvs)[lo:lo + n, :heads * d].reshape(n, heads, d)
            logits = np.full((heads, rows, max_n), -np.inf)
            logits[:, :, :n] = scale * np.einsum("yhd,jhd->hyj", qq.astype(np.float64), kk)
            if causal:
                pos = begin + np.arange(rows)[:, None]
                logits[:, :, :n] = np.where(np.arange(n)[None, :] <= pos, logits[:, :, :n], -np.inf)
            scores[b, :, :rows] = logits

    def _softmax(self, s, cu, batch, heads, max_n, begin, count):
        cu = _buf(cu)
        scores = _buf(s)[:batch * heads * count * max_n].reshape(batch, heads, count, max_n)
        for b in range(batch):
            n = int(cu[b + 1] - cu[b])
            rows = scores[b, :, :max(0, min(count, n - begin))]
            e = np.exp(rows - rows.max(-1, keepdims=True))
            rows[...] = e / e.sum(-1, keepdims=True)

    def _pv(self, s, v, o, cu, batch, heads, d, kvs, os_, max_n, begin, count):
        cu = _buf(cu)
        scores = _buf(s)[:batch * heads * count * max_n].reshape(batch, heads, count, max_n)
        for b in range(batch):
            lo, n = int(cu[b]), int(cu[b + 1] - cu[b])
            vv = _buf(v).reshape(-1, kvs)[lo:lo + n, :heads * d].reshape(n, heads, d)
            for y in range(max(0, min(count, n - begin))):
                row = (np.einsum("hj,jhd->hd", scores[b, :, y, :n], vv)).reshape(heads * d)
                _buf(o).reshape(-1, os_)[lo + begin + y, :heads * d] = row

    def _gemm(self, a, w, bias, c, m, n, k, epilogue):
        assert bias == 0 and epilogue == 0
        _buf(c)[:m * n] = (_buf(a)[:m * k].reshape(m, k) @ _buf(w)[:n * k].reshape(n, k).T).reshape(-1)
