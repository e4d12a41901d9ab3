#!/usr/bin/env python3
"""Print the glyph tables of Sources/Plot/BitmapFont.swift from the X11 misc-fixed fonts 6x13 and
6x13B (public domain; Debian package xfonts-base), read with Pillow:

  apt-get download xfonts-base && dpkg-deb -x xfonts-base_*.deb x
  python scripts/font_table.py x/usr/share/fonts/X11/misc
"""
import gzip
import sys

from PIL import PcfFontFile


def table(directory, name):
    font = PcfFontFile.PcfFontFile(gzip.open(f"{directory}/{name}.pcf.gz"))
    lines = []
    for code in range(32, 127):
        image = font.glyph[code][3]
        assert image.size == (6, 13), (name, chr(code), image.size)
        rows = [sum(0x80 >> x for x in range(6) if image.getpixel((x, y))) for y in range(13)]
        lines.append(f'        "{"".join(f"{r:02X}" for r in rows)}",  // {chr(code)!r}')
    return "\n".join(lines)


if __name__ == "__main__":
    for name in ["6x13", "6x13B"]:
        print(f"// {name}\n{table(sys.argv[1], name)}\n")
