"""The framed host protocol in pure Python (:mod:`hw.spec.host`): the CRC, SLIP
framing round trips (property-based), the decoder's error classification in the
RTL's order, split feeding and ignored empty frames."""

import struct

from hypothesis import given, settings
from hypothesis import strategies as st

from hw.spec.host import (END, ESC, ESC_END, ESC_ESC, OVERHEAD, Error, FrameDecoder, Op, body, crc16, encode_frame)

# Payloads rich in the two bytes SLIP must escape, so that escaping is always exercised.
payload_bytes = st.lists(st.one_of(st.sampled_from([END, ESC, ESC_END, ESC_ESC]),
                                   st.integers(0, 255)), max_size=300).map(bytes)
frames = st.tuples(st.integers(0, 255), payload_bytes)


def slip(raw: bytes) -> bytes:
    """Reference SLIP framing of an already built body (independent of encode_frame)."""
    esc = {END: bytes([ESC, ESC_END]), ESC: bytes([ESC, ESC_ESC])}
    return bytes([END]) + b"".join(esc.get(b, bytes([b])) for b in raw) + bytes([END])


def raw_frame(raw: bytes) -> bytes:
    """``raw`` between two ENDs with no escaping at all (for hand-made bad frames
    that contain neither END nor ESC)."""
    assert END not in raw and ESC not in raw
    return bytes([END]) + raw + bytes([END])


def with_crc(head: bytes) -> bytes:
    return head + struct.pack(">H", crc16(head))


# -- CRC ------------------------------------------------------------------------------------


def test_crc_check_value():
    # CRC-16/CCITT-FALSE catalogue check value
    assert crc16(b"123456789") == 0x29B1
    assert crc16(b"") == 0xFFFF
    # incremental use: the CRC of a concatenation continues from the first part's
    assert crc16(b"56789", crc16(b"1234")) == 0x29B1


@given(payload_bytes)
def test_crc_of_a_body_with_its_crc_is_zero(data):
    # the property the receivers rely on: CRC over (bytes, CRC big-endian) is 0
    assert crc16(data + struct.pack(">H", crc16(data))) == 0


# -- framing round trips --------------------------------------------------------------------


def test_body_layout():
    b = body(Op.WRITE, b"\x01\x02\x03")
    assert b[:3] == bytes([Op.WRITE, 3, 0])          # op, length little-endian
    assert b[3:6] == b"\x01\x02\x03"
    assert b[6:] == struct.pack(">H", crc16(b[:6]))  # CRC big-endian
    assert len(b) == 3 + OVERHEAD


def test_escaping_of_special_bytes():
    # a payload of only END and ESC: every one escaped, nothing else changed
    f = encode_frame(0x02, bytes([END, ESC]))
    assert f == slip(body(0x02, bytes([END, ESC])))
    inner = f[1:-1]
    assert END not in inner
    assert bytes([ESC, ESC_END]) in inner and bytes([ESC, ESC_ESC]) in inner
    assert FrameDecoder().feed(f) == [(0x02, bytes([END, ESC]))]


@given(frames)
def test_any_frame_round_trips(frame):
    op, payload = frame
    wire = encode_frame(op, payload)
    assert wire == slip(body(op, payload))
    assert wire[0] == END and wire[-1] == END and END not in wire[1:-1]
    assert FrameDecoder().feed(wire) == [(op, payload)]


@given(st.lists(frames, max_size=8))
def test_concatenated_frames_decode_in_order(fs):
    wire = b"".join(encode_frame(op, p) for op, p in fs)
    assert FrameDecoder().feed(wire) == fs


@given(st.lists(frames, min_size=1, max_size=5), st.data())
@settings(max_examples=50)
def test_split_feeding_gives_the_same_frames(fs, data):
    wire = b"".join(encode_frame(op, p) for op, p in fs)
    # one byte at a time
    dec = FrameDecoder()
    got = [f for b in wire for f in dec.feed(bytes([b]))]
    assert got == fs
    # arbitrary chunks (cuts may fall inside an escape sequence)
    cuts = sorted(data.draw(st.lists(st.integers(0, len(wire)), max_size=10)))
    dec = FrameDecoder()
    got = []
    for a, b in zip([0] + cuts, cuts + [len(wire)]):
        got += dec.feed(wire[a:b])
    assert got == fs


def test_empty_frames_are_ignored():
    f = encode_frame(Op.IDENTIFY)
    dec = FrameDecoder()
    assert dec.feed(bytes([END] * 5)) == []
    # frames sharing their ENDs, with empty frames between them
    wire = f[:-1] + f + bytes([END, END]) + f
    assert dec.feed(wire) == [(Op.IDENTIFY, b"")] * 3


@given(st.binary(min_size=1, max_size=40).map(lambda b: b.replace(bytes([END]), b"\x55")),
       frames)
def test_resynchronises_after_garbage(junk, frame):
    # garbage before a frame costs one error (or, if it happens to form a frame, one
    # frame), never the frame after it
    got = FrameDecoder().feed(junk + encode_frame(*frame))
    assert got[-1] == frame
    assert len(got) <= 2


# -- error classification ---------------------------------------------------------------


def test_error_short():
    for n in range(1, OVERHEAD):
        raw = bytes(range(1, n + 1))
        assert FrameDecoder().feed(raw_frame(raw)) == [(None, Error.SHORT)], n
    # escaped bytes count once: 4 body bytes, 8 wire bytes
    assert FrameDecoder().feed(slip(bytes([END] * 4))) == [(None, Error.SHORT)]


def test_error_bad_crc():
    good = body(Op.READ, b"\x00\x00\x01\x00\x00\x00\x02\x00")
    for i in range(len(good)):
        for bit in (0, 7):
            b = bytearray(good)
            b[i] ^= 1 << bit
            assert FrameDecoder().feed(slip(bytes(b))) == [(None, Error.BAD_CRC)], (i, bit)
    # the smallest frame: 5 bytes, CRC wrong
    assert FrameDecoder().feed(raw_frame(b"\x01\x00\x00\x12\x34")) == [(None, Error.BAD_CRC)]


def test_error_bad_length():
    # a correct CRC over a length field that disagrees with the bytes received
    for claimed, actual in ((3, 2), (1, 2), (0, 7), (0x0100, 0), (0xFFFF, 4)):
        head = struct.pack("<BH", Op.WRITE, claimed) + bytes(range(1, actual + 1))
        got = FrameDecoder().feed(slip(with_crc(head)))
        assert got == [(None, Error.BAD_LENGTH)], (claimed, actual)


def test_error_too_long():
    maxp = 64
    dec = FrameDecoder(max_payload=maxp)
    # exactly max_payload is fine, one more is not, whatever its CRC and length
    assert dec.feed(encode_frame(Op.WRITE, bytes(maxp))) == [(Op.WRITE, bytes(maxp))]
    assert dec.feed(encode_frame(Op.WRITE, bytes(maxp + 1))) == [(None, Error.TOO_LONG)]
    assert dec.feed(raw_frame(b"\x01" * 500)) == [(None, Error.TOO_LONG)]
    # escaped bytes count once: max_payload ENDs in the payload still fit
    ends = bytes([END]) * maxp
    assert dec.feed(encode_frame(Op.WRITE, ends)) == [(Op.WRITE, ends)]


def test_error_bad_escape():
    good = body(Op.IDENTIFY)
    for bad in (0x00, 0x55, ESC_END - 1, ESC_ESC + 1, 0xFF):
        for pos in range(len(good) + 1):
            wire = bytes([END]) + good[:pos] + bytes([ESC, bad]) + good[pos:] + bytes([END])
            assert FrameDecoder().feed(wire) == [(None, Error.BAD_ESCAPE)], (bad, pos)
    # a bad escape as the frame's only content: still one error, not an empty frame
    assert FrameDecoder().feed(bytes([END, ESC, 0x00, END])) == [(None, Error.BAD_ESCAPE)]
    # ESC ESC is not an escaped ESC: the second ESC is the bad byte
    assert FrameDecoder().feed(bytes([END]) + good + bytes([ESC, ESC, ESC_ESC, END])) \
        == [(None, Error.BAD_ESCAPE)]


def test_error_priority_matches_the_rtl():
    """TOO_LONG, BAD_ESCAPE, SHORT, BAD_CRC, BAD_LENGTH: the first that applies."""
    dec = FrameDecoder(max_payload=64)
    # too long and a bad escape (whose byte counts towards the length)
    assert dec.feed(raw_frame(b"\x01" * 69)[:-1] + bytes([ESC, 0x00, END])) \
        == [(None, Error.TOO_LONG)]
    assert dec.feed(raw_frame(b"\x01" * 68)[:-1] + bytes([ESC, 0x00, END])) \
        == [(None, Error.BAD_ESCAPE)]
    # a bad escape in a short frame
    assert dec.feed(bytes([END, 0x01, ESC, 0x00, END])) == [(None, Error.BAD_ESCAPE)]
    # short frames are SHORT even though their CRC is wrong
    assert dec.feed(raw_frame(b"\x01\x02")) == [(None, Error.SHORT)]
    # a bad CRC wins over a bad length
    head = struct.pack("<BH", Op.WRITE, 9) + b"\x01"
    assert dec.feed(slip(head + b"\x00\x00")) == [(None, Error.BAD_CRC)]


def test_errors_do_not_affect_the_next_frame():
    read = (Op.READ, b"\x01\x00\x02\x00\x00\x00\x01\x00")
    f = encode_frame(*read)
    bad = [(raw_frame(b"\x01\x02"), Error.SHORT),
           (bytes([END, ESC, 0x00, END]), Error.BAD_ESCAPE),
           (raw_frame(b"\x01" * 80), Error.TOO_LONG),
           (raw_frame(b"\x01\x00\x00\x12\x34"), Error.BAD_CRC)]
    got = FrameDecoder(max_payload=64).feed(b"".join(b + f for b, _ in bad))
    assert got == [x for _, e in bad for x in ((None, e), read)]


def test_esc_right_before_end_is_a_bad_escape():
    """An ESC that escapes nothing costs one error reply, as every bad frame does (the
    RTL decodes the same way; the Verilator fuzz compares the two)."""
    from hw.spec.host import END, ESC, Error, FrameDecoder, encode_frame
    d = FrameDecoder()
    assert d.feed(bytes([END, ESC, END])) == [(None, Error.BAD_ESCAPE)]
    assert d.feed(encode_frame(1)[:-1] + bytes([ESC, END])) == [(None, Error.BAD_ESCAPE)]
    assert d.feed(encode_frame(1)) == [(1, b"")]


def test_build_id_ignores_build_scripts():
    """build_id hashes the chip generator's sources only: the build and board scripts
    are not among them, the generator's modules and every format are."""
    from pathlib import Path

    from hw.spec.host import generator_sources
    hw = Path(__file__).resolve().parents[3] / "hw"
    rel = {str(p.relative_to(hw)) for p in generator_sources()}
    assert not rel & {"build.py", "pnr.py", "synth.py", "block_timing.py", "clocks.py"}
    assert {"chip.py", "host/interface.py", "host/__init__.py", "core/neurocore.py",
            "npe/lane.py", "spec/isa.py", "spec/config.py"} <= rel
