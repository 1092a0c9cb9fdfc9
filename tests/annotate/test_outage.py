"""Waiting out an outage, and telling an outage from a refusal (no server needed)."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest
from label_studio_sdk.client import LabelStudio
from label_studio_sdk.core.api_error import ApiError

from labelloop.annotate.errors import (
    LabelStudioError,
    LabelStudioUnavailableError,
    ServiceUnavailableError,
)
from labelloop.annotate.labelstudio.client import LabelStudioGateway, sdk_client
from labelloop.annotate.loop.outage import outlast

URL = "http://127.0.0.1:8080"


class FakeTime:
    def __init__(self) -> None:
        self.now = 0.0

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def down_for(seconds: float, time: FakeTime) -> Callable[[], str]:
    def step() -> str:
        if time.now < seconds:
            raise LabelStudioUnavailableError("cannot reach it", url=URL)
        return "cycle done"

    return step


def test_an_outage_shorter_than_the_bound_is_waited_out_and_said() -> None:
    time, lines = FakeTime(), list[str]()
    result: object = outlast(
        down_for(43, time),
        timeout_s=600,
        say=lines.append,
        clock=time.clock,
        sleep=time.sleep,
    )
    assert result == "cycle done"
    assert len(lines) == 2
    assert lines[0].startswith(f"Label Studio at {URL} is unreachable (since ")
    assert lines[0].endswith("retrying every 5 s, giving up after 600 s")
    assert lines[1] == f"Label Studio at {URL} is back after 45 s; resuming"


def test_an_outage_longer_than_the_bound_ends_in_one_line() -> None:
    time, lines = FakeTime(), list[str]()
    with pytest.raises(ServiceUnavailableError) as raised:
        outlast(
            down_for(10_000, time),
            timeout_s=30,
            say=lines.append,
            clock=time.clock,
            sleep=time.sleep,
        )
    message = str(raised.value)
    assert message.startswith(f"Label Studio at {URL} still unreachable after 30 s, gave up")
    assert "\n" not in message and len(lines) == 1


def test_a_refusal_is_not_waited_for() -> None:
    calls = []

    def refused() -> None:
        calls.append(1)
        raise LabelStudioError("refused the API key (HTTP 401)", status=401)

    with pytest.raises(LabelStudioError, match="HTTP 401"):
        outlast(refused, timeout_s=600, say=print, sleep=lambda s: None)
    assert len(calls) == 1


@pytest.mark.parametrize(
    ("status", "unavailable"), [(502, True), (503, True), (504, True), (400, False), (404, False)]
)
def test_gateway_errors_tell_an_outage_from_a_refusal(status: int, unavailable: bool) -> None:
    transport = httpx.MockTransport(lambda request: httpx.Response(status, json={"detail": "x"}))
    with httpx.Client(transport=transport) as http:
        gateway = LabelStudioGateway(
            LabelStudio(base_url=URL, api_key="k", httpx_client=http), URL, backoff_s=0
        )
        with pytest.raises(LabelStudioError) as raised:
            gateway.check()
    assert isinstance(raised.value, LabelStudioUnavailableError) is unavailable
    assert raised.value.status == status and URL in str(raised.value)


def test_a_connection_refused_is_an_outage() -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    with httpx.Client(transport=httpx.MockTransport(refuse)) as http:
        gateway = LabelStudioGateway(
            LabelStudio(base_url=URL, api_key="k", httpx_client=http), URL, backoff_s=0
        )
        with pytest.raises(
            LabelStudioUnavailableError, match=f"cannot reach Label Studio at {URL}"
        ):
            gateway.check()


def test_labelloops_sdk_client_sends_a_request_once_whatever_the_answer() -> None:
    sent: list[str] = []

    def unavailable(request: httpx.Request) -> httpx.Response:
        sent.append(request.url.path)
        return httpx.Response(503, json={"detail": "restarting"})

    client = sdk_client(URL, "key", transport=httpx.MockTransport(unavailable))
    try:
        with pytest.raises(ApiError):
            client.projects.import_tasks(id=1, request=[{"data": {"text": "x"}}])
    finally:
        client._labelloop_http.close()
    assert sent == ["/api/projects/1/import"]
