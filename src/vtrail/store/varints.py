"""Varints of zig-zagged integers: how a sample block (store/samples.py) and its marks
(store/marks.py) keep small steps in a byte or two, whatever the size of an integer."""

from __future__ import annotations


def zz(n: int) -> int:
    # Python integers: a step between two 64-bit readings needs 65 bits.
    return n << 1 if n >= 0 else (~n << 1) | 1


def unzz(n: int) -> int:
    return (n >> 1) ^ -(n & 1)


def put(n: int, out: bytearray) -> None:
    """Append the varint of `n` (not negative) to `out`."""
    while n > 0x7F:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)


def get(data: bytes, i: int) -> tuple[int, int]:
    """The varint at `i`, and where the next one starts."""
    shift = result = 0
    while True:
        b = data[i]
        i += 1
        result |= (b & 0x7F) << shift
        if b < 0x80:
            return result, i
        shift += 7
