"""Multipart form headers that are not UTF-8: a GBK file name must not make the upload vanish.

Werkzeug decodes each part's headers as strict UTF-8; a ``filename="…"`` sent in GBK/GB18030 (as
older Windows tools and some scripts in a Chinese locale send it) raises inside the parser, and the
request then arrives with no files at all ("请选择要上传的文件"). ``install`` makes Werkzeug's multipart
parser fall back to GB18030 for such a header line; UTF-8 headers are decoded exactly as before.
"""

from __future__ import annotations

from werkzeug import formparser
from werkzeug.datastructures import Headers
from werkzeug.sansio import multipart


class TolerantDecoder(multipart.MultipartDecoder):
    """Werkzeug's decoder with header lines read as UTF-8, else GB18030 (which decodes any GBK)."""

    def _parse_headers(self, data: bytes | bytearray) -> Headers:
        headers: list[tuple[str, str]] = []
        data = multipart.HEADER_CONTINUATION_RE.sub(b" ", data)
        for line in data.splitlines():
            line = line.strip(b" \t")
            if line:
                name, _, value = decode_header_line(bytes(line)).partition(":")
                headers.append((name.strip(" \t"), value.strip(" \t")))
        return Headers(headers)


def decode_header_line(line: bytes) -> str:
    """One header line: UTF-8 if it is, else GB18030, else Latin-1 (never an exception)."""
    for encoding in ("utf-8", "gb18030"):
        try:
            return line.decode(encoding)
        except UnicodeDecodeError:
            continue
    return line.decode("latin-1")


def install() -> None:
    """Use ``TolerantDecoder`` for every multipart request (``formparser`` looks it up per parse)."""
    formparser.MultipartDecoder = TolerantDecoder  # type: ignore[misc]
