"""What may leave the program: fixed vocabularies, neutral labels, safe text for every output.

The rule this module serves: no header value, file name or server path ever appears in
an output (page, error message, table, download, CLI stdout / stderr, server log).

- Header fields are shown only through an allow-list that maps them onto a fixed
  vocabulary; anything else becomes `UNRECOGNISED`.
- A user-given name (an uploaded file's name, a path on the command line) is replaced by
  a neutral label such as "upload 1" or "file 2".
- Text that reaches Streamlit's markdown is escaped; CSV cells are neutralised against
  spreadsheet formula injection; server paths in library messages are redacted.
"""

from __future__ import annotations

import csv
import io
import re
from typing import Iterable

UNRECOGNISED = "unrecognised"

# DICOM ViewPosition (0018,5101) / CID 4014 abbreviations used in mammography
VIEWS: frozenset[str] = frozenset({"CC", "MLO", "ML", "LM", "LMO", "XCCL", "XCCM", "FB", "SIO", "AT", "CV", "RL", "RM", "ID"})
LATERALITIES: frozenset[str] = frozenset({"L", "R"})
MODALITIES: frozenset[str] = frozenset({"MG", "DX", "CR", "OT", "US", "MR", "CT", "PT", "NM", "XA", "RF", "SC"})
# Manufacturer (0008,0070) is free text: only these vendor words are ever shown
_VENDORS: tuple[tuple[re.Pattern[str], str], ...] = tuple(
    (re.compile(pattern, re.IGNORECASE), name)
    for pattern, name in (
        (r"\bhologic\b|\blorad\b", "Hologic"),
        (r"\bge\b|general electric", "GE Healthcare"),
        (r"\bsiemens\b", "Siemens"),
        (r"\bfuji(film)?\b", "Fujifilm"),
        (r"\bphilips\b", "Philips"),
        (r"\bagfa\b", "Agfa"),
        (r"\bcarestream\b|\bkodak\b", "Carestream"),
        (r"\bkonica\b", "Konica Minolta"),
        (r"\bplanmed\b", "Planmed"),
        (r"\bims\b|\bgiotto\b", "IMS Giotto"),
        (r"\bsectra\b", "Sectra"),
        (r"\bhowtek\b", "Howtek"),
        (r"\blumisys\b", "Lumisys"),
    )
)
VENDORS: frozenset[str] = frozenset(name for _, name in _VENDORS)
_NEUTRAL = re.compile(r"^(upload|file|image) \d{1,6}$")
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r", "|", "%")
# markdown / Streamlit directive characters (":red[...]", ":material/x:", links, emphasis, HTML)
_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]()<>#+\-.!|~:$&=])")
_PATH = re.compile(r"(?:[A-Za-z]:)?(?:[\\/][^\s'\"\\/:;,()\[\]]+){2,}[\\/]?|~[\\/][^\s'\"]*")


def in_vocabulary(value: object, vocabulary: Iterable[str]) -> str | None:
    """The normalised value when it is in `vocabulary`, `UNRECOGNISED` when not, None when absent."""
    if value is None:
        return None
    text = " ".join(str(value).split()).upper()
    if not text:
        return None
    return text if text in vocabulary else UNRECOGNISED


def view(value: object) -> str | None:
    return in_vocabulary(value, VIEWS)


def laterality(value: object) -> str | None:
    return in_vocabulary(value, LATERALITIES)


def modality(value: object) -> str | None:
    return in_vocabulary(value, MODALITIES)


def vendor(value: object) -> str | None:
    """A vendor word from a fixed list, `UNRECOGNISED` for any other text, None when absent."""
    if value is None:
        return None
    text = " ".join(str(value).split())
    if not text:
        return None
    for pattern, name in _VENDORS:
        if pattern.search(text):
            return name
    return UNRECOGNISED


def neutral_label(kind: str, number: int) -> str:
    """"upload 1", "file 2": what outputs say instead of a user-given name."""
    label = f"{kind} {int(number)}"
    if not _NEUTRAL.match(label):
        raise ValueError(f"not a neutral label kind: {kind!r}")
    return label


def is_neutral_label(text: object) -> bool:
    return isinstance(text, str) and bool(_NEUTRAL.match(text))


def csv_cell(value: object) -> object:
    """Neutralise one CSV cell against formula injection (OWASP): text starting with = + - @ ...
    gets a leading apostrophe. Numbers stay numbers."""
    if not isinstance(value, str) or not value.startswith(_FORMULA_START):
        return value
    try:
        float(value)
        return value  # "-0.5" is a number, not a formula
    except ValueError:
        return "'" + value


def neutralise_csv(data: bytes | str) -> bytes:
    """Rewrite a whole CSV with every cell passed through `csv_cell`."""
    text = data.decode("utf-8") if isinstance(data, (bytes, bytearray)) else data
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    for row in csv.reader(io.StringIO(text)):
        writer.writerow([csv_cell(c) for c in row])
    return out.getvalue().encode("utf-8")


def md_escape(text: object) -> str:
    """Text that Streamlit's markdown shows literally: no links, emphasis, HTML or directives."""
    return _MD_SPECIAL.sub(r"\\\1", " ".join(str(text).split()))


def redact_paths(text: object) -> str:
    """Replace anything that looks like a file-system path (two or more components) by <path>."""
    return _PATH.sub("<path>", str(text))


def one_line(text: object, limit: int = 300) -> str:
    """One bounded line with server paths redacted: for a library message that must be shown."""
    line = redact_paths(" ".join(str(text).split()))
    return line if len(line) <= limit else line[: limit - 1] + "…"
