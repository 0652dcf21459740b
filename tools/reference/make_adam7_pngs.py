#!/usr/bin/env python3
"""Writes Adam7-interlaced PNG fixtures (tests/fixtures/images/adam7_*.png) with the standard library
only (Pillow cannot write interlaced PNGs): grey at 1, 2, 4, 8 bits, palette at 2 and 4 bits, RGB at
16 bits, 9x7 pixels of seeded samples, filter type 0 on every row. The tests decode them with the
engine (fast-png, pass by pass below 8 bits) and compare with pngjs."""
import os
import random
import struct
import zlib

OUT = os.path.join(os.path.dirname(__file__), '..', '..', 'tests', 'fixtures', 'images')
PASSES = [(0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2), (0, 1, 1, 2)]


def chunk(kind, data):
    return struct.pack('>I', len(data)) + kind + data + struct.pack('>I', zlib.crc32(kind + data) & 0xffffffff)


def row_bytes(samples, depth):
    if depth == 8:
        return bytes(samples)
    if depth == 16:
        return b''.join(struct.pack('>H', s) for s in samples)
    bits = ''.join(format(s, '0%db' % depth) for s in samples)
    bits += '0' * (-len(bits) % 8)
    return bytes(int(bits[i:i + 8], 2) for i in range(0, len(bits), 8))


def write(name, depth, colour_type, seed, width=9, height=7):
    rnd = random.Random(seed)
    channels = 3 if colour_type == 2 else 1
    top = (1 << depth) - 1 if colour_type != 3 else min((1 << depth) - 1, 5)
    px = [[rnd.randint(0, top) for _ in range(width * channels)] for _ in range(height)]
    raw = b''
    for x0, y0, dx, dy in PASSES:
        xs, ys = range(x0, width, dx), range(y0, height, dy)
        if not xs or not ys:
            continue
        for y in ys:
            raw += b'\x00' + row_bytes([px[y][x * channels + c] for x in xs for c in range(channels)], depth)
    body = chunk(b'IHDR', struct.pack('>IIBBBBB', width, height, depth, colour_type, 0, 0, 1))
    if colour_type == 3:
        body += chunk(b'PLTE', bytes(rnd.randint(0, 255) for _ in range(3 * (top + 1))))
    body += chunk(b'IDAT', zlib.compress(raw)) + chunk(b'IEND', b'')
    with open(os.path.join(OUT, name), 'wb') as f:
        f.write(b'\x89PNG\r\n\x1a\n' + body)


write('adam7_gray1.png', 1, 0, 71)
write('adam7_gray2.png', 2, 0, 72)
write('adam7_gray4.png', 4, 0, 74)
write('adam7_gray8.png', 8, 0, 78)
write('adam7_pal2.png', 2, 3, 82)
write('adam7_pal4.png', 4, 3, 84)
write('adam7_rgb16.png', 16, 2, 96)
