"""The shipped PTX: ``<module>.ptx`` files and their ``manifest.json`` (written by
``kernels/src/main/cuda/build-ptx.sh``; read on the Java side by ``dev.attune.kernels.ptx.ShippedPtx``).

The benchmark loads these files exactly as shipped, so what it measures is what executors run.
Standard library only: the dry run reads them on machines without a GPU.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from dataclasses import dataclass, field

MANIFEST_FILE = "manifest.json"
MANIFEST_FORMAT = 1


class PtxMissing(Exception):
    """The PTX directory or its manifest is absent: the PTX has not been built into this tree."""


class PtxError(Exception):
    """The manifest or a PTX file is unreadable or disagrees with itself."""


@dataclass(frozen=True)
class PtxModule:
    name: str
    path: str
    sha256: str  # from the manifest; "" when read without one
    ptx_version: str
    target: str
    min_driver_version: int  # cuDriverGetVersion form, e.g. 11000; 0 when unknown
    entries: dict = field(default_factory=dict)  # entry name -> .maxntid tuple (empty when undeclared)

    def max_threads(self, kernel: str):
        """The product of the kernel's .maxntid, or None when it declares none."""
        ntid = self.entries.get(kernel)
        if not ntid:
            return None
        total = 1
        for n in ntid:
            total *= n
        return total


_ENTRY = re.compile(r"\.entry\s+([A-Za-z_$%][A-Za-z0-9_$]*)")
_MAXNTID = re.compile(r"\.maxntid\s+([0-9][0-9,\s]*)")
_VERSION = re.compile(r"^\.version\s+([0-9.]+)", re.M)
_TARGET = re.compile(r"^\.target\s+([A-Za-z0-9_]+)", re.M)


def entries_of(ptx_text: str) -> dict:
    """Every .entry of a PTX text with its .maxntid, as build-ptx.sh's ``entries_of`` reads them:
    performance directives sit between the parameter list and the opening brace of the body."""
    entries = {}
    name = None
    ntid = ()
    for line in ptx_text.splitlines():
        stripped = line.strip()
        if stripped.startswith("//"):
            continue
        if name is None:
            m = _ENTRY.search(line)
            if not m:
                continue
            name, ntid = m.group(1), ()
        m = _MAXNTID.search(line)
        if m:
            ntid = tuple(int(x) for x in re.split(r"[,\s]+", m.group(1).strip()) if x)
        if "{" in line:
            entries[name] = ntid
            name = None
    return entries


class PtxBundle:
    """The PTX modules of one directory, described by its manifest.

    Without a manifest (``allow_no_manifest``), the ``*.ptx`` files are read on their own: entries
    and versions come from the text, and no hash is checked.
    """

    def __init__(self, directory: str, modules: dict, manifest_found: bool):
        self.directory = directory
        self.modules = modules
        self.manifest_found = manifest_found

    @staticmethod
    def load(directory: str, allow_no_manifest: bool = False) -> "PtxBundle":
        if not os.path.isdir(directory):
            raise PtxMissing(f"no PTX directory {directory}: the shipped PTX has not been built into this tree "
                             "(kernels/src/main/cuda/build-ptx.sh writes it), or --ptx-dir points elsewhere")
        manifest_path = os.path.join(directory, MANIFEST_FILE)
        if not os.path.isfile(manifest_path):
            ptx_files = sorted(f for f in os.listdir(directory) if f.endswith(".ptx"))
            if not ptx_files:
                raise PtxMissing(f"{directory} holds neither {MANIFEST_FILE} nor any .ptx file: build the PTX with "
                                 "kernels/src/main/cuda/build-ptx.sh")
            if not allow_no_manifest:
                raise PtxMissing(f"{directory} has PTX files but no {MANIFEST_FILE}: rebuild with "
                                 "kernels/src/main/cuda/build-ptx.sh (or pass --no-manifest to read the .ptx alone)")
            modules = {}
            for f in ptx_files:
                path = os.path.join(directory, f)
                text = _read_text(path)
                name = f[:-len(".ptx")]
                modules[name] = PtxModule(name, path, "", _first(_VERSION, text), _first(_TARGET, text), 0,
                                          entries_of(text))
            return PtxBundle(directory, modules, manifest_found=False)

        try:
            with open(manifest_path, "r", encoding="utf-8") as fh:
                root = json.load(fh)
        except (OSError, ValueError) as e:
            raise PtxError(f"cannot read {manifest_path}: {e}") from e
        if root.get("format") != MANIFEST_FORMAT:
            raise PtxError(f"{manifest_path} has format {root.get('format')!r}; this harness reads format "
                           f"{MANIFEST_FORMAT}")
        listed = root.get("modules")
        if not isinstance(listed, list) or not listed:
            raise PtxError(f"{manifest_path} lists no modules")
        modules = {}
        for node in listed:
            try:
                name, file_name = node["module"], node["file"]
                if "/" in file_name or "\\" in file_name:
                    raise PtxError(f"{manifest_path}: module {name} names a file outside its directory: {file_name}")
                entries = {e["name"]: tuple(e.get("maxntid") or ()) for e in node.get("entries", [])}
                module = PtxModule(name, os.path.join(directory, file_name), node["ptxSha256"], node["ptxVersion"],
                                   node["target"], int(node["minDriverVersion"]), entries)
            except (KeyError, TypeError, ValueError) as e:
                raise PtxError(f"{manifest_path}: bad module entry {node.get('module') if isinstance(node, dict) else node!r}: "
                               f"{e!r}") from e
            if name in modules:
                raise PtxError(f"{manifest_path} lists module {name} twice")
            modules[name] = module
        return PtxBundle(directory, modules, manifest_found=True)

    def module(self, name: str) -> PtxModule:
        if name not in self.modules:
            raise PtxError(f"no PTX module {name!r} in {self.directory}; modules: {', '.join(self.modules)}")
        return self.modules[name]

    def ptx_bytes(self, name: str) -> bytes:
        """The module's PTX, byte for byte as shipped, after checking it against the manifest's hash."""
        module = self.module(name)
        try:
            with open(module.path, "rb") as fh:
                data = fh.read()
        except OSError as e:
            raise PtxError(f"PTX module {name}: cannot read {module.path}: {e}") from e
        if module.sha256:
            actual = hashlib.sha256(data).hexdigest()
            if actual != module.sha256:
                raise PtxError(f"PTX module {name}: {module.path} has SHA-256 {actual} but the manifest says "
                               f"{module.sha256}; rebuild with build-ptx.sh")
        return data

    def check_launch(self, module_name: str, kernel: str, threads: int):
        """None when the module ships ``kernel`` and its .maxntid admits exactly ``threads``;
        otherwise why the launch must not be made."""
        module = self.modules.get(module_name)
        if module is None:
            return f"module {module_name} is not shipped"
        if kernel not in module.entries:
            return f"{module_name}.ptx has no entry {kernel}"
        declared = module.max_threads(kernel)
        if declared is not None and declared != threads:
            # The launch classes and __launch_bounds__ disagree: a launch with fewer threads than the
            # kernel was written for leaves work undone, one with more is refused by the driver.
            return f"{kernel} declares .maxntid {module.entries[kernel]} but the launch shape has {threads} threads"
        return None


def _read_text(path: str) -> str:
    try:
        with open(path, "r", encoding="utf-8") as fh:
            return fh.read()
    except OSError as e:
        raise PtxError(f"cannot read {path}: {e}") from e


def _first(pattern, text: str) -> str:
    m = pattern.search(text)
    return m.group(1) if m else "?"
