#!/usr/bin/python3
"""Write a progressive JPEG whose last scan is repeated COUNT times: valid
enough for PIL to decode (a repeated refinement scan only warns), and a pass
over the image per scan for a decoder. Usage: make_many_scans.py OUT COUNT"""
import io
import sys

from PIL import Image


def scans(data):
    """(start, end) of each SOS segment with its entropy-coded data."""
    found, i = [], 2
    while i < len(data) and data[i + 1] != 0xD9:
        length = int.from_bytes(data[i + 2 : i + 4], "big")
        if data[i + 1] != 0xDA:
            i += 2 + length
            continue
        j = i + 2 + length
        while not (data[j] == 0xFF and data[j + 1] != 0x00 and not 0xD0 <= data[j + 1] <= 0xD7):
            j += 1
        found.append((i, j))
        i = j
    return found


def main():
    out, count = sys.argv[1], int(sys.argv[2])
    image = Image.new("RGB", (64, 48))
    image.putdata([(x * 4, y * 5, (x + y) * 2) for y in range(48) for x in range(64)])
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", progressive=True, quality=90)
    data = buffer.getvalue()
    start, end = scans(data)[-1]
    with open(out, "wb") as f:
        f.write(data[:end] + data[start:end] * count + data[end:])


if __name__ == "__main__":
    main()
