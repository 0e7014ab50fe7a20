"""The testee protocol's framing, and a testee subprocess speaking it (see testee.proto).

A frame is protobuf's standard length-delimited encoding: the payload's length as a base-128 varint, then the
payload. It is what Java's ``writeDelimitedTo``/``parseDelimitedFrom``, C#'s ``WriteDelimitedTo`` and prost's
``encode_length_delimited``/``decode_length_delimited`` read and write, so a testee in any language can use its
protobuf library's own delimited I/O.
"""

from __future__ import annotations

import subprocess
import threading
from collections.abc import Sequence
from typing import BinaryIO

from ._proto import testee_pb2 as pb

MAX_FRAME = 64 << 20  # a frame longer than this is a protocol error, not a message
MAX_VARINT_BYTES = 10  # ten groups of 7 bits carry 64; protobuf rejects longer varints
_CONTINUE = 0x80  # the high bit of a varint byte: more bytes follow


class ProtocolError(RuntimeError):
    """The testee broke the protocol: a torn frame, an oversize length, an undecodable message, or an exit."""


class FrameError(ProtocolError):
    """A stream of frames that breaks the framing itself (as opposed to a testee that exits or garbles a message)."""


class TruncatedFrameError(FrameError):
    """The stream ended inside a frame: in its length varint or in its payload."""


class MalformedLengthError(FrameError):
    """A length varint longer than 10 bytes or beyond 64 bits."""


class FrameTooLongError(FrameError):
    """A length beyond MAX_FRAME (read, or about to be written)."""


def encode_varint(value: int) -> bytes:
    """``value`` as protobuf's base-128 varint: 7 bits a byte, least significant group first."""
    if value < 0:
        raise ValueError(f"a varint length cannot be negative: {value}")
    out = bytearray()
    while value >= _CONTINUE:
        out.append((value & 0x7F) | _CONTINUE)
        value >>= 7
    out.append(value)
    return bytes(out)


def write_frame(stream: BinaryIO, payload: bytes) -> None:
    if len(payload) > MAX_FRAME:
        raise FrameTooLongError(f"frame of {len(payload)} bytes is longer than the {MAX_FRAME} allowed")
    stream.write(encode_varint(len(payload)) + payload)
    stream.flush()


def _read_length(stream: BinaryIO) -> int | None:
    """The next frame's length; None at a clean end of stream (before its first byte)."""
    value = 0
    for count in range(MAX_VARINT_BYTES):
        byte = stream.read(1)
        if not byte:
            if count == 0:
                return None
            raise TruncatedFrameError(f"stream ended inside a frame length, after {count} bytes of its varint")
        (bits,) = byte
        # A tenth byte may hold only bit 63: more bits, or a continuation into an eleventh byte, is no 64-bit
        # varint (protobuf's own check). Stopping here also bounds what a garbled stream makes us read.
        if count == MAX_VARINT_BYTES - 1 and bits > 1:
            break
        value |= (bits & 0x7F) << (7 * count)
        if not bits & _CONTINUE:
            return value
    raise MalformedLengthError(f"frame length is not a varint of at most {MAX_VARINT_BYTES} bytes within 64 bits")


def read_frame(stream: BinaryIO) -> bytes | None:
    """One frame's payload; None at a clean end of stream (between frames)."""
    length = _read_length(stream)
    if length is None:
        return None
    if length > MAX_FRAME:
        raise FrameTooLongError(f"frame of {length} bytes is longer than the {MAX_FRAME} allowed")
    payload = stream.read(length)
    if len(payload) < length:
        raise TruncatedFrameError(f"stream ended after {len(payload)} of {length} bytes of a frame")
    return payload


class TesteeProcess:
    """A running testee: ``ask`` sends one Request and returns its Response."""

    def __init__(self, command: Sequence[str], timeout: float = 60.0, seconds_per_char: float = 0.005) -> None:
        self.command = list(command)
        # Emulated testees are slow on long texts: the watchdog grows with the input.
        self.timeout = timeout
        self.seconds_per_char = seconds_per_char
        self.restarts = 0
        self._stderr: list[bytes] = []
        self._start()

    def _start(self) -> None:
        self._proc = subprocess.Popen(
            self.command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE
        )
        # Drain stderr so that a chatty testee never blocks on a full pipe.
        threading.Thread(target=self._drain, args=(self._proc,), daemon=True).start()

    def _drain(self, proc: subprocess.Popen[bytes]) -> None:
        assert proc.stderr is not None
        for line in proc.stderr:
            self._stderr.append(line)
            del self._stderr[:-50]

    def stderr_tail(self) -> str:
        return b"".join(self._stderr).decode("utf-8", errors="replace")[-2000:]

    def ask(self, bundle: str, text: str) -> pb.Response:
        """The testee's answer; ProtocolError if it dies, hangs or garbles (it is restarted for the next ask)."""
        if self._proc.poll() is not None:  # it died answering an earlier request
            self.restarts += 1
            self._start()
        assert self._proc.stdin is not None and self._proc.stdout is not None
        request = pb.Request(bundle=bundle, text=text).SerializeToString()
        # A testee that hangs is killed, which turns the blocked read into an end of stream.
        watchdog = threading.Timer(self.timeout + self.seconds_per_char * len(text), self._proc.kill)
        watchdog.start()
        try:
            write_frame(self._proc.stdin, request)
            payload = read_frame(self._proc.stdout)
        except FrameError as exc:
            self._proc.kill()  # out of step with us (or already gone): start afresh
            self._proc.wait()
            raise type(exc)(f"testee {self.command[0]}: {exc}: {self.stderr_tail()}") from None
        except (BrokenPipeError, OSError) as exc:
            raise ProtocolError(f"testee {self.command[0]} died ({exc}): {self.stderr_tail()}") from None
        finally:
            watchdog.cancel()
        if payload is None:
            code = self._proc.wait(timeout=5)
            raise ProtocolError(f"testee {self.command[0]} exited with {code}: {self.stderr_tail()}")
        response = pb.Response()
        try:
            response.ParseFromString(payload)
        except Exception as exc:  # protobuf's DecodeError
            self._proc.kill()  # out of step with us: start afresh
            self._proc.wait()
            raise ProtocolError(f"testee sent an undecodable Response: {exc}") from None
        return response

    def close(self) -> int:
        if self._proc.stdin is not None and not self._proc.stdin.closed:
            try:
                self._proc.stdin.close()
            except OSError:  # the testee is gone and took unflushed bytes with it
                pass
        try:
            return self._proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            return self._proc.wait()

    def __enter__(self) -> TesteeProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
