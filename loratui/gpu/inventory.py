"""What GPUs this machine has and how busy they are: the inventory interface, NVML, and a fake test device.

``Inventory.snapshot()`` returns one ``GpuInfo`` per GPU, ordered by index. Two implementations:

- ``NvmlInventory`` reads NVIDIA's management library through ``pynvml`` (package ``nvidia-ml-py``). No
  library, no driver or no GPU is a normal state: the snapshot is empty and ``status`` says why.
- ``FakeInventory`` is a test and demo device, never presented as real: every name starts with ``FAKE``
  and ``kind`` is ``"fake"``. It is chosen by ``$LORATUI_FAKE_GPUS`` (or ``[gpus] fake`` in config.toml):
  ``"8"`` (eight 24 GiB GPUs), ``"4x81920"`` (four of 81920 MiB), or the path of a JSON file re-read on every
  snapshot (``{"gpus": [{"name", "memory_total", "memory_used", "utilization", "temperature",
  "processes": [[pid, bytes], ...]}]}``; memory in bytes), so a test can change what the GPUs report.

NVML indexes GPUs in PCI bus order; CUDA does too when ``CUDA_DEVICE_ORDER=PCI_BUS_ID``, which is how loratui
pins trainers (``loratui.gpu.pinning``).
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Protocol

FAKE_ENV = "LORATUI_FAKE_GPUS"
MIB = 1 << 20
GIB = 1 << 30
FAKE_DEFAULT_MEMORY = 24 * GIB


@dataclass
class GpuInfo:
    """One GPU as the inventory saw it (memory in bytes; utilisation in percent; temperature in °C)."""

    index: int
    uuid: str
    name: str
    memory_total: int
    memory_used: int
    utilization: int | None = None
    temperature: int | None = None
    processes: list[tuple[int, int | None]] = field(default_factory=list)
    """(pid, GPU memory it uses or None where the driver does not say) of the compute processes on it."""

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready view."""
        data = asdict(self)
        data["processes"] = [list(p) for p in self.processes]
        return data


class Inventory(Protocol):
    """Anything that can list the GPUs: ``snapshot()``, with ``kind`` ('nvml' or 'fake') and ``status``."""

    kind: str
    status: str
    """Why the snapshot is empty (no library, no driver, no GPU), or a short description of what was found."""

    def snapshot(self) -> list[GpuInfo]:
        """The GPUs now, ordered by index (empty when there are none)."""
        ...


def _text(value: Any) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


class NvmlInventory:
    """GPUs through NVML. Each snapshot initialises and shuts NVML down again (cheap, and nothing is held)."""

    kind = "nvml"

    def __init__(self) -> None:
        self.status = "not read yet"

    def snapshot(self) -> list[GpuInfo]:
        """The GPUs NVML reports; empty (``status`` says why) without the library, the driver or a GPU."""
        try:
            import pynvml
        except ImportError:
            self.status = "no NVML bindings (pip install nvidia-ml-py)"
            return []
        try:
            pynvml.nvmlInit()
        except pynvml.NVMLError as exc:
            self.status = f"no NVIDIA GPU / driver ({_text(exc)})"
            return []
        try:
            count = pynvml.nvmlDeviceGetCount()
            gpus = [self._read(pynvml, index) for index in range(count)]
        except pynvml.NVMLError as exc:
            self.status = f"NVML error: {_text(exc)}"
            return []
        finally:
            try:
                pynvml.nvmlShutdown()
            except pynvml.NVMLError:
                pass
        self.status = f"{len(gpus)} GPU(s) through NVML" if gpus else "no NVIDIA GPU (the driver reports none)"
        return gpus

    @staticmethod
    def _read(pynvml: Any, index: int) -> GpuInfo:
        handle = pynvml.nvmlDeviceGetHandleByIndex(index)
        memory = pynvml.nvmlDeviceGetMemoryInfo(handle)

        def optional(call, *args):
            try:
                return call(handle, *args)
            except pynvml.NVMLError:  # not supported on this GPU (utilisation on some, temperature on vGPUs)
                return None

        rates = optional(pynvml.nvmlDeviceGetUtilizationRates)
        temperature = optional(pynvml.nvmlDeviceGetTemperature, pynvml.NVML_TEMPERATURE_GPU)
        processes = optional(pynvml.nvmlDeviceGetComputeRunningProcesses) or []
        return GpuInfo(
            index=index, uuid=_text(pynvml.nvmlDeviceGetUUID(handle)), name=_text(pynvml.nvmlDeviceGetName(handle)),
            memory_total=int(memory.total), memory_used=int(memory.used),
            utilization=int(rates.gpu) if rates is not None else None,
            temperature=int(temperature) if temperature is not None else None,
            processes=[(int(p.pid), int(p.usedGpuMemory) if isinstance(p.usedGpuMemory, int) else None)
                       for p in processes])


class FakeInventory:
    """A test/demo device (see the module docstring); its GPUs are named ``FAKE ...`` and never taken for real."""

    kind = "fake"

    def __init__(self, spec: str) -> None:
        self.spec = spec.strip()
        self.status = f"FAKE test/demo GPUs ({FAKE_ENV}={self.spec})"

    def snapshot(self) -> list[GpuInfo]:
        """The GPUs the spec describes."""
        count, memory = _count_spec(self.spec)
        if count is not None:
            return [GpuInfo(i, f"GPU-fake-{i:04d}", "FAKE test GPU", memory, 0, 0, 30) for i in range(count)]
        try:
            data = json.loads(Path(self.spec).expanduser().read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            self.status = f"FAKE GPU spec {self.spec!r} unreadable: {exc}"
            return []
        gpus = []
        for index, gpu in enumerate(data.get("gpus", [])):
            name = str(gpu.get("name") or "test GPU")
            gpus.append(GpuInfo(
                index, str(gpu.get("uuid") or f"GPU-fake-{index:04d}"),
                name if name.startswith("FAKE") else f"FAKE {name}",
                int(gpu.get("memory_total", FAKE_DEFAULT_MEMORY)), int(gpu.get("memory_used", 0)),
                gpu.get("utilization"), gpu.get("temperature"),
                [(int(pid), None if used is None else int(used)) for pid, used in gpu.get("processes", [])]))
        return gpus


def _count_spec(spec: str) -> tuple[int | None, int]:
    """("8" -> 8 GPUs of 24 GiB; "4x81920" -> 4 of 81920 MiB); (None, 0) when the spec is a file path."""
    count, _, mib = spec.partition("x")
    if count.isdigit() and (not mib or mib.isdigit()):
        return int(count), int(mib) * MIB if mib else FAKE_DEFAULT_MEMORY
    return None, 0


def open_inventory(fake_spec: str = "", environ: dict[str, str] | None = None) -> Inventory:
    """The inventory to use: the fake test device when ``$LORATUI_FAKE_GPUS`` (or `fake_spec`, the config's
    ``[gpus] fake``) names one, else NVML."""
    environ = os.environ if environ is None else environ
    spec = environ.get(FAKE_ENV) or fake_spec
    return FakeInventory(spec) if spec else NvmlInventory()


def parse_ids(text: str | int | None) -> list[int]:
    """GPU indices of ``gpu_ids``-style text ("0,1" -> [0, 1]; empty -> [])."""
    if text is None:
        return []
    return [int(part) for part in str(text).replace(" ", "").split(",") if part != ""]


def format_ids(ids: list[int]) -> str:
    """[0, 1] -> "0,1"."""
    return ",".join(str(i) for i in ids)
