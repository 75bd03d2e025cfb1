"""The ingest writer: a child process of the API that stores and group-commits inbound requests.

The API reads and checks a request (n8n's small JSON on its event loop, MIME and big bodies on a small thread
pool), hands it over a socket pair and awaits the answer; every database write happens in the writer, so the
two use two cores instead of sharing one interpreter lock.
Frames both ways are a 4-byte length and a pickle.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import os
import pickle
import signal
import socket
import struct
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from lead_engine.core.errors import IngestUnavailableError
from lead_engine.core.inbound import PreparedIngest
from lead_engine.core.ingest import MAX_BATCH, IngestOutcome

logger = logging.getLogger(__name__)

_LENGTH = struct.Struct("!I")
_PACKAGE_ROOT = str(Path(__file__).resolve().parents[2])
STOP_TIMEOUT = 30.0
WRITER_CACHE_MIB = 64


def _frame(value: Any) -> bytes:
    data = pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)
    return _LENGTH.pack(len(data)) + data


class IngestWriter:
    """The API's side: hands requests to the writer process; each resolves once its group is committed.

    A writer process that dies fails the requests in its hands (503, retry later) and is started again
    for the next request.
    """

    def __init__(self, database_url: str, *, log_level: str = "INFO") -> None:
        self.database_url = database_url
        self.log_level = log_level
        self.process: subprocess.Popen[bytes] | None = None
        self._stream: asyncio.StreamWriter | None = None
        self._reader: asyncio.Task[None] | None = None
        self._pending: dict[int, asyncio.Future[IngestOutcome]] = {}
        self._numbers = itertools.count()
        self._starting = asyncio.Lock()
        # The last request the writer could not store (monotonic time, why) and the last one it stored.
        self.last_refusal: tuple[float, str] | None = None
        self.last_stored = 0.0

    @property
    def running(self) -> bool:
        """Whether the writer process is up; when it is not, the next request starts it."""
        return self.process is not None and self.process.poll() is None

    def failing(self, within: float) -> str | None:
        """Why ingest is failing: its last request was refused by the database in the last ``within`` seconds
        and none was stored since. None when ingest works (or has not been tried lately)."""
        if self.last_refusal is None:
            return None
        when, why = self.last_refusal
        return why if when > self.last_stored and time.monotonic() - when < within else None

    @property
    def in_hand(self) -> int:
        """Requests sent to the writer process and not answered yet."""
        return sum(not future.done() for future in self._pending.values())

    async def start(self) -> None:
        """Start the writer process; requests sent while it boots wait in the socket."""
        ours, theirs = socket.socketpair()
        pythonpath = os.pathsep.join(filter(None, [_PACKAGE_ROOT, os.environ.get("PYTHONPATH")]))
        try:
            self.process = subprocess.Popen(
                [sys.executable, "-m", __name__, str(theirs.fileno())],
                pass_fds=[theirs.fileno()],
                stdin=subprocess.DEVNULL,
                env={**os.environ, "PYTHONPATH": pythonpath},
            )
        finally:
            theirs.close()
        reader, stream = await asyncio.open_unix_connection(sock=ours)
        stream.write(_frame({"database_url": self.database_url, "log_level": self.log_level}))
        self._pending = {}
        self._stream = stream
        self._reader = asyncio.create_task(
            self._read_results(reader, stream, self._pending), name="ingest-writer-results"
        )
        logger.info("ingest writer started", extra={"action": "ingest.writer_started", "pid": self.process.pid})

    async def stop(self) -> None:
        """Let the requests in hand finish, then close the socket; the process exits once it has drained it."""
        if self._stream is None:
            return
        waiting = [future for future in self._pending.values() if not future.done()]
        if waiting:
            await asyncio.wait(waiting, timeout=STOP_TIMEOUT)
        self._stream.close()
        self._stream = None
        if self._reader is not None:
            await asyncio.wait([self._reader], timeout=STOP_TIMEOUT)
        if self.process is not None:
            await asyncio.to_thread(_wait_or_kill, self.process)

    async def submit(self, item: PreparedIngest) -> IngestOutcome:
        """Store one request; returns once it is committed, or raises its LeadEngineError."""
        if self._stream is None or self._stream.is_closing():
            async with self._starting:
                if self._stream is None or self._stream.is_closing():
                    await self.start()
        assert self._stream is not None
        number = next(self._numbers)
        future: asyncio.Future[IngestOutcome] = asyncio.get_running_loop().create_future()
        self._pending[number] = future
        # Sent at once: the writer groups whatever arrived while its last commit ran. Plain tuples both
        # ways: they pickle several times faster than named types.
        self._stream.write(_frame((number, tuple(item))))
        return await future

    async def _read_results(
        self,
        reader: asyncio.StreamReader,
        stream: asyncio.StreamWriter,
        pending: dict[int, asyncio.Future[IngestOutcome]],
    ) -> None:
        # One task per writer process, holding that process's socket and requests: a writer started
        # meanwhile has its own, which this one's end must not touch.
        try:
            while True:
                length = _LENGTH.unpack(await reader.readexactly(_LENGTH.size))[0]
                for number, result in pickle.loads(await reader.readexactly(length)):
                    future = pending.pop(number, None)
                    if future is None or future.done():
                        continue  # the client went away meanwhile; its lead is stored all the same
                    if isinstance(result, IngestUnavailableError):
                        self.last_refusal = (time.monotonic(), str(result))
                    elif not isinstance(result, BaseException):
                        self.last_stored = time.monotonic()
                    if isinstance(result, BaseException):
                        future.set_exception(result)
                    else:
                        future.set_result(IngestOutcome(*result))
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        if pending:
            code = self.process.poll() if self.process is not None else None
            logger.error(
                "ingest writer stopped with requests in hand; it starts again with the next request",
                extra={"action": "ingest.writer_lost", "requests": len(pending), "exit_code": code},
            )
        for future in pending.values():
            if not future.done():
                future.set_exception(IngestUnavailableError("the ingest writer stopped; retry later"))
        pending.clear()
        stream.close()


def _wait_or_kill(process: subprocess.Popen[bytes]) -> None:
    try:
        process.wait(timeout=STOP_TIMEOUT)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def _parse_frames(buffer: bytearray, frames: list[Any], limit: int) -> None:
    """Move the whole frames at the start of ``buffer`` into ``frames`` (up to ``limit``)."""
    start = 0
    while len(frames) < limit and len(buffer) - start >= _LENGTH.size:
        end = start + _LENGTH.size + _LENGTH.unpack_from(buffer, start)[0]
        if len(buffer) < end:
            break
        frames.append(pickle.loads(buffer[start + _LENGTH.size : end]))
        start = end
    del buffer[:start]


def _read_frames(sock: socket.socket, buffer: bytearray, limit: int) -> list[Any] | None:
    """Block until a whole frame is in, then take every frame that has arrived (at most ``limit``).

    None once the API closed its end and nothing whole is left.
    """
    frames: list[Any] = []
    _parse_frames(buffer, frames, limit)
    while len(frames) < limit:
        try:
            chunk = sock.recv(1 << 20, socket.MSG_DONTWAIT if frames else 0)
        except BlockingIOError:
            break
        if not chunk:
            break
        buffer += chunk
        _parse_frames(buffer, frames, limit)
    return frames or None


def serve(sock: socket.socket) -> None:
    """The writer process: store whatever requests arrived while the last commit ran, answer, repeat."""
    from lead_engine.core.db import create_db_engine
    from lead_engine.core.ingest import write_group
    from lead_engine.core.logs import configure_logging

    buffer = bytearray()
    config = _read_frames(sock, buffer, 1)
    if config is None:
        return
    configure_logging(config[0]["log_level"])
    engine = create_db_engine(config[0]["database_url"], cache_mib=WRITER_CACHE_MIB)
    try:
        while (frames := _read_frames(sock, buffer, MAX_BATCH)) is not None:
            results = write_group(engine, [PreparedIngest(*fields) for _, fields in frames])
            answer = [
                (number, result if isinstance(result, BaseException) else tuple(result))
                for (number, _), result in zip(frames, results, strict=True)
            ]
            try:
                sock.sendall(_frame(answer))
            except OSError:
                break  # the API is gone; what was committed stays committed
    finally:
        engine.dispose()


def main() -> None:
    """Entry point of the writer process: serve the socket whose descriptor is the first argument."""
    # Ctrl-C and a group-wide TERM reach this process too: it ends when the API closes the socket,
    # after answering what it holds, so a stopping API can still answer its last requests.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    with contextlib.closing(socket.socket(fileno=int(sys.argv[1]))) as sock:
        serve(sock)


if __name__ == "__main__":
    main()
