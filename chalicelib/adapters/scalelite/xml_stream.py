"""Streaming XML of BBB/Scalelite answers with memory bounded whatever the shape (used by parse.py).

The body is fed to lxml's pull parser one chunk at a time. The parser reports only the root's start and
the records (`<meeting>`, `<recording>`), in C, so a real answer's thousands of attendees cost no
Python call each; after each chunk every element already complete is dropped from the tree, so neither
filler outside the records nor one giant record can grow memory (issue 23: 100 MB of `<x/>` took
3.3 GB). The byte budget (`ByteBudget`) cuts oversized, endless or inflating bodies as bytes arrive.

The answer is untrusted: a DOCTYPE or entity declaration is refused, entities are never resolved and
nothing is fetched; depth is bounded by libxml2 (256 levels without huge_tree).
"""

from __future__ import annotations

import io
import os
import re
import stat
from collections.abc import Callable

from lxml import etree

from chalicelib.ports import ResponseError

_CHUNK = 64 * 1024
_SINGLE = frozenset({"returncode", "messageKey"})
_TOP_TEXT = 4096  # a top-level field (message, version) is a line, not a book
_ROOT_WITHIN = 1 << 20  # a real answer's <response> starts in its first bytes


def size_text(limit: int) -> str:
    """A byte limit as people write it: "256 MiB", "64 KiB", "1000-byte"."""
    for unit, size in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if limit >= size and limit % size == 0:
            return f"{limit // size} {unit}"
    return f"{limit}-byte"


class ByteBudget(io.RawIOBase):
    """A binary reader that counts the bytes it hands on and fails once more than `max_bytes` came in,
    so an oversized (or endless, or decompression-bomb) body is cut off without being read to the end."""

    def __init__(self, source, max_bytes: int, what: str = "response"):
        super().__init__()
        self._source = io.BytesIO(source) if isinstance(source, (bytes, bytearray, memoryview)) else source
        self._max = max_bytes
        self._what = what
        self.consumed = 0
        declared = _file_size(self._source)
        if declared is not None and declared > max_bytes:  # a file says its size: no need to read it
            raise ResponseError(f"{what} is larger than the {size_text(max_bytes)} limit ({declared} bytes)")

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        if size is None or size < 0:  # read all, in chunks: one huge read() would allocate the limit up front
            return b"".join(iter(lambda: self.read(_CHUNK), b""))
        # Never ask for more than one byte past the budget: that one byte is the proof of "too big".
        size = min(size, self._max - self.consumed + 1)
        chunk = self._pull(size) or b""
        self.consumed += len(chunk)
        if self.consumed > self._max:
            raise ResponseError(f"{self._what} is larger than the {size_text(self._max)} limit")
        return chunk

    def _pull(self, size: int) -> bytes:
        return self._source.read(size)

    def readinto(self, buffer) -> int:
        chunk = self.read(len(buffer))
        buffer[: len(chunk)] = chunk
        return len(chunk)


def _file_size(source) -> int | None:
    """The size of a regular file behind `source`, if it is one."""
    try:
        info = os.fstat(source.fileno())
    except (AttributeError, OSError, ValueError, io.UnsupportedOperation):
        return None
    return info.st_size if stat.S_ISREG(info.st_mode) else None


def records(
    source,
    max_bytes: int,
    record: str,
    container: str,
    what: str,
    on_record: Callable[[etree._Element], None],
    fields: frozenset[str] = frozenset(),
) -> dict[str, str]:
    """Stream `source`, calling `on_record` on every /response/<container>/<record> element, and
    return the text of /response's leaf children (returncode, messageKey, version...).

    Memory stays bounded whatever the shape (issue 23: 100 MB of `<x/>` filler outside the meetings took
    3.3 GB, one giant meeting as much): the body is fed to a pull parser one chunk at a time, and after
    each chunk every element already complete is dropped from the tree (`_prune`), except a record's
    leaf children named in `fields` until the record itself ends. The parser reports only records (in
    C, nothing per other element), so a real answer's thousands of attendees cost no Python call each.
    Depth is bounded by libxml2 (256 levels without huge_tree), bytes by `max_bytes`."""
    reader = ByteBudget(source, max_bytes, what)
    parser = etree.XMLPullParser(
        events=("start", "end"),
        tag=("response", record),
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        huge_tree=False,
        remove_comments=True,
        remove_pis=True,
    )
    shape = _Shape(record, container, fields, what)
    try:
        head: bytes | None = b""  # the answer's first bytes, until its root's name is read whole
        while True:
            chunk = reader.read(_CHUNK)
            if head is not None:
                head += chunk
                if _refuse_other_roots(head, what, ended=not chunk):
                    head = None
            if not chunk:
                break
            parser.feed(chunk)
            shape.take(parser.read_events(), on_record)
            if shape.root is None and reader.consumed > _ROOT_WITHIN:
                # no <response> start yet (a BOM, UTF-16, a long preamble...): nothing could be pruned
                raise ResponseError(f"{what} has no <response> root in its first {size_text(_ROOT_WITHIN)}")
        root = parser.close()
        shape.take(parser.read_events(), on_record)
    except etree.XMLSyntaxError as error:
        raise ResponseError(f"malformed XML in {what}: {_syntax_reason(error)}") from None
    except etree.LxmlError as error:
        raise ResponseError(f"unreadable XML in {what}: {type(error).__name__}") from None
    _refuse_doctype(root, what)
    if root.tag != "response":
        raise ResponseError(f"{what} is not a BBB API answer (root element <{root.tag}>)")
    shape.keep_top(list(root))
    return shape.top


_ROOT = re.compile(
    rb"\A(?:\xef\xbb\xbf)?\s*(?:<\?xml[^>]*\?>\s*)?(?:<!--.*?-->\s*)*<([A-Za-z_][\w.-]*)(?=[\s/>])", re.DOTALL
)
_HTML = re.compile(
    rb"\A(?:\xef\xbb\xbf)?\s*(?:<!--.*?-->\s*)*<(?:!DOCTYPE\s+html|html[\s>])", re.DOTALL | re.I
)
_HEAD_WITHIN = 4096  # a root's name is read whole in the first bytes of any answer worth parsing


def _refuse_other_roots(head: bytes, what: str, ended: bool) -> bool:
    """A root other than <response> is refused from the answer's first bytes: the parser reports no
    event for it, so its filler could not be pruned while it streams. A DOCTYPE is refused here as
    well, an HTML page (a proxy's error or maintenance page sent with 200) said to be one. True once
    decided; False while the head may still be cut inside the root's name (a network read ends where it
    ends: `<resp` then `onse>`)."""
    if _HTML.match(head):
        raise ResponseError(f"{what} is not a BBB API answer (an HTML page)")
    found = _ROOT.match(head)
    if found is None:
        if b"<!DOCTYPE" in head[:_HEAD_WITHIN].upper():
            raise ResponseError(f"{what} carries a DOCTYPE/entity declaration; refused (hostile XML)")
        return ended or len(head) >= _HEAD_WITHIN  # not XML at all: the parser says how
    if found.group(1) != b"response":
        raise ResponseError(
            f"{what} is not a BBB API answer (root element <{found.group(1)[:40].decode('ascii', 'replace')}>)"
        )
    return True


class _Shape:
    """What `_records` keeps between chunks: the root, the top-level fields, and how to prune."""

    def __init__(self, record: str, container: str, fields: frozenset[str], what: str):
        self.record, self.container, self.fields, self.what = record, container, fields, what
        self.root: etree._Element | None = None
        self.top: dict[str, str] = {}

    def take(self, events, on_record) -> None:
        for event, element in events:
            if event == "start":
                if self.root is None:
                    self.root = element.getroottree().getroot()
                    _refuse_doctype(self.root, self.what)
                continue
            parent = element.getparent()
            if (
                element.tag == self.record
                and parent is not None
                and parent.tag == self.container
                and parent.getparent() is self.root
            ):
                on_record(element)
                element.clear(keep_tail=False)
        if self.root is not None:
            self._prune(self.root)

    def _prune(self, root: etree._Element) -> None:
        """Drop every complete element: all children but the last of each element on the open path
        (root -> its last child -> ...), keeping a record's wanted fields until the record ends."""
        self.keep_top(root[:-1])
        del root[:-1]
        node = root[-1] if len(root) else None
        while node is not None:
            if node.tag == self.record and node.getparent().tag == self.container:
                kept: set[str] = set()
                for child in node[:-1]:
                    if child.tag not in self.fields or len(child):
                        node.remove(child)
                    elif child.tag in kept:  # 1M <participantCount>s would all be kept: refused
                        raise ResponseError(
                            f"{self.what}: a <{self.record}> has more than one <{child.tag}>: "
                            "contradictory, refused"
                        )
                    else:
                        kept.add(child.tag)
            else:
                del node[:-1]
            node = node[-1] if len(node) else None

    def keep_top(self, children) -> None:
        for child in children:
            if isinstance(child.tag, str) and len(child) == 0:
                if child.tag in self.top and child.tag in _SINGLE:
                    # Two returncodes (FAILED then SUCCESS) contradict each other: neither can be believed.
                    raise ResponseError(
                        f"{self.what} has more than one <{child.tag}>: contradictory, refused"
                    )
                self.top[child.tag] = (child.text or "").strip()[:_TOP_TEXT]


def _refuse_doctype(root, what: str) -> None:
    info = root.getroottree().docinfo
    if info.doctype or info.internalDTD is not None or info.externalDTD is not None:
        raise ResponseError(f"{what} carries a DOCTYPE/entity declaration; refused (hostile XML)")


def _syntax_reason(error: etree.XMLSyntaxError) -> str:
    # lxml's message names the line/column and the fault; it never holds our URL, secret or checksum.
    return str(error.msg or error).splitlines()[0][:200]
