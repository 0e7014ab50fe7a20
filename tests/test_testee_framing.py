"""The testee protocol's framing: protobuf's varint-delimited messages, as the runner and the testee use them."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from conformance import protocol
from conformance._proto import testee_pb2 as pb
from conformance.protocol import (
    MAX_FRAME,
    FrameTooLongError,
    MalformedLengthError,
    ProtocolError,
    TruncatedFrameError,
    encode_varint,
    read_frame,
    write_frame,
)
from conformance.runtimes import build_native_testee


def _framed(*payloads: bytes) -> io.BytesIO:
    stream = io.BytesIO()
    for payload in payloads:
        write_frame(stream, payload)
    stream.seek(0)
    return stream


@pytest.mark.parametrize(
    ("length", "prefix"),
    [
        (0, "00"),
        (1, "01"),
        (127, "7f"),
        (128, "80 01"),
        (300, "ac 02"),
        (16_383, "ff 7f"),
        (16_384, "80 80 01"),
        (MAX_FRAME, "80 80 80 20"),
    ],
)
def test_lengths_are_base_128_varints(length: int, prefix: str) -> None:
    assert encode_varint(length) == bytes.fromhex(prefix)


def test_a_300_byte_message_is_prefixed_with_ac_02() -> None:
    payload = bytes(range(256)) + bytes(44)
    stream = _framed(payload)
    assert stream.getvalue()[:2] == b"\xac\x02" and len(stream.getvalue()) == 302
    assert read_frame(stream) == payload


def test_the_spec_example_frame() -> None:
    """The worked example of README.md, "The testee protocol"."""
    request = pb.Request(bundle="m", text="hi").SerializeToString()
    assert _framed(request).getvalue() == bytes.fromhex("07 0a 01 6d 12 02 68 69")


def test_frames_round_trip_and_end_cleanly_between_frames() -> None:
    payloads = [b"", b"hello", bytes(127), bytes(128), bytes(70_000)]
    stream = _framed(*payloads)
    assert [read_frame(stream) for _ in payloads] == payloads
    assert read_frame(stream) is None  # a clean end between frames
    assert read_frame(stream) is None
    assert read_frame(io.BytesIO()) is None


@pytest.mark.parametrize(
    ("stream", "message"),
    [
        (b"\x80", "inside a frame length, after 1 bytes"),  # the varint promises another byte
        (b"\xac", "inside a frame length"),
        (b"\x05he", "after 2 of 5 bytes"),
        (b"\xac\x02" + bytes(299), "after 299 of 300 bytes"),
    ],
)
def test_an_end_inside_a_frame_is_a_truncated_frame(stream: bytes, message: str) -> None:
    with pytest.raises(TruncatedFrameError, match=message):
        read_frame(io.BytesIO(stream))


def test_an_end_after_a_whole_frame_is_clean_and_inside_the_next_is_not() -> None:
    reader = io.BytesIO(b"\x02ok\x05h")
    assert read_frame(reader) == b"ok"
    with pytest.raises(TruncatedFrameError, match="after 1 of 5 bytes"):
        read_frame(reader)


@pytest.mark.parametrize(
    "prefix",
    [
        b"\xff" * 10 + b"\x01",  # eleven bytes
        b"\x80" * 10 + b"\x00",  # eleven bytes, even though the value is 0
        b"\xff" * 9 + b"\x02",  # ten bytes, but bit 64 set
    ],
)
def test_a_varint_beyond_10_bytes_or_64_bits_is_malformed(prefix: bytes) -> None:
    with pytest.raises(MalformedLengthError, match="at most 10 bytes"):
        read_frame(io.BytesIO(prefix + b"payload"))


def test_non_minimal_varints_are_read_as_protobuf_reads_them() -> None:
    # Protobuf parsers accept padded varints of up to 10 bytes; so do we.
    assert read_frame(io.BytesIO(b"\x82\x80\x00ok")) == b"ok"
    assert read_frame(io.BytesIO(b"\x80" * 9 + b"\x00")) == b""


@pytest.mark.parametrize("length", [MAX_FRAME + 1, 1 << 32, (1 << 64) - 1])
def test_lengths_beyond_the_limit_are_refused_before_reading_the_payload(length: int) -> None:
    with pytest.raises(FrameTooLongError, match="longer than"):
        read_frame(io.BytesIO(encode_varint(length)))


def test_exactly_the_limit_is_allowed() -> None:
    # Refused for its missing payload, not for its length.
    with pytest.raises(TruncatedFrameError, match=f"after 0 of {MAX_FRAME} bytes"):
        read_frame(io.BytesIO(encode_varint(MAX_FRAME)))


def test_oversize_payloads_are_not_written() -> None:
    stream = io.BytesIO()
    with pytest.raises(FrameTooLongError):
        write_frame(stream, bytes(MAX_FRAME + 1))
    assert stream.getvalue() == b""


def test_framing_errors_are_protocol_errors() -> None:
    """The runner reports any ProtocolError as a "protocol" mismatch; the framing's errors must be among them."""
    for error in (TruncatedFrameError, MalformedLengthError, FrameTooLongError):
        assert issubclass(error, ProtocolError)


@pytest.mark.slow
def test_the_rust_testee_agrees_on_multi_byte_lengths_in_both_directions(tmp_path: Path) -> None:
    """Requests and responses longer than 127 bytes need two-byte varints on both sides of the pipe."""
    missing = tmp_path / ("no-such-bundle-" + "x" * 200)
    with protocol.TesteeProcess([str(build_native_testee())]) as testee:
        for text in ("", "é" * 300):
            response = testee.ask(str(missing), text)
            assert response.failure.kind == "not_found", response
            assert len(response.SerializeToString()) > 127
            assert str(missing) in response.failure.message
        assert testee.restarts == 0
