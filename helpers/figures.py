"""Figures shown with a description (alt text), and a palette safe for colour-vision deficiencies (every notebook).

``show(fig, alt=...)`` ends every static figure cell. The description is written with the figure, from the numbers
the cell computed, and travels inside the PNG as its ``Description`` text chunk (the PNG standard's keyword for "a
description of the image"): the book's conf.py sets each ``<img>``'s alt text from it, while JupyterLab shows an
ordinary ``image/png`` output (its ``text/plain`` is the description). ``with_alt``/``alt_text`` write and read the
chunk; ``helpers.widgets.LivePlot`` uses them for its static images in the book.

Importing this module (``import helpers`` does) makes ``PALETTE`` matplotlib's colour cycle.
"""

from __future__ import annotations

import base64
import io
import struct
import zlib

import matplotlib as mpl
from cycler import cycler
from matplotlib.figure import Figure

__all__ = ["ALT_KEY", "PALETTE", "alt_text", "check_alt", "figure_png", "show", "with_alt"]

#: The PNG text keyword that carries the alt text (a registered keyword of the PNG specification).
ALT_KEY = "Description"
#: Okabe & Ito's colours in matplotlib's default order: C0 blue, C1 orange, C2 bluish green, C3 vermillion (red),
#: C4 reddish purple, C5 sky blue, C6 yellow, C7 black; told apart with deuteranopia, protanopia and tritanopia.
PALETTE = ("#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#F0E442", "#000000")
#: An alt text is at least a sentence: this many words, ending with a full stop.
MIN_WORDS = 8
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"

mpl.rcParams["axes.prop_cycle"] = cycler(color=PALETTE)


def check_alt(alt) -> str:
    """``alt`` stripped: a string of at least ``MIN_WORDS`` words that ends with ``.``, ``!`` or ``?``."""
    if not isinstance(alt, str):
        raise TypeError(f"alt must be a str describing the figure, got {type(alt).__name__}")
    alt = " ".join(alt.split())
    if len(alt.split()) < MIN_WORDS or not alt.endswith((".", "!", "?")):
        raise ValueError(
            f"alt must be at least one sentence ({MIN_WORDS}+ words ending with a full stop) saying "
            f"what the figure shows, got {alt!r}"
        )
    return alt


def _chunks(png: bytes):
    """``(offset, type, data)`` of every chunk of ``png``."""
    if not isinstance(png, bytes | bytearray) or not png.startswith(_PNG_SIGNATURE):
        raise ValueError("png must be the bytes of a PNG image")
    offset = len(_PNG_SIGNATURE)
    while offset + 8 <= len(png):
        length, kind = struct.unpack(">I4s", png[offset : offset + 8])
        yield offset, kind, png[offset + 8 : offset + 8 + length]
        offset += 12 + length


def with_alt(png: bytes, alt: str) -> bytes:
    """``png`` with ``alt`` (``check_alt``) as its ``Description``: an iTXt chunk (UTF-8) right after the header,
    replacing any ``Description`` it had; the pixels are not re-encoded."""
    alt = check_alt(alt)
    kept = [png[:8]]
    for offset, kind, data in _chunks(png):
        if not (kind in (b"tEXt", b"iTXt") and data.split(b"\0", 1)[0] == ALT_KEY.encode()):
            kept.append(png[offset : offset + 12 + len(data)])
        if kind == b"IHDR":
            body = (
                ALT_KEY.encode() + b"\0\0\0\0\0" + alt.encode("utf-8")
            )  # no compression, no language
            kept.append(
                struct.pack(">I", len(body))
                + b"iTXt"
                + body
                + struct.pack(">I", zlib.crc32(b"iTXt" + body))
            )
    return b"".join(kept)


def alt_text(png: bytes) -> str | None:
    """The ``Description`` text chunk of ``png`` (tEXt or uncompressed iTXt), ``None`` if it has none."""
    for _, kind, data in _chunks(png):
        keyword, _, rest = data.partition(b"\0")
        if keyword != ALT_KEY.encode():
            continue
        if kind == b"tEXt":
            return rest.decode("latin-1")
        if (
            kind == b"iTXt" and rest[:1] == b"\0"
        ):  # uncompressed: flag, method, language\0, translated\0, text
            return rest[2:].split(b"\0", 2)[2].decode("utf-8")
    return None


def figure_png(fig: Figure, alt: str) -> bytes:
    """``fig`` as the PNG IPython's inline backend would show (tight bounding box, the figure's dpi), with ``alt``."""
    if not isinstance(fig, Figure):
        raise TypeError(f"fig must be a matplotlib Figure, got {type(fig).__name__}")
    buffer = io.BytesIO()
    fig.savefig(
        buffer,
        format="png",
        bbox_inches="tight",
        facecolor=fig.get_facecolor(),
        edgecolor=fig.get_edgecolor(),
    )
    return with_alt(buffer.getvalue(), alt)


def show(fig: Figure, alt: str) -> None:
    """Show ``fig`` as an image described by ``alt`` (one or two sentences: what it shows, what to see in it), and
    close it if pyplot holds it (so the inline backend does not show it a second time)."""
    from IPython.display import display

    png = figure_png(fig, alt)
    if fig.canvas.manager is not None:  # made by pyplot
        import matplotlib.pyplot as plt

        plt.close(fig)
    data = {"image/png": base64.b64encode(png).decode("ascii"), "text/plain": check_alt(alt)}
    display(data, raw=True)
