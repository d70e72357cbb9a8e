"""The ``azurite`` fixture: a real Azurite (blob, queue, table) on free loopback ports, in memory."""

from __future__ import annotations

import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
AZURITE = ROOT / "node_modules" / ".bin" / "azurite"
ACCOUNT = "devstoreaccount1"
# Azurite's fixed, publicly documented development key (not a secret).
DEV_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_until_listening(port: int, process: subprocess.Popen[bytes], deadline: float) -> None:
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"Azurite exited early with status {process.returncode}")
        with socket.socket() as sock:
            sock.settimeout(0.2)
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise RuntimeError(f"Azurite did not answer on port {port} within 30 s")


def connection_string(blob: int, queue: int, table: int) -> str:
    return (
        "DefaultEndpointsProtocol=http;"
        f"AccountName={ACCOUNT};AccountKey={DEV_KEY};"
        f"BlobEndpoint=http://127.0.0.1:{blob}/{ACCOUNT};"
        f"QueueEndpoint=http://127.0.0.1:{queue}/{ACCOUNT};"
        f"TableEndpoint=http://127.0.0.1:{table}/{ACCOUNT};"
    )


@pytest.fixture(scope="session")
def azurite() -> Iterator[str]:
    """Start Azurite in memory on free ports; yield its connection string; stop it."""
    if not AZURITE.exists():
        pytest.fail(f"{AZURITE} is missing: run `make install-dev` to install Azurite", pytrace=False)
    blob, queue, table = _free_port(), _free_port(), _free_port()
    workdir = tempfile.mkdtemp(prefix="azurite-")  # its debug log and extent files stay out of the repo
    process = subprocess.Popen(
        [
            str(AZURITE),
            "--inMemoryPersistence",
            "--skipApiVersionCheck",
            "--disableTelemetry",
            "--silent",
            "--blobHost",
            "127.0.0.1",
            "--blobPort",
            str(blob),
            "--queueHost",
            "127.0.0.1",
            "--queuePort",
            str(queue),
            "--tableHost",
            "127.0.0.1",
            "--tablePort",
            str(table),
        ],
        cwd=workdir,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 30
        for port in (blob, queue, table):
            _wait_until_listening(port, process, deadline)
        yield connection_string(blob, queue, table)
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        shutil.rmtree(workdir, ignore_errors=True)
