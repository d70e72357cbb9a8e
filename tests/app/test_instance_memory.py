"""The instance's memory limit, read from fake cgroup and meminfo files (never the machine's own)."""

from __future__ import annotations

from pathlib import Path

from sync.app.instance_memory import read_memory_limit

MIB = 1024**2
#: What cgroup v1 shows for a group without a limit.
V1_UNLIMITED = "9223372036854771712\n"


class Files:
    """Fake ``memory.max``, ``memory.limit_in_bytes`` and ``/proc/meminfo`` in a folder; absent until
    written."""

    def __init__(self, folder: Path) -> None:
        self.v2, self.v1, self.meminfo = folder / "memory.max", folder / "limit_in_bytes", folder / "meminfo"

    def write_meminfo(self, total_kib: int) -> None:
        self.meminfo.write_text(
            f"MemTotal:       {total_kib} kB\nMemFree:        1024 kB\nMemAvailable:   2048 kB\n",
            encoding="ascii",
        )

    def limit(self) -> int | None:
        return read_memory_limit(cgroup_v2=self.v2, cgroup_v1=self.v1, meminfo=self.meminfo)


def test_a_cgroup_v2_limit_is_the_instance_memory(tmp_path: Path) -> None:
    files = Files(tmp_path)
    files.v2.write_text(f"{2048 * MIB}\n", encoding="ascii")
    files.write_meminfo(16 * 1024 * 1024)

    assert files.limit() == 2048 * MIB


def test_a_cgroup_v2_limit_of_max_leaves_the_machine_total(tmp_path: Path) -> None:
    files = Files(tmp_path)
    files.v2.write_text("max\n", encoding="ascii")
    files.write_meminfo(8 * 1024 * 1024)

    assert files.limit() == 8 * 1024 * MIB


def test_a_cgroup_v1_limit_is_read_when_there_is_no_v2_file(tmp_path: Path) -> None:
    files = Files(tmp_path)
    files.v1.write_text(f"{4096 * MIB}\n", encoding="ascii")
    files.write_meminfo(16 * 1024 * 1024)

    assert files.limit() == 4096 * MIB


def test_a_huge_cgroup_v1_limit_means_none_and_leaves_the_machine_total(tmp_path: Path) -> None:
    files = Files(tmp_path)
    files.v1.write_text(V1_UNLIMITED, encoding="ascii")
    files.write_meminfo(8 * 1024 * 1024)

    assert files.limit() == 8 * 1024 * MIB


def test_without_a_cgroup_the_machine_total_from_meminfo_is_the_limit(tmp_path: Path) -> None:
    files = Files(tmp_path)
    files.write_meminfo(2 * 1024 * 1024)

    assert files.limit() == 2 * 1024 * MIB


def test_a_cgroup_limit_above_the_machine_total_is_bounded_by_the_total(tmp_path: Path) -> None:
    files = Files(tmp_path)
    files.v2.write_text(f"{64 * 1024 * MIB}\n", encoding="ascii")
    files.write_meminfo(4 * 1024 * 1024)

    assert files.limit() == 4 * 1024 * MIB


def test_a_cgroup_limit_counts_when_meminfo_cannot_be_read(tmp_path: Path) -> None:
    files = Files(tmp_path)
    files.v2.write_text(f"{512 * MIB}\n", encoding="ascii")

    assert files.limit() == 512 * MIB


def test_nothing_readable_gives_none(tmp_path: Path) -> None:
    assert Files(tmp_path).limit() is None  # no file at all
    files = Files(tmp_path)
    for path in (files.v2, files.v1, files.meminfo):
        path.mkdir()  # there, but not readable as a file

    assert files.limit() is None


def test_unparsable_files_give_none(tmp_path: Path) -> None:
    files = Files(tmp_path)
    files.v2.write_text("lots\n", encoding="ascii")
    files.v1.write_bytes(b"\xff\xfe")
    files.meminfo.write_text("MemTotal: many\n", encoding="ascii")

    assert files.limit() is None


def test_a_v1_unlimited_group_without_meminfo_gives_none(tmp_path: Path) -> None:
    files = Files(tmp_path)
    files.v2.write_text("max\n", encoding="ascii")
    files.v1.write_text(V1_UNLIMITED, encoding="ascii")

    assert files.limit() is None
