"""Opening the Graph directory from a spec, its token provider, and what its failure messages may say."""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from sync.cli import main
from sync.directory.factory import open_directory, tenant_spec_problem
from sync.directory.graph import GRAPH_ROOT, AzureToken, GraphDirectory, open_graph_directory
from sync.directory.graph_batch import RetryPolicy
from sync.directory.graph_errors import failed, safe_message
from sync.directory.graph_http import SubResponse
from sync.errors import DirectoryUnavailable, UsageError
from sync.telemetry import URL_LOGGERS


def test_a_graph_url_spec_opens_a_directory_on_that_server(tmp_path: Path) -> None:
    with open_graph_directory(
        "graph:http://127.0.0.1:9/v1.0", cache_dir=tmp_path, quota_scale=50
    ) as directory:
        assert directory.base_url == "http://127.0.0.1:9/v1.0"
        assert directory.max_batch >= 200


def test_the_bare_graph_spec_targets_microsoft_graph(tmp_path: Path) -> None:
    with open_graph_directory("graph", cache_dir=tmp_path) as directory:
        assert directory.base_url == GRAPH_ROOT


@pytest.mark.parametrize(
    "spec",
    [
        "graph:",
        "graph:127.0.0.1:8080",
        "grph:http://x",
        "graph:ftp://x",
        "graph:contoso",
        "graph:contoso.onmicrosoft.com/v1.0",
        "graph:-contoso.onmicrosoft.com",
        "graph:0000-1111",
        "graph: contoso.onmicrosoft.com",
    ],
)
def test_a_malformed_graph_spec_is_a_usage_error_that_shows_the_accepted_forms(
    spec: str, tmp_path: Path
) -> None:
    with pytest.raises(UsageError, match=r"graph:http://127\.0\.0\.1:PORT/v1\.0"):
        open_graph_directory(spec, cache_dir=tmp_path)


def test_the_directory_factory_opens_graph_specs_with_the_graph_adapter(tmp_path: Path) -> None:
    directory = open_directory("graph:http://127.0.0.1:9/v1.0", cache_dir=tmp_path)
    try:
        assert isinstance(directory, GraphDirectory)
    finally:
        directory.close()  # type: ignore[attr-defined]


def test_a_directory_that_cannot_connect_says_so_instead_of_a_traceback(tmp_path: Path) -> None:
    directory = GraphDirectory(
        "http://127.0.0.1:9/v1.0", cache_dir=tmp_path, token=AzureToken(FakeCredential()), timeout_s=0.5,
        retry=RetryPolicy(attempts=2, backoff_s=0.01),
    )  # fmt: skip
    with directory, pytest.raises(DirectoryUnavailable, match="did not answer a read"):
        directory.snapshot()


class FakeCredential:
    """An async credential that counts its calls; fails when told to."""

    def __init__(self, *, fail: bool = False, lifetime_s: float = 3600) -> None:
        self.calls = 0
        self.closed = False
        self.fail = fail
        self.lifetime_s = lifetime_s

    async def get_token(self, *scopes: str) -> object:
        self.calls += 1
        if self.fail:
            raise RuntimeError("no login")
        assert scopes == ("https://graph.microsoft.com/.default",)
        return type(
            "Access", (), {"token": f"token-{self.calls}", "expires_on": time.time() + self.lifetime_s}
        )()

    async def close(self) -> None:
        self.closed = True


def test_a_token_is_reused_until_five_minutes_before_it_expires() -> None:
    credential = FakeCredential()
    provider = AzureToken(credential)
    tokens = asyncio.run(_twice(provider))
    assert tokens == ("token-1", "token-1") and credential.calls == 1
    short = FakeCredential(lifetime_s=60)
    assert asyncio.run(_twice(AzureToken(short))) == ("token-1", "token-2")


async def _twice(provider: AzureToken) -> tuple[str | None, str | None]:
    return await provider(), await provider()


def test_a_credential_that_cannot_sign_in_makes_the_directory_unavailable_with_a_hint() -> None:
    with pytest.raises(DirectoryUnavailable, match="az login"):
        asyncio.run(AzureToken(FakeCredential(fail=True))())


def test_closing_the_directory_closes_its_credential(tmp_path: Path) -> None:
    credential = FakeCredential()
    GraphDirectory(GRAPH_ROOT, cache_dir=tmp_path, token=AzureToken(credential)).close()
    assert credential.closed


def test_failure_messages_mask_quoted_values_and_addresses() -> None:
    message = "Resource 'a1b2' for ava.smith@students.contoso.edu does not exist"
    assert safe_message(message) == "Resource '…' for <address> does not exist"
    result = failed(SubResponse(400, {}, {"error": {"code": "Request_BadRequest", "message": message}}))
    assert result.code == "Request_BadRequest" and "ava" not in (result.message or "")


TENANT_GUID = "72f988bf-86f1-41af-91ab-2d7cd011db47"


def jwt(claims: dict[str, Any]) -> str:
    """An unsigned JWT-shaped token carrying ``claims`` (the adapter reads ``tid``, never verifies)."""
    payload = base64.urlsafe_b64encode(json.dumps(claims).encode()).decode().rstrip("=")
    return f"header.{payload}.signature"


class TenantRecordingCredential:
    """An async credential that records the tenant each ``get_token`` asked for (``None``: none given) and
    answers with a token of ``signs_in_to`` (default: the tenant asked for); it expects ``scope``."""

    def __init__(
        self, signs_in_to: str | None = None, *, scope: str = "https://graph.microsoft.com/.default"
    ) -> None:
        self.asked: list[str | None] = []
        self.signs_in_to = signs_in_to
        self.scope = scope

    async def get_token(self, *scopes: str, tenant_id: str | None = None) -> object:
        assert scopes == (self.scope,)
        self.asked.append(tenant_id)
        tid = self.signs_in_to or tenant_id or "home-tenant"
        return type("Access", (), {"token": jwt({"tid": tid}), "expires_on": time.time() + 3600})()

    async def close(self) -> None:
        pass


@pytest.mark.parametrize("tenant", ["contoso.onmicrosoft.com", "Contoso.EDU", TENANT_GUID])
def test_a_graph_tenant_spec_targets_microsoft_graph_with_tokens_for_that_tenant(
    tenant: str, tmp_path: Path
) -> None:
    assert tenant_spec_problem(f"graph:{tenant}") is None
    credential = TenantRecordingCredential()
    with open_graph_directory(f"graph:{tenant}", cache_dir=tmp_path, credential=credential) as directory:
        assert directory.base_url == GRAPH_ROOT
        assert directory.identity == f"graph:{GRAPH_ROOT}#{tenant}"
    assert credential.asked == [tenant]


def test_the_bare_graph_spec_asks_for_the_credentials_own_tenant(tmp_path: Path) -> None:
    credential = TenantRecordingCredential()
    with open_graph_directory("graph", cache_dir=tmp_path, credential=credential) as directory:
        assert directory.identity == f"graph:{GRAPH_ROOT}#home-tenant"
    assert credential.asked == [None]


def test_a_token_of_another_tenant_than_the_tenant_id_asked_for_is_refused(tmp_path: Path) -> None:
    # A managed identity ignores the tenant asked for and signs in to its own.
    credential = TenantRecordingCredential(signs_in_to="11111111-2222-3333-4444-555555555555")
    with (
        open_graph_directory(f"graph:{TENANT_GUID}", cache_dir=tmp_path, credential=credential) as directory,
        pytest.raises(DirectoryUnavailable, match=f"not to tenant {TENANT_GUID} that --tenant names"),
    ):
        directory.snapshot()
    assert credential.asked == [TENANT_GUID]


@pytest.mark.parametrize(
    ("endpoint", "scope"),
    [
        ("https://graph.microsoft.com/v1.0", "https://graph.microsoft.com/.default"),
        ("https://graph.microsoft.us/v1.0", "https://graph.microsoft.us/.default"),
        ("https://dod-graph.microsoft.us/beta", "https://dod-graph.microsoft.us/.default"),
        ("https://microsoftgraph.chinacloudapi.cn/v1.0", "https://microsoftgraph.chinacloudapi.cn/.default"),
        ("https://graph.contoso.test:8443/v1.0", "https://graph.contoso.test:8443/.default"),
    ],
)
def test_an_https_graph_endpoint_signs_in_for_real_with_the_scope_of_its_origin(
    endpoint: str, scope: str, tmp_path: Path
) -> None:
    assert tenant_spec_problem(f"graph:{endpoint}") is None
    credential = TenantRecordingCredential(scope=scope)  # refuses a token asked for another scope
    with open_graph_directory(f"graph:{endpoint}", cache_dir=tmp_path, credential=credential) as directory:
        assert directory.base_url == endpoint
        assert directory.identity == f"graph:{endpoint}#home-tenant"  # the credential's token, not a dummy
    assert credential.asked == [None]


@pytest.mark.parametrize(
    "endpoint",
    [
        "http://127.0.0.1:9/v1.0",
        "http://localhost:9/v1.0",
        "http://LocalHost:9/v1.0",
        "http://[::1]:9/v1.0",
        "https://127.0.0.1:9/v1.0",
        "https://localhost/v1.0",
    ],
)
def test_a_loopback_graph_endpoint_is_the_local_server_with_a_dummy_token_and_no_sign_in(
    endpoint: str, tmp_path: Path
) -> None:
    assert tenant_spec_problem(f"graph:{endpoint}") is None
    credential = TenantRecordingCredential()
    with open_graph_directory(f"graph:{endpoint}", cache_dir=tmp_path, credential=credential) as directory:
        assert directory.base_url == endpoint
        assert directory.identity == f"graph:{endpoint}#"  # the dummy token has no tenant
    assert credential.asked == []


PLAIN_HTTP_ELSEWHERE = [
    "graph:http://graph.microsoft.com/v1.0",
    "graph:http://graph.microsoft.us/v1.0",
    "graph:http://10.0.0.5:8080/v1.0",
    "graph:http://127.0.0.1.example.test/v1.0",
]


@pytest.mark.parametrize("spec", PLAIN_HTTP_ELSEWHERE)
def test_plain_http_to_a_host_other_than_the_local_server_is_refused_before_anything_is_sent(
    spec: str, tmp_path: Path
) -> None:
    problem = tenant_spec_problem(spec)
    assert problem is not None and "https" in problem and "local Graph server" in problem
    credential = TenantRecordingCredential()
    with pytest.raises(UsageError, match=r"^--tenant .*plain http"):
        open_graph_directory(spec, cache_dir=tmp_path, credential=credential)
    assert credential.asked == [] and list(tmp_path.iterdir()) == []


@pytest.mark.usefixtures("url_logger_levels")
def test_the_command_line_refuses_plain_http_to_microsoft_graph_in_one_line_naming_tenant(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    spec = "graph:http://graph.microsoft.com/v1.0"
    monkeypatch.chdir(tmp_path)
    profile = Path(__file__).resolve().parents[2] / "examples" / "profile.toml"
    status = main(["plan", "examples/district", "--profile", str(profile), "--tenant", spec])
    err = capsys.readouterr().err
    assert status == 2
    assert err.startswith(f"error: --tenant {spec!r}: plain http") and len(err.splitlines()) == 1
    assert "graph:https://" in err and "Traceback" not in err
    assert list(tmp_path.iterdir()) == []


@pytest.fixture
def url_logger_levels() -> Iterator[None]:
    """``main`` sets the request-URL loggers' levels; put them back for the tests that follow."""
    saved = {name: logging.getLogger(name).level for name in URL_LOGGERS}
    yield
    for name, level in saved.items():
        logging.getLogger(name).setLevel(level)


@pytest.mark.usefixtures("url_logger_levels")
@pytest.mark.parametrize("spec", ["graph:contoso", "graph:127.0.0.1:8080", "graph:ftp://x"])
def test_the_command_line_refuses_a_malformed_graph_tenant_in_one_line_naming_the_accepted_forms(
    spec: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    profile = Path(__file__).resolve().parents[2] / "examples" / "profile.toml"
    status = main(["plan", "examples/district", "--profile", str(profile), "--tenant", spec])
    err = capsys.readouterr().err
    assert status == 2
    assert err.startswith(f"error: --tenant {spec!r}") and len(err.splitlines()) == 1
    assert "graph:<tenant id or domain>" in err and "graph:http://127.0.0.1:PORT/v1.0" in err
    assert "Traceback" not in err
    assert list(tmp_path.iterdir()) == []  # nothing made: no tenant file, no cache
