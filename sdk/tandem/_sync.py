"""``Client``: the blocking facade, running one ``AsyncClient`` on a private loop thread."""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
from collections.abc import Awaitable, Callable, Coroutine, Iterator
from types import TracebackType
from typing import Any, Concatenate, ParamSpec, Self, TypeVar

from tandem._client import AsyncClient

__all__ = ["Client"]

P = ParamSpec("P")
R = TypeVar("R")


def _blocking(
    fn: Callable[Concatenate[AsyncClient, P], Awaitable[R]],
) -> Callable[Concatenate[Client, P], R]:
    def call(self: Client, /, *args: P.args, **kwargs: P.kwargs) -> R:
        return self._run(fn(self.aio, *args, **kwargs))  # type: ignore[arg-type]

    call.__name__ = fn.__name__
    call.__doc__ = fn.__doc__
    return call


class Client:
    """The blocking client: the same calls as ``AsyncClient``, without ``await``.

    Example::

        with Client() as client:
            client.save_state("statestore", "order-1", {"qty": 2})
            print(client.get_state("statestore", "order-1").json())

    Arguments are ``AsyncClient``'s. One daemon thread runs the async client's loop; calls
    from any thread are safe. The streams (``invoke_stream``, ``subscribe``,
    ``subscribe_configuration``) are async only: use ``AsyncClient``.
    """

    def __init__(self, **kwargs: Any) -> None:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True, name="tandem")
        self._thread.start()
        self._tasks: set[asyncio.Task[Any]] = set()  # in flight; touched on the loop thread only
        self.aio = AsyncClient(**kwargs)

    def _run(self, coro: Coroutine[Any, Any, R]) -> R:
        """Run ``coro`` on the loop thread and wait for it: one wake-up of the loop and one
        future (leaner than ``asyncio.run_coroutine_threadsafe``, which chains two)."""
        done: concurrent.futures.Future[R] = concurrent.futures.Future()

        def settle(task: asyncio.Task[R]) -> None:
            self._tasks.discard(task)
            if task.cancelled():
                done.cancel()
            elif (exc := task.exception()) is not None:
                done.set_exception(exc)
            else:
                done.set_result(task.result())

        def start() -> None:
            task = self._loop.create_task(coro)
            self._tasks.add(task)  # the loop keeps only a weak reference to its tasks
            task.add_done_callback(settle)

        try:
            self._loop.call_soon_threadsafe(start)
        except RuntimeError:  # the loop is closed
            coro.close()
            raise
        return done.result()

    def __enter__(self) -> Self:
        try:
            self._run(self.aio.__aenter__())
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def close(self) -> None:
        """Close the connections and stop the loop thread."""
        if self._loop.is_closed():
            return
        self._run(self.aio.close())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join()
        self._loop.close()

    @property
    def address(self) -> str:
        return self.aio.address

    wait_for_sidecar = _blocking(AsyncClient.wait_for_sidecar)
    get_state = _blocking(AsyncClient.get_state)
    save_state = _blocking(AsyncClient.save_state)
    save_bulk_state = _blocking(AsyncClient.save_bulk_state)
    delete_state = _blocking(AsyncClient.delete_state)
    get_bulk_state = _blocking(AsyncClient.get_bulk_state)
    execute_state_transaction = _blocking(AsyncClient.execute_state_transaction)
    query_state = _blocking(AsyncClient.query_state)
    list_state_keys = _blocking(AsyncClient.list_state_keys)
    publish = _blocking(AsyncClient.publish)
    publish_bulk = _blocking(AsyncClient.publish_bulk)
    get_secret = _blocking(AsyncClient.get_secret)
    get_bulk_secret = _blocking(AsyncClient.get_bulk_secret)
    get_configuration = _blocking(AsyncClient.get_configuration)
    invoke = _blocking(AsyncClient.invoke)
    get_flag_details = _blocking(AsyncClient.get_flag_details)
    get_boolean = _blocking(AsyncClient.get_boolean)
    get_string = _blocking(AsyncClient.get_string)
    get_int = _blocking(AsyncClient.get_int)
    get_float = _blocking(AsyncClient.get_float)
    get_object = _blocking(AsyncClient.get_object)
    get_metadata = _blocking(AsyncClient.get_metadata)
    set_metadata = _blocking(AsyncClient.set_metadata)
    shutdown = _blocking(AsyncClient.shutdown)

    def iter_state_keys(
        self, store: str, *, prefix: str = "", page_size: int = 100
    ) -> Iterator[str]:
        """Every key with ``prefix``, page by page."""
        token: str | None = None
        while True:
            page = self.list_state_keys(store, prefix=prefix, limit=page_size, token=token)
            yield from page.keys
            if not page.token:
                return
            token = page.token
