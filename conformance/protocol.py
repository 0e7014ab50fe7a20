"""The testee protocol's framing, and a testee subprocess speaking it (see testee.proto)."""

from __future__ import annotations

import struct
import subprocess
import threading
from collections.abc import Sequence
from typing import BinaryIO

from ._proto import testee_pb2 as pb

MAX_FRAME = 64 << 20  # a frame longer than this is a protocol error, not a message
_LENGTH = struct.Struct("<I")


class ProtocolError(RuntimeError):
    """The testee broke the protocol: a torn frame, an oversize length, an undecodable message, or an exit."""


def write_frame(stream: BinaryIO, payload: bytes) -> None:
    stream.write(_LENGTH.pack(len(payload)) + payload)
    stream.flush()


def read_frame(stream: BinaryIO) -> bytes | None:
    """One frame's payload; None at a clean end of stream."""
    head = stream.read(_LENGTH.size)
    if not head:
        return None
    if len(head) < _LENGTH.size:
        raise ProtocolError("stream ended inside a frame length")
    (length,) = _LENGTH.unpack(head)
    if length > MAX_FRAME:
        raise ProtocolError(f"frame of {length} bytes is longer than the {MAX_FRAME} allowed")
    payload = stream.read(length)
    if len(payload) < length:
        raise ProtocolError(f"stream ended after {len(payload)} of {length} bytes of a frame")
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
