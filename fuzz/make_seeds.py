#!/usr/bin/env python3
"""Writes the seed corpora in fuzz/seeds/<target>/ (run from fuzz/: python3 make_seeds.py).

Hand-made frames plus a few golden frames from proto/testdata/vectors.json (the zstd ones,
which are impractical to write by hand). Seeds are committed; re-running overwrites them."""

import json
import os
import struct

HERE = os.path.dirname(os.path.abspath(__file__))
VECTORS = json.load(open(os.path.join(HERE, "..", "proto", "testdata", "vectors.json")))


def golden(name):
    for group in ("valid", "invalid", "tolerated"):
        for vector in VECTORS[group]:
            if vector["name"] == name:
                if "frames" in vector:
                    return [bytes.fromhex(f["hex"]) for f in vector["frames"]]
                return [bytes.fromhex(vector["hex"])]
    raise KeyError(name)


def write(target, name, data):
    path = os.path.join(HERE, "seeds", target)
    os.makedirs(path, exist_ok=True)
    with open(os.path.join(path, name), "wb") as f:
        f.write(data)


def prefixed(frame):
    return struct.pack(">I", len(frame)) + frame


# Envelope{ping: Ping{nonce: 1}}: field 12 (LEN) = tag 0x62, length 2, Ping{nonce(1) = 1}.
PING = bytes([0x62, 0x02, 0x08, 0x01])
# Envelope{seq: 1, channel: 1, term_data: TermData{data: "ls\r"}}: field 22 = tag 0xb2 0x01.
TERM_DATA = bytes([0x08, 0x01, 0x18, 0x01, 0xB2, 0x01, 0x05, 0x0A, 0x03]) + b"ls\r"

# decode_message: one WebSocket message each.
write("decode_message", "ping_plain", b"\x00" + PING)
write("decode_message", "ping_reset", b"\x04" + PING)
write("decode_message", "term_data_plain", b"\x00" + TERM_DATA)
write("decode_message", "term_open", golden("term_open")[0])
write("decode_message", "zstd_frame", golden("zstd_frame")[0])
write("decode_message", "zstd_stream_first", golden("zstd_stream")[0])
write("decode_message", "zstd_bomb", golden("decompression_bomb")[0])
write("decode_message", "reserved_flags", b"\x08" + PING)

# decode_stream: byte 0 = number of split bytes (mod 16), then the split bytes, then the stream.
write("decode_stream", "ping", b"\x00" + prefixed(b"\x00" + PING))
write("decode_stream", "two_frames_split",
      b"\x02\x02\x06" + prefixed(b"\x00" + PING) + prefixed(b"\x00" + TERM_DATA))
write("decode_stream", "stream_framing", b"\x00" + b"".join(golden("stream_framing")))
write("decode_stream", "zstd_stream_chunks",
      b"\x03\x00\x07\x3f" + b"".join(golden("zstd_stream_on_stream_framing")))
write("decode_stream", "zstd_stream_messages",
      b"\x00" + b"".join(prefixed(f) for f in golden("zstd_stream")))
write("decode_stream", "zstd_stream_release",
      b"\x01\x10" + b"".join(prefixed(f) for f in golden("zstd_stream_release")))
write("decode_stream", "oversized_prefix", b"\x00" + golden("oversized_length_prefix")[0])
write("decode_stream", "truncated", b"\x00" + prefixed(b"\x00" + PING)[:-2])

# roundtrip: the input drives arbitrary::Unstructured (see the target's doc comment), so any
# bytes are valid; these give it short and long, flat and text-like material to start from.
write("roundtrip", "zeros", bytes(64))
write("roundtrip", "ones", b"\x01" * 64)
write("roundtrip", "stream_policy", bytes([0x00, 0x01, 0x02, 0x02]) + bytes(range(60)))
write("roundtrip", "build_log",
      bytes([0x01, 0x00, 0x06, 0x02]) +
      b"".join(b"\x1b[1m\x1b[32m   Compiling\x1b[0m crate-%02d v0.%d.0\r\n" % (i, i % 5)
               for i in range(24)))
write("roundtrip", "counting", bytes(i % 256 for i in range(512)))
