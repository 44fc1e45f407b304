"""Loading the shipped PTX and launching its kernels through the CUDA driver API, in the process
and CUDA context PyTorch already uses, so our kernels and PyTorch's read the same device memory and
run on the same stream.

Two loaders, one interface:

* ``ctypes`` (default): ``libcuda.so.1`` called directly: ``cuModuleLoadDataEx`` with the JIT
  error log, ``cuModuleGetFunction``, ``cuFuncSetAttribute``, ``cuLaunchKernel``. Needs nothing
  but the driver.
* ``cupy``: the same driver calls through ``cupy.cuda.driver`` (``moduleLoadData``,
  ``moduleGetFunction``, ``funcSetAttribute``, ``launchKernel``).

Both load the PTX bytes exactly as shipped; the driver JIT-compiles them for the GPU it finds, as
it does for Attune's executors. Kernel arguments are packed here, by their C types, into the
``void** kernelParams`` array of ``cuLaunchKernel``: ``ptr`` is a 64-bit device address, ``i32``
an ``int``, ``f32`` a ``float``.

Context: PyTorch makes the device's primary context current on the calling thread when it first
touches the GPU; modules are loaded into that context (``ensure_context`` checks it is there).
Nothing here allocates device memory: tensors belong to PyTorch.
"""

from __future__ import annotations

import ctypes

CU_FUNC_ATTRIBUTE_MAX_THREADS_PER_BLOCK = 0
CU_FUNC_ATTRIBUTE_LOCAL_SIZE_BYTES = 3
CU_FUNC_ATTRIBUTE_NUM_REGS = 4
CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES = 8
CU_JIT_ERROR_LOG_BUFFER = 5
CU_JIT_ERROR_LOG_BUFFER_SIZE_BYTES = 6
STATIC_SHARED_LIMIT = 48 * 1024  # dynamic shared memory above this needs the opt-in attribute
_LOG_BYTES = 1 << 14


class CudaError(RuntimeError):
    def __init__(self, what: str, code: int, name: str, log: str = ""):
        super().__init__(f"{what}: {name} ({code})" + (f"\n{log}" if log else ""))
        self.code = code
        self.name = name


# Argument kinds of a kernel's parameter list.
def ptr(address: int):
    return ("ptr", int(address))


def i32(value: int):
    return ("i32", int(value))


def f32(value: float):
    return ("f32", float(value))


_CTYPE = {"ptr": ctypes.c_uint64, "i32": ctypes.c_int32, "f32": ctypes.c_float}


class PackedArgs:
    """A ``void*[]`` of pointers to each argument's value. Keeps the values alive with it."""

    def __init__(self, args):
        for kind, value in args:
            if kind == "i32" and not -(1 << 31) <= value < (1 << 31):
                raise OverflowError(f"kernel argument {value} does not fit an int")
        self._values = [_CTYPE[kind](value) for kind, value in args]
        self._array = (ctypes.c_void_p * max(1, len(self._values)))(*[ctypes.addressof(v) for v in self._values])

    @property
    def address(self) -> int:
        return ctypes.addressof(self._array)


class Kernel:
    """A function of a loaded module, ready to launch with a LaunchShape."""

    def __init__(self, loader, handle: int, name: str):
        self._loader = loader
        self.handle = handle
        self.name = name
        self._shared_opt_in = 0

    def prepare(self, shared_bytes: int) -> None:
        """Opt the kernel in to ``shared_bytes`` of dynamic shared memory when that is above 48 KiB."""
        if shared_bytes > STATIC_SHARED_LIMIT and shared_bytes > self._shared_opt_in:
            self._loader.set_attribute(self.handle, CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES, shared_bytes,
                                       f"{self.name}: opt in to {shared_bytes} bytes of dynamic shared memory")
            self._shared_opt_in = shared_bytes

    def launch(self, shape, stream_handle: int, packed: PackedArgs) -> None:
        if shape.kernel != self.name:
            raise ValueError(f"launch shape for {shape.kernel} given to kernel {self.name}")
        self.prepare(shape.shared_bytes)
        gx, gy, gz = shape.grid
        self._loader.launch(self.handle, gx, gy, gz, shape.block, shape.shared_bytes, stream_handle, packed.address,
                            self.name)

    def attributes(self) -> dict:
        return {"registers": self._loader.get_attribute(self.handle, CU_FUNC_ATTRIBUTE_NUM_REGS),
                "local_bytes": self._loader.get_attribute(self.handle, CU_FUNC_ATTRIBUTE_LOCAL_SIZE_BYTES),
                "max_threads": self._loader.get_attribute(self.handle, CU_FUNC_ATTRIBUTE_MAX_THREADS_PER_BLOCK)}


class Module:
    def __init__(self, loader, handle: int, name: str):
        self._loader = loader
        self.handle = handle
        self.name = name
        self._kernels = {}

    def kernel(self, name: str) -> Kernel:
        if name not in self._kernels:
            self._kernels[name] = Kernel(self._loader, self._loader.get_function(self.handle, name, self.name), name)
        return self._kernels[name]


class CtypesLoader:
    """The driver API through ctypes on libcuda.so.1."""

    name = "ctypes"

    def __init__(self):
        try:
            self._cu = ctypes.CDLL("libcuda.so.1")
        except OSError as e:
            raise CudaError("cannot load libcuda.so.1 (no NVIDIA driver?)", -1, str(e)) from e
        cu = self._cu
        cu.cuInit.argtypes = [ctypes.c_uint]
        cu.cuDriverGetVersion.argtypes = [ctypes.POINTER(ctypes.c_int)]
        cu.cuCtxGetCurrent.argtypes = [ctypes.POINTER(ctypes.c_void_p)]
        cu.cuGetErrorName.argtypes = [ctypes.c_int, ctypes.POINTER(ctypes.c_char_p)]
        cu.cuModuleLoadDataEx.argtypes = [ctypes.POINTER(ctypes.c_void_p), ctypes.c_char_p, ctypes.c_uint,
                                          ctypes.POINTER(ctypes.c_int), ctypes.POINTER(ctypes.c_void_p)]
        cu.cuModuleGetFunction.argtypes = [ctypes.POINTER(ctypes.c_void_p), ctypes.c_void_p, ctypes.c_char_p]
        cu.cuFuncSetAttribute.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.c_int]
        cu.cuFuncGetAttribute.argtypes = [ctypes.POINTER(ctypes.c_int), ctypes.c_int, ctypes.c_void_p]
        cu.cuLaunchKernel.argtypes = [ctypes.c_void_p, ctypes.c_uint, ctypes.c_uint, ctypes.c_uint, ctypes.c_uint,
                                      ctypes.c_uint, ctypes.c_uint, ctypes.c_uint, ctypes.c_void_p, ctypes.c_void_p,
                                      ctypes.c_void_p]
        for f in (cu.cuInit, cu.cuDriverGetVersion, cu.cuCtxGetCurrent, cu.cuGetErrorName, cu.cuModuleLoadDataEx,
                  cu.cuModuleGetFunction, cu.cuFuncSetAttribute, cu.cuFuncGetAttribute, cu.cuLaunchKernel):
            f.restype = ctypes.c_int
        self._check(cu.cuInit(0), "cuInit")

    def _error_name(self, code: int) -> str:
        s = ctypes.c_char_p()
        if self._cu.cuGetErrorName(code, ctypes.byref(s)) == 0 and s.value:
            return s.value.decode()
        return "CUDA_ERROR_UNKNOWN"

    def _check(self, code: int, what: str, log: str = "") -> None:
        if code != 0:
            raise CudaError(what, code, self._error_name(code), log)

    def driver_version(self) -> int:
        v = ctypes.c_int()
        self._check(self._cu.cuDriverGetVersion(ctypes.byref(v)), "cuDriverGetVersion")
        return v.value

    def ensure_context(self) -> None:
        ctx = ctypes.c_void_p()
        self._check(self._cu.cuCtxGetCurrent(ctypes.byref(ctx)), "cuCtxGetCurrent")
        if not ctx.value:
            raise CudaError("no CUDA context is current on this thread (touch the GPU with torch first)", 201,
                            "CUDA_ERROR_INVALID_CONTEXT")

    def load(self, ptx: bytes, module_name: str) -> Module:
        # The image must be NUL-terminated PTX text; the error log says which line the JIT rejects.
        image = ptx if ptx.endswith(b"\0") else ptx + b"\0"
        log = ctypes.create_string_buffer(_LOG_BYTES)
        options = (ctypes.c_int * 2)(CU_JIT_ERROR_LOG_BUFFER, CU_JIT_ERROR_LOG_BUFFER_SIZE_BYTES)
        values = (ctypes.c_void_p * 2)(ctypes.cast(log, ctypes.c_void_p), ctypes.c_void_p(_LOG_BYTES))
        handle = ctypes.c_void_p()
        code = self._cu.cuModuleLoadDataEx(ctypes.byref(handle), image, 2, options, values)
        self._check(code, f"loading PTX module {module_name}", log.value.decode(errors="replace").strip())
        return Module(self, handle.value, module_name)

    def get_function(self, module_handle: int, name: str, module_name: str) -> int:
        f = ctypes.c_void_p()
        self._check(self._cu.cuModuleGetFunction(ctypes.byref(f), module_handle, name.encode()),
                    f"kernel {name} of module {module_name}")
        return f.value

    def set_attribute(self, func: int, attribute: int, value: int, what: str) -> None:
        self._check(self._cu.cuFuncSetAttribute(func, attribute, value), what)

    def get_attribute(self, func: int, attribute: int) -> int:
        v = ctypes.c_int()
        self._check(self._cu.cuFuncGetAttribute(ctypes.byref(v), attribute, func), "cuFuncGetAttribute")
        return v.value

    def launch(self, func, gx, gy, gz, block, shared, stream, params_address, name) -> None:
        self._check(self._cu.cuLaunchKernel(func, gx, gy, gz, block, 1, 1, shared, stream, params_address, None),
                    f"launching {name} grid ({gx}, {gy}, {gz}) block {block} shared {shared}")


class CupyLoader:
    """The same driver calls through cupy.cuda.driver."""

    name = "cupy"

    def __init__(self):
        import cupy  # noqa: F401  (the GPU machine has it; imported only when asked for)
        from cupy.cuda import driver
        self._driver = driver
        self._cupy = cupy

    def driver_version(self) -> int:
        return int(self._cupy.cuda.runtime.driverGetVersion())

    def ensure_context(self) -> None:
        if not self._driver.ctxGetCurrent():
            raise CudaError("no CUDA context is current on this thread (touch the GPU with torch first)", 201,
                            "CUDA_ERROR_INVALID_CONTEXT")

    def _wrap(self, what: str, call):
        try:
            return call()
        except self._driver.CUDADriverError as e:
            raise CudaError(what, getattr(e, "status", -1), str(e)) from e

    def load(self, ptx: bytes, module_name: str) -> Module:
        image = ptx if ptx.endswith(b"\0") else ptx + b"\0"
        handle = self._wrap(f"loading PTX module {module_name}", lambda: self._driver.moduleLoadData(image))
        return Module(self, handle, module_name)

    def get_function(self, module_handle: int, name: str, module_name: str) -> int:
        return self._wrap(f"kernel {name} of module {module_name}",
                          lambda: self._driver.moduleGetFunction(module_handle, name))

    def set_attribute(self, func: int, attribute: int, value: int, what: str) -> None:
        self._wrap(what, lambda: self._driver.funcSetAttribute(func, attribute, value))

    def get_attribute(self, func: int, attribute: int) -> int:
        return self._wrap("cuFuncGetAttribute", lambda: self._driver.funcGetAttribute(attribute, func))

    def launch(self, func, gx, gy, gz, block, shared, stream, params_address, name) -> None:
        self._wrap(f"launching {name} grid ({gx}, {gy}, {gz}) block {block} shared {shared}",
                   lambda: self._driver.launchKernel(func, gx, gy, gz, block, 1, 1, shared, stream, params_address,
                                                     0))


def make_loader(kind: str):
    if kind == "ctypes":
        return CtypesLoader()
    if kind == "cupy":
        return CupyLoader()
    raise ValueError(f"unknown loader {kind!r}; ctypes or cupy")
