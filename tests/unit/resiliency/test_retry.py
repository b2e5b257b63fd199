"""RetryPolicy: what is retried, how often, and the waits in between."""

from __future__ import annotations

from http import HTTPStatus
from itertools import islice

import grpc
import pytest

from components.errors import BulkError, ETagInvalid, ETagMismatch, InvalidRequest, NotSupported
from runtime.errors import APIError, ErrorKind
from runtime.resiliency.breaker import BreakerOpen, BreakerState
from runtime.resiliency.retry import MIN_INTERVAL, RetryPolicy


class StatusError(Exception):
    """An error carrying statuses, as the app channel's errors do."""

    def __init__(self, http: int | None = None, grpc_code: grpc.StatusCode | None = None) -> None:
        super().__init__("status")
        if http is not None:
            self.http_status = HTTPStatus(http)
        if grpc_code is not None:
            self.grpc_status = grpc_code


def api_error(status: HTTPStatus, code: grpc.StatusCode) -> APIError:
    """An API error of the given statuses (an unregistered table entry)."""
    kind = ErrorKind(code="ERR_TEST", http_status=status, grpc_code=code, message="{detail}")
    return kind(detail="test")


def test_max_retries_counts_retries_not_attempts() -> None:
    policy = RetryPolicy(name="r", max_retries=2)
    exc = ConnectionError("down")
    assert policy.should_retry(exc, 0)
    assert policy.should_retry(exc, 1)
    assert not policy.should_retry(exc, 2)
    assert not RetryPolicy(name="none", max_retries=0).should_retry(exc, 0)
    assert RetryPolicy(name="forever", max_retries=-1).should_retry(exc, 10**6)


@pytest.mark.parametrize(
    "exc",
    [
        ETagMismatch("k"),
        ETagInvalid("x"),
        InvalidRequest("bad"),
        NotSupported("no ttl"),
        BulkError({"a": ETagMismatch("a"), "b": InvalidRequest("b")}),
        api_error(HTTPStatus.BAD_REQUEST, grpc.StatusCode.INVALID_ARGUMENT),
        api_error(HTTPStatus.CONFLICT, grpc.StatusCode.ABORTED),
        api_error(HTTPStatus.NOT_FOUND, grpc.StatusCode.NOT_FOUND),
        BreakerOpen(BreakerState.OPEN),
    ],
)
def test_client_mistakes_and_open_breakers_are_never_retried(exc: Exception) -> None:
    assert not RetryPolicy(name="r").should_retry(exc, 0)


@pytest.mark.parametrize(
    "exc",
    [
        TimeoutError(),
        ConnectionResetError(),
        BulkError({"a": ETagMismatch("a"), "b": ConnectionError("b")}),
        api_error(HTTPStatus.INTERNAL_SERVER_ERROR, grpc.StatusCode.INTERNAL),
        api_error(HTTPStatus.SERVICE_UNAVAILABLE, grpc.StatusCode.UNAVAILABLE),
        StatusError(429),
        StatusError(408),
    ],
)
def test_target_failures_are_retried_without_matching(exc: Exception) -> None:
    assert RetryPolicy(name="r").should_retry(exc, 0)


def test_matching_filters_by_the_status_an_error_carries() -> None:
    policy = RetryPolicy(
        name="r", http_codes=frozenset({429, *range(500, 600)}), grpc_codes=frozenset({14})
    )
    assert policy.should_retry(StatusError(503), 0)
    assert policy.should_retry(StatusError(429), 0)
    assert not policy.should_retry(StatusError(408), 0)
    assert policy.should_retry(StatusError(grpc_code=grpc.StatusCode.UNAVAILABLE), 0)
    assert not policy.should_retry(StatusError(grpc_code=grpc.StatusCode.INTERNAL), 0)
    assert policy.should_retry(ConnectionError(), 0)  # no status: retried whatever the filter
    grpc_only = RetryPolicy(name="g", grpc_codes=frozenset({14}))
    assert grpc_only.should_retry(
        api_error(HTTPStatus.SERVICE_UNAVAILABLE, grpc.StatusCode.UNAVAILABLE), 0
    )
    assert not grpc_only.should_retry(
        api_error(HTTPStatus.INTERNAL_SERVER_ERROR, grpc.StatusCode.INTERNAL), 0
    )


def test_constant_waits() -> None:
    assert list(islice(RetryPolicy(name="r", duration=0.25).waits(), 3)) == [0.25] * 3
    assert next(RetryPolicy(name="r", duration=0.0).waits()) == MIN_INTERVAL  # no busy loop


def test_exponential_waits_grow_by_half_and_stop_at_max_interval() -> None:
    policy = RetryPolicy(name="r", exponential=True, max_interval=2.0)
    middle = list(islice(policy.waits(rand=lambda: 0.5), 7))  # no randomisation
    assert middle == pytest.approx([0.5, 0.75, 1.125, 1.6875, 2.0, 2.0, 2.0])
    low = list(islice(policy.waits(rand=lambda: 0.0), 2))
    high = list(islice(policy.waits(rand=lambda: 1.0), 2))
    assert low == pytest.approx([0.25, 0.375])
    assert high == pytest.approx([0.75, 1.125])
    assert max(islice(policy.waits(rand=lambda: 1.0), 50)) == 2.0
