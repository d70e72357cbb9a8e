"""How much memory this instance has: the adapter behind the plan step's memory check.

A Flex Consumption instance (2048 or 4096 MB) is a Linux container whose memory limit is its cgroup's:
``memory.max`` under cgroup v2 (``max`` = no limit), ``memory.limit_in_bytes`` under cgroup v1 (an
unlimited group shows a number near 2**63). Without a cgroup limit the machine's ``MemTotal`` bounds the
process; a cgroup limit above ``MemTotal`` is bounded by it too. Nothing readable (another operating
system): ``None``, and the check is skipped.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

CGROUP_V2_MEMORY_MAX = Path("/sys/fs/cgroup/memory.max")
CGROUP_V1_MEMORY_LIMIT = Path("/sys/fs/cgroup/memory/memory.limit_in_bytes")
PROC_MEMINFO = Path("/proc/meminfo")
#: A cgroup v1 limit at least this large means "no limit" (the kernel shows 2**63 rounded to a page).
CGROUP_V1_UNLIMITED = 2**62

#: What the app calls to learn the instance's memory limit in bytes (``None``: unknown).
MemoryLimitReader = Callable[[], int | None]


def read_memory_limit(
    *,
    cgroup_v2: Path = CGROUP_V2_MEMORY_MAX,
    cgroup_v1: Path = CGROUP_V1_MEMORY_LIMIT,
    meminfo: Path = PROC_MEMINFO,
) -> int | None:
    """The memory this process may use, in bytes: the cgroup's limit, else the machine's total; ``None``
    when neither can be read."""
    cgroup = _cgroup_v2_limit(cgroup_v2)
    if cgroup is None:
        cgroup = _cgroup_v1_limit(cgroup_v1)
    total = _mem_total(meminfo)
    limits = [limit for limit in (cgroup, total) if limit is not None]
    return min(limits) if limits else None


def _read(path: Path) -> str | None:
    try:
        return path.read_text(encoding="ascii")
    except (OSError, UnicodeDecodeError):
        return None


def _positive(text: str) -> int | None:
    text = text.strip()
    return int(text) if text.isdigit() and int(text) > 0 else None


def _cgroup_v2_limit(path: Path) -> int | None:
    text = _read(path)
    return None if text is None else _positive(text)  # "max": no limit


def _cgroup_v1_limit(path: Path) -> int | None:
    text = _read(path)
    limit = None if text is None else _positive(text)
    return limit if limit is not None and limit < CGROUP_V1_UNLIMITED else None


def _mem_total(path: Path) -> int | None:
    text = _read(path)
    for line in (text or "").splitlines():
        name, _, value = line.partition(":")
        if name == "MemTotal":
            number, _, unit = value.strip().partition(" ")
            kib = _positive(number)
            return kib * 1024 if kib is not None and unit.strip() == "kB" else None
    return None
