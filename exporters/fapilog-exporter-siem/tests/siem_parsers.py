"""Strict parsers for what the syslog exporter writes, written from the specifications.

* RFC 6587 octet counting (``MSG-LEN SP SYSLOG-MSG``),
* RFC 5424 (header ABNF of section 6, structured data with the escapes of 6.3.3),
* ArcSight CEF (header: ``\\|`` and ``\\\\``; extension: ``\\\\``, ``\\=``, ``\\n``, ``\\r``),
* IBM QRadar LEEF 2.0 (delimiter field, ``key=value`` pairs).

"Strict" means anything the specifications do not allow raises :class:`ParseError`:
a bad PRI or timestamp, a header field outside PRINTUSASCII or over its length, an
invalid SD-NAME, an unknown escape, a raw line break where none may be. They are
test oracles, independent of the encoder's code.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

__all__ = [
    "Cef",
    "Leef",
    "ParseError",
    "Syslog",
    "parse_cef",
    "parse_frames",
    "parse_leef",
    "parse_rfc5424",
]


class ParseError(ValueError):
    """The input does not follow the specification."""


# -- RFC 6587 ---------------------------------------------------------------------------


def parse_frames(data: bytes, *, allow_partial: bool = False) -> list[bytes]:
    """Split an octet-counted stream into messages.

    The stream must end on a frame boundary, unless ``allow_partial`` (a connection
    cut mid-message): then an incomplete last frame is ignored.
    """
    out = []
    pos = 0
    while pos < len(data):
        space = data.find(b" ", pos)
        if space < 0:
            if allow_partial and len(data) - pos <= 10:
                break
            raise ParseError(f"no MSG-LEN terminator at {pos}")
        digits = data[pos:space]
        if not re.fullmatch(rb"[1-9][0-9]*", digits):
            raise ParseError(f"bad MSG-LEN {digits!r} at {pos}")
        end = space + 1 + int(digits)
        if end > len(data):
            if allow_partial:
                break
            raise ParseError("stream ends inside a frame")
        out.append(data[space + 1 : end])
        pos = end
    return out


# -- RFC 5424 ---------------------------------------------------------------------------

_TIMESTAMP = re.compile(
    r"\d{4}-(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])T([01]\d|2[0-3]):[0-5]\d:([0-5]\d|60)"
    r"(\.\d{1,6})?(Z|[+-]([01]\d|2[0-3]):[0-5]\d)"
)
_SD_NAME_CHARS = frozenset(chr(c) for c in range(33, 127)) - set('= ]"')
_BOM = b"\xef\xbb\xbf"


@dataclass
class Syslog:
    """A parsed RFC 5424 message."""

    pri: int
    version: int
    timestamp: str | None
    hostname: str | None
    app_name: str | None
    procid: str | None
    msgid: str | None
    structured_data: list[tuple[str, list[tuple[str, str]]]] = field(default_factory=list)
    msg: str | None = None
    bom: bool = False

    @property
    def facility(self) -> int:
        return self.pri // 8

    @property
    def severity(self) -> int:
        return self.pri % 8

    def sd(self, sd_id: str) -> list[tuple[str, str]]:
        """The params of element ``sd_id`` (``[]`` when absent)."""
        for name, params in self.structured_data:
            if name == sd_id:
                return params
        return []


def _sd_name(text: str, what: str) -> str:
    if not 1 <= len(text) <= 32 or not set(text) <= _SD_NAME_CHARS:
        raise ParseError(f"invalid {what} {text!r}")
    return text


def _header_field(raw: bytes, limit: int, what: str) -> str | None:
    if raw == b"-":
        return None
    if not 1 <= len(raw) <= limit or any(not 33 <= b <= 126 for b in raw):
        raise ParseError(f"invalid {what} {raw!r}")
    return raw.decode("ascii")


def parse_rfc5424(data: bytes) -> Syslog:
    """Parse one RFC 5424 message (without framing)."""
    m = re.match(rb"<(0|[1-9]\d{0,2})>([1-9]\d{0,2}) ", data)
    if not m:
        raise ParseError(f"bad PRI/VERSION in {data[:20]!r}")
    pri = int(m.group(1))
    if pri > 191:
        raise ParseError(f"PRI {pri} out of range")
    if m.group(2) != b"1":
        raise ParseError("VERSION must be 1")
    parts = data[m.end() :].split(b" ", 5)
    if len(parts) < 6:
        raise ParseError("header is missing fields")
    raw_ts, raw_host, raw_app, raw_proc, raw_msgid, rest = parts
    timestamp = None
    if raw_ts != b"-":
        if not _TIMESTAMP.fullmatch(raw_ts.decode("ascii", "replace")):
            raise ParseError(f"invalid TIMESTAMP {raw_ts!r}")
        timestamp = raw_ts.decode("ascii")
    result = Syslog(
        pri=pri,
        version=1,
        timestamp=timestamp,
        hostname=_header_field(raw_host, 255, "HOSTNAME"),
        app_name=_header_field(raw_app, 48, "APP-NAME"),
        procid=_header_field(raw_proc, 128, "PROCID"),
        msgid=_header_field(raw_msgid, 32, "MSGID"),
    )
    pos = _parse_sd(rest, result)
    if pos == len(rest):
        return result
    if rest[pos : pos + 1] != b" ":
        raise ParseError("STRUCTURED-DATA must be followed by SP MSG or the end")
    msg = rest[pos + 1 :]
    if msg.startswith(_BOM):
        result.bom = True
        msg = msg[3:]
    try:
        result.msg = msg.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ParseError(f"MSG is not UTF-8: {exc}") from None
    return result


def _parse_sd(rest: bytes, result: Syslog) -> int:
    if rest.startswith(b"-"):
        return 1
    if not rest.startswith(b"["):
        raise ParseError("STRUCTURED-DATA must be '-' or start with '['")
    text = rest.decode("utf-8", "surrogateescape")  # PARAM-VALUE is UTF-8
    pos = 0
    ids: set[str] = set()
    while pos < len(text) and text[pos] == "[":
        end = pos + 1
        while end < len(text) and text[end] not in " ]":
            end += 1
        sd_id = _sd_name(text[pos + 1 : end], "SD-ID")
        if "@" in sd_id:
            name, _, pen = sd_id.partition("@")
            if not name or "@" in pen or not re.fullmatch(r"[1-9]\d*(\.\d+)*", pen):
                raise ParseError(f"invalid SD-ID {sd_id!r}")
        if sd_id in ids:
            raise ParseError(f"SD-ID {sd_id!r} repeated")
        ids.add(sd_id)
        params: list[tuple[str, str]] = []
        pos = end
        while pos < len(text) and text[pos] == " ":
            eq = text.find("=", pos + 1)
            if eq < 0:
                raise ParseError("SD-PARAM without '='")
            name = _sd_name(text[pos + 1 : eq], "PARAM-NAME")
            if text[eq + 1 : eq + 2] != '"':
                raise ParseError("PARAM-VALUE must be quoted")
            value, pos = _param_value(text, eq + 2)
            params.append((name, value))
        if pos >= len(text) or text[pos] != "]":
            raise ParseError("SD-ELEMENT not closed by ']'")
        pos += 1
        result.structured_data.append((sd_id, params))
    return len(text[:pos].encode("utf-8", "surrogateescape"))


def _param_value(text: str, pos: int) -> tuple[str, int]:
    """Read a PARAM-VALUE after its opening quote; return it and the index after it."""
    out = []
    while True:
        if pos >= len(text):
            raise ParseError("unterminated PARAM-VALUE")
        ch = text[pos]
        if ch == "\\" and pos + 1 < len(text) and text[pos + 1] in '"\\]':
            out.append(text[pos + 1])
            pos += 2
            continue
        if ch == '"':
            break
        if ch == "]":
            raise ParseError("unescaped ']' in PARAM-VALUE")
        out.append(ch)  # RFC 5424 6.3.3: any other backslash is a literal backslash
        pos += 1
    value = "".join(out)
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ParseError("PARAM-VALUE is not UTF-8") from None
    return value, pos + 1


# -- CEF --------------------------------------------------------------------------------

_KEY_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.")


@dataclass
class Cef:
    """A parsed CEF record."""

    version: int
    vendor: str
    product: str
    device_version: str
    signature_id: str
    name: str
    severity: str
    extension: list[tuple[str, str]]

    def get(self, key: str) -> str | None:
        for k, v in self.extension:
            if k == key:
                return v
        return None


def _split_escaped(text: str, sep: str, count: int) -> list[str]:
    """Split at the first ``count`` unescaped ``sep``; escapes are kept for later."""
    parts = []
    start = pos = 0
    while pos < len(text) and len(parts) < count:
        ch = text[pos]
        if ch == "\\":
            pos += 2
            continue
        if ch == sep:
            parts.append(text[start:pos])
            start = pos + 1
        pos += 1
    if len(parts) < count:
        raise ParseError(f"expected {count} unescaped {sep!r}")
    parts.append(text[start:])
    return parts


def _unescape(text: str, table: dict[str, str], what: str) -> str:
    out = []
    pos = 0
    while pos < len(text):
        ch = text[pos]
        if ch == "\\":
            nxt = text[pos + 1 : pos + 2]
            if nxt not in table:
                raise ParseError(f"invalid escape \\{nxt!r} in {what}")
            out.append(table[nxt])
            pos += 2
            continue
        out.append(ch)
        pos += 1
    return "".join(out)


_CEF_HEADER_ESCAPES = {"\\": "\\", "|": "|"}
_CEF_EXT_ESCAPES = {"\\": "\\", "=": "=", "n": "\n", "r": "\r"}


def parse_cef(text: str) -> Cef:
    """Parse one CEF record (``CEF:0|...``)."""
    if not text.startswith("CEF:"):
        raise ParseError("does not start with CEF:")
    fields = _split_escaped(text[4:], "|", 7)
    head, extension = fields[:7], fields[7]
    for part in head:
        if "\r" in part or "\n" in part:
            raise ParseError("line break in a CEF header field")
    values = [_unescape(p, _CEF_HEADER_ESCAPES, "CEF header") for p in head]
    if values[0] != "0":
        raise ParseError("CEF version must be 0")
    if not re.fullmatch(r"(10|[0-9])|Unknown|Low|Medium|High|Very-High", values[6]):
        raise ParseError(f"invalid CEF severity {values[6]!r}")
    return Cef(0, *values[1:], extension=_parse_cef_extension(extension))  # type: ignore[arg-type]


def _parse_cef_extension(ext: str) -> list[tuple[str, str]]:
    if "\r" in ext or "\n" in ext:
        raise ParseError("raw line break in the CEF extension")
    # Unescaped '=' signs: each ends a key.
    equals = []
    pos = 0
    while pos < len(ext):
        if ext[pos] == "\\":
            pos += 2
            continue
        if ext[pos] == "=":
            equals.append(pos)
        pos += 1
    if not ext:
        return []
    if not equals:
        raise ParseError("CEF extension without key=value")
    keys = []  # (key start, '=' position)
    for eq in equals:
        start = eq
        while start > 0 and ext[start - 1] in _KEY_CHARS:
            start -= 1
        if start == eq:
            raise ParseError(f"empty key before '=' at {eq}")
        if start != 0 and ext[start - 1] != " ":
            raise ParseError(f"key at {start} not preceded by a space")
        keys.append((start, eq))
    if keys[0][0] != 0:
        raise ParseError("CEF extension does not start with a key")
    pairs = []
    for i, (start, eq) in enumerate(keys):
        end = keys[i + 1][0] - 1 if i + 1 < len(keys) else len(ext)
        pairs.append(
            (ext[start:eq], _unescape(ext[eq + 1 : end], _CEF_EXT_ESCAPES, "CEF extension"))
        )
    return pairs


# -- LEEF -------------------------------------------------------------------------------


@dataclass
class Leef:
    """A parsed LEEF 2.0 record."""

    vendor: str
    product: str
    version: str
    event_id: str
    delimiter: str
    attributes: list[tuple[str, str]]

    def get(self, key: str) -> str | None:
        for k, v in self.attributes:
            if k == key:
                return v
        return None


_LEEF_HEADER_ESCAPES = {"\\": "\\", "|": "|"}


def parse_leef(text: str) -> Leef:
    """Parse one LEEF 2.0 record (``LEEF:2.0|...``)."""
    if not text.startswith("LEEF:2.0|"):
        raise ParseError("does not start with LEEF:2.0|")
    fields = _split_escaped(text[9:], "|", 5)
    head, rest = fields[:5], fields[5]
    for part in head:
        if any(c in part for c in "\r\n\t"):
            raise ParseError("TAB or line break in a LEEF header field")
    vendor, product, version, event_id = (
        _unescape(p, _LEEF_HEADER_ESCAPES, "LEEF header") for p in head[:4]
    )
    raw_delim = head[4]
    if len(raw_delim) == 1:
        delim = raw_delim
    elif m := re.fullmatch(r"(?:0x|x)([0-9A-Fa-f]{2,4})", raw_delim):
        delim = chr(int(m.group(1), 16))
    else:
        raise ParseError(f"invalid LEEF delimiter field {raw_delim!r}")
    if "\r" in rest or "\n" in rest:
        raise ParseError("raw line break in LEEF attributes")
    escapes = {"\\": "\\", "t": "\t", "n": "\n", "r": "\r", delim: delim}
    attributes = []
    if rest:
        for item in _split_all(rest, delim):
            key, eq, value = item.partition("=")
            if not eq or not key or not set(key) <= _KEY_CHARS:
                raise ParseError(f"invalid LEEF attribute {item!r}")
            attributes.append((key, _unescape(value, escapes, "LEEF value")))
    return Leef(vendor, product, version, event_id, delim, attributes)


def _split_all(text: str, sep: str) -> list[str]:
    parts = []
    start = pos = 0
    while pos < len(text):
        if text[pos] == "\\":
            pos += 2
            continue
        if text[pos] == sep:
            parts.append(text[start:pos])
            start = pos + 1
        pos += 1
    parts.append(text[start:])
    return parts
