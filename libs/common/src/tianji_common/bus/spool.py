"""A local, durable, append-only spool for events NATS could not take.

Why: the gateway must not lose a usage event when NATS is down, and must not make
the request wait for it either (PP-12). Events go to a file in `spool_dir` and are
replayed, in order, once NATS is back; JetStream drops the replays it already has
(`Nats-Msg-Id` within the duplicate window) and the spend-worker drops the rest
(unique `event_id`).

Format: records of `>II` (body length, CRC-32 of body) + body, the body being
msgpack `(subject, event_id, payload)`. Writes go straight to the file (the page
cache survives a process crash); `sync()` fsyncs, batched by the caller, so a power
loss can cost only the last few milliseconds. A torn or corrupt tail, from a crash
mid-write, is cut off when the spool is opened. The file is `flock`ed so two
processes can never interleave records in one spool.
"""

from __future__ import annotations

import asyncio
import fcntl
import logging
import os
import struct
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import msgspec

__all__ = ["SPOOL_FILE", "Spool", "SpoolLocked", "SpoolRecord"]

logger = logging.getLogger(__name__)

SPOOL_FILE: Final = "usage.spool"
_HEADER: Final = struct.Struct(">II")
_READ_CHUNK: Final = 1 << 20

_encoder = msgspec.msgpack.Encoder()
_decoder = msgspec.msgpack.Decoder(tuple[str, str, bytes])


class SpoolLocked(RuntimeError):
    """Another process holds this spool; give each process its own spool_dir."""


@dataclass(frozen=True, slots=True)
class SpoolRecord:
    """One spooled publish and the file offset just past it."""

    subject: str
    event_id: str
    payload: bytes
    end: int


class Spool:
    """The spool file; `replayed` marks how far a replay has got."""

    def __init__(self, directory: Path, name: str = SPOOL_FILE) -> None:
        self.path = directory / name
        self._fd: int | None = None
        self._dirty = False
        self.replayed = 0

    def open(self) -> None:
        """Create or reopen the file, lock it and cut off a torn tail."""
        if self._fd is not None:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise SpoolLocked(str(self.path)) from None
        self._fd = fd
        self._cut_torn_tail()

    @property
    def pending(self) -> bool:
        """Whether any record still waits to be replayed."""
        return self.size() > self.replayed

    def size(self) -> int:
        """Bytes in the file."""
        return os.fstat(self._require()).st_size

    def append(self, subject: str, event_id: str, payload: bytes) -> None:
        """Append one record with a single write(2); fsync is left to `sync()`."""
        body = _encoder.encode((subject, event_id, payload))
        record = _HEADER.pack(len(body), zlib.crc32(body)) + body
        os.write(self._require(), record)
        self._dirty = True

    async def sync(self) -> None:
        """fsync, off the event loop, if anything was written since the last one."""
        if self._fd is None or not self._dirty:
            return
        self._dirty = False
        await asyncio.to_thread(os.fsync, self._fd)

    async def read(self, offset: int) -> list[SpoolRecord]:
        """Whole records from `offset`, up to about 1 MiB, read off the event loop."""
        return await asyncio.to_thread(_read_at, self._require(), offset)

    def truncate_if_replayed(self) -> bool:
        """Empty the file if every record was replayed; True if it is now empty."""
        if self.size() != self.replayed:
            return False
        os.ftruncate(self._require(), 0)
        self.replayed = 0
        self._dirty = True
        return True

    def close(self) -> None:
        """fsync, unlock and close (synchronously: this is the last thing we do)."""
        if self._fd is None:
            return
        fd, self._fd = self._fd, None
        os.fsync(fd)
        os.close(fd)  # closing the fd releases the flock

    def _require(self) -> int:
        if self._fd is None:
            self.open()
        assert self._fd is not None
        return self._fd

    def _cut_torn_tail(self) -> None:
        fd = self._require()
        size = os.fstat(fd).st_size
        offset = 0
        while records := _read_at(fd, offset):
            offset = records[-1].end
        if offset < size:
            logger.error("spool %s: dropping %d torn bytes at its end", self.path, size - offset)
            os.ftruncate(fd, offset)


def _read_at(fd: int, offset: int) -> list[SpoolRecord]:
    chunk = os.pread(fd, _READ_CHUNK, offset)
    records = _parse(chunk, offset)
    if not records and len(chunk) >= _HEADER.size:
        # A record bigger than one chunk: read exactly that record.
        length, _crc = _HEADER.unpack_from(chunk)
        records = _parse(os.pread(fd, _HEADER.size + length, offset), offset)
    return records


def _parse(chunk: bytes, base: int) -> list[SpoolRecord]:
    """Decode whole, intact records from `chunk`, which starts at file offset `base`."""
    records: list[SpoolRecord] = []
    position = 0
    while position + _HEADER.size <= len(chunk):
        length, crc = _HEADER.unpack_from(chunk, position)
        start = position + _HEADER.size
        body = chunk[start : start + length]
        if len(body) < length or zlib.crc32(body) != crc:
            break
        try:
            subject, event_id, payload = _decoder.decode(body)
        except msgspec.DecodeError:
            break
        position = start + length
        records.append(SpoolRecord(subject, event_id, payload, base + position))
    return records
