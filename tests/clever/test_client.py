"""The Clever HTTP client: paging, rate limit, retries and errors, against a scripted transport."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from sync.clever.client import MAX_RATE_LIMITED, MAX_RATE_WAIT_S, CleverClient, EventsWindowMissed
from sync.errors import SourceError
from tests.clever.fakes import FakeClock, ScriptedClever, page

TOKEN = "secret-district-token"


def client_for(script: ScriptedClever, clock: FakeClock, **options: object) -> CleverClient:
    return CleverClient(
        "https://api.clever.test",
        TOKEN,
        transport=script.transport(),
        clock=clock.time,
        sleep=clock.sleep,
        **options,  # type: ignore[arg-type]
    )


def query(request: httpx.Request) -> dict[str, str]:
    return {key: values[-1] for key, values in parse_qs(urlsplit(str(request.url)).query).items()}


def test_follows_next_links_over_several_pages_until_a_page_has_no_next_link() -> None:
    script = ScriptedClever(
        [
            (200, {}, page([{"id": "a"}, {"id": "b"}], "/v3.0/users?role=student&limit=2&starting_after=b")),
            (200, {}, page([{"id": "c"}, {"id": "d"}], "/v3.0/users?role=student&limit=2&starting_after=d")),
            (200, {}, page([{"id": "e"}])),
        ]
    )
    client = client_for(script, FakeClock(), page_size=2)

    records = list(client.list_records("users", {"role": "student"}))

    assert [r["id"] for r in records] == ["a", "b", "c", "d", "e"]
    assert [query(r).get("starting_after") for r in script.requests] == [None, "b", "d"]
    assert query(script.requests[0]) == {"role": "student", "limit": "2"}
    assert client.requests == 3


def test_stops_at_an_empty_page_even_when_it_still_has_a_next_link() -> None:
    script = ScriptedClever(
        [
            (200, {}, page([{"id": "a"}], "/v3.0/schools?starting_after=a")),
            (200, {}, page([], "/v3.0/schools?starting_after=a")),
        ]
    )
    client = client_for(script, FakeClock())

    assert [r["id"] for r in client.list_records("schools")] == ["a"]
    assert len(script.requests) == 2


def test_every_request_carries_the_bearer_token_and_asks_for_the_largest_page_by_default() -> None:
    script = ScriptedClever([(200, {}, page([{"id": "a"}]))])
    list(client_for(script, FakeClock()).list_records("schools"))

    assert script.requests[0].headers["Authorization"] == f"Bearer {TOKEN}"
    assert query(script.requests[0])["limit"] == "10000"
    assert urlsplit(str(script.requests[0].url)).path == "/v3.0/schools"


def test_waits_until_the_rate_limit_reset_after_a_429_and_then_succeeds() -> None:
    clock = FakeClock()
    script = ScriptedClever(
        [
            (
                429,
                {"X-RateLimit-Reset": str(clock.now + 12), "X-RateLimit-Remaining": "0"},
                {"message": "slow"},
            ),
            (200, {}, page([{"id": "a"}])),
        ]
    )
    client = client_for(script, clock)

    assert [r["id"] for r in client.list_records("schools")] == ["a"]
    assert clock.sleeps == [12.0]
    assert len(script.requests) == 2


def test_a_429_whose_reset_has_already_passed_backs_off_exponentially_instead_of_retrying_at_once() -> None:
    """This machine's clock runs ahead of Clever's: the reset it names is in our past."""
    clock = FakeClock()
    past = {"X-RateLimit-Reset": str(clock.now - 30), "X-RateLimit-Remaining": "0"}
    script = ScriptedClever([(429, past, {"message": "slow"})] * 3 + [(200, {}, page([{"id": "a"}]))])
    client = client_for(script, clock, backoff_s=0.5)

    assert [r["id"] for r in client.list_records("schools")] == ["a"]
    assert clock.sleeps == [0.5, 1.0, 2.0]
    assert len(script.requests) == 4


def test_the_back_off_after_429s_without_a_usable_reset_is_bounded_and_still_gives_up() -> None:
    clock = FakeClock()
    now = {"X-RateLimit-Reset": str(clock.now)}  # a reset of "now" is no wait either
    script = ScriptedClever([(429, now, {"message": "slow"})] * (MAX_RATE_LIMITED + 1))
    client = client_for(script, clock, backoff_s=1.0)

    with pytest.raises(SourceError, match="kept answering 429"):
        list(client.list_records("schools"))
    assert clock.sleeps[:8] == [1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, MAX_RATE_WAIT_S]
    assert len(clock.sleeps) == MAX_RATE_LIMITED
    assert max(clock.sleeps) == MAX_RATE_WAIT_S


def test_a_429_with_a_retry_after_of_zero_backs_off_too() -> None:
    clock = FakeClock()
    script = ScriptedClever([(429, {"Retry-After": "0"}, {}), (200, {}, page([{"id": "a"}]))])
    client = client_for(script, clock, backoff_s=0.25)

    assert [r["id"] for r in client.list_records("schools")] == ["a"]
    assert clock.sleeps == [0.25]


def test_waits_for_the_reset_before_the_next_request_when_no_requests_remain() -> None:
    clock = FakeClock()
    script = ScriptedClever(
        [
            (
                200,
                {"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": str(clock.now + 5)},
                page([{"id": "a"}], "/v3.0/schools?starting_after=a"),
            ),
            (200, {"X-RateLimit-Remaining": "1199"}, page([{"id": "b"}])),
        ]
    )
    client = client_for(script, clock)

    assert [r["id"] for r in client.list_records("schools")] == ["a", "b"]
    assert clock.sleeps == [5.0]
    assert len(script.requests) == 2  # waited instead of drawing a 429


def test_retries_a_500_with_back_off_and_then_succeeds() -> None:
    clock = FakeClock()
    script = ScriptedClever([(500, {}, {"message": "oops"}), (200, {}, page([{"id": "a"}]))])
    client = client_for(script, clock, backoff_s=0.5)

    assert [r["id"] for r in client.list_records("sections")] == ["a"]
    assert clock.sleeps == [0.5]
    assert len(script.requests) == 2


def test_gives_up_after_repeated_5xx_with_a_message_naming_the_status_and_route() -> None:
    clock = FakeClock()
    script = ScriptedClever([(503, {}, {})] * 3)
    client = client_for(script, clock, max_retries=2, backoff_s=1.0)

    with pytest.raises(SourceError, match=r"503 for /v3.0/sections 3 times"):
        list(client.list_records("sections"))
    assert clock.sleeps == [1.0, 2.0]


def test_a_401_is_a_clear_error_at_once_with_no_retry_and_no_token_in_the_message() -> None:
    clock = FakeClock()
    script = ScriptedClever([(401, {}, {"message": "invalid token"})] * 5)
    client = client_for(script, clock)

    with pytest.raises(SourceError, match="refused the district token") as caught:
        list(client.list_records("schools"))
    assert len(script.requests) == 1
    assert clock.sleeps == []
    assert TOKEN not in str(caught.value)
    assert "clever.token_setting" in str(caught.value)


def test_another_4xx_is_reported_with_the_route_and_clevers_message_without_retrying() -> None:
    script = ScriptedClever([(400, {}, {"message": "limit is too large"})])
    with pytest.raises(SourceError, match=r"400 for /v3.0/terms: limit is too large"):
        list(client_for(script, FakeClock()).list_records("terms"))
    assert len(script.requests) == 1


def test_connection_failures_are_retried_then_reported_naming_the_base_url() -> None:
    clock = FakeClock()
    attempts: list[httpx.Request] = []

    def refuse(request: httpx.Request) -> httpx.Response:
        attempts.append(request)
        raise httpx.ConnectError("connection refused", request=request)

    client = CleverClient(
        "https://api.clever.test",
        TOKEN,
        transport=httpx.MockTransport(refuse),
        clock=clock.time,
        sleep=clock.sleep,
    )
    with pytest.raises(SourceError, match=r"cannot reach the Clever API at https://api.clever.test"):
        list(client.list_records("schools"))
    assert len(attempts) == 5
    assert len(clock.sleeps) == 4


def test_the_newest_event_id_is_asked_for_with_ending_before_last() -> None:
    script = ScriptedClever([(200, {}, page([{"id": "ev9", "type": "users.updated"}]))])
    assert client_for(script, FakeClock()).latest_event_id() == "ev9"
    assert query(script.requests[0]) == {"ending_before": "last", "limit": "1"}


def test_no_events_at_all_means_no_newest_event_id() -> None:
    assert client_for(ScriptedClever([(200, {}, page([]))]), FakeClock()).latest_event_id() is None


def test_an_event_id_clever_no_longer_knows_means_the_events_window_was_missed() -> None:
    script = ScriptedClever([(404, {}, {"message": "not found"})])
    with pytest.raises(EventsWindowMissed):
        list(client_for(script, FakeClock()).list_events("ev1"))


def test_a_page_size_above_clevers_maximum_is_refused() -> None:
    with pytest.raises(ValueError, match="between 1 and 10000"):
        CleverClient("https://api.clever.test", TOKEN, page_size=10_001)
