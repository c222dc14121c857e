"""Items of a large JSON array, one at a time, without loading the whole document.

The MEGNet data set is one JSON array of ~69k objects (each with a CIF and a precomputed graph); decoding it
at once holds the whole text plus every object in memory. This decoder keeps one buffer of text and hands out
each array element as soon as it is complete, using only the standard library's ``raw_decode``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import IO, Any

_CHUNK = 1 << 20
_WHITESPACE = " \t\n\r"


class _Buffer:
    """A growing window over a text stream."""

    def __init__(self, stream: IO[str]) -> None:
        self.stream = stream
        self.text = ""
        self.position = 0
        self.exhausted = False

    def refill(self) -> bool:
        """Append the next chunk (dropping consumed text); False at the end of the stream."""
        if self.exhausted:
            return False
        chunk = self.stream.read(_CHUNK)
        self.exhausted = not chunk
        self.text = self.text[self.position :] + chunk
        self.position = 0
        return bool(chunk)

    def next_char(self) -> str:
        """The next non-whitespace character, not consumed; '' at the end of the stream."""
        while True:
            while self.position < len(self.text) and self.text[self.position] in _WHITESPACE:
                self.position += 1
            if self.position < len(self.text) or not self.refill():
                return self.text[self.position : self.position + 1]


def iter_json_array(stream: IO[str], name: str) -> Iterator[Any]:
    """Yield the elements of the JSON array in ``stream`` in order.

    Raises:
        ValueError: naming ``name``, if the text is not a JSON array or ends early (a truncated download).
    """
    decoder = json.JSONDecoder()
    buffer = _Buffer(stream)
    if buffer.next_char() != "[":
        raise ValueError(f"{name}: expected a JSON array of entries")
    buffer.position += 1
    if buffer.next_char() == "]":
        return
    while True:
        buffer.next_char()
        try:
            item, end = decoder.raw_decode(buffer.text, buffer.position)
            complete = end < len(buffer.text) or buffer.exhausted
        except json.JSONDecodeError as error:
            if buffer.refill():
                continue
            raise ValueError(f"{name}: invalid or truncated JSON ({error.msg})") from error
        if not complete:  # a number at the very end of the buffer may continue in the next chunk
            buffer.refill()
            continue
        buffer.position = end
        yield item
        separator = buffer.next_char()
        if separator == "]":
            return
        if separator != ",":
            raise ValueError(f"{name}: invalid or truncated JSON (expected ',' or ']' between entries)")
        buffer.position += 1
