"""Reading typed fields out of a parsed JSON object, with errors that name the field."""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime
from enum import StrEnum
from typing import Any, TypeVar

from batch_documents.errors import BadFieldError, MissingFieldError, NotJsonError

E = TypeVar("E", bound=StrEnum)
_MISSING: Any = object()


def json_object(document: str, text: str | bytes) -> dict[str, Any]:
    """``text`` parsed as a JSON object. Raises NotJsonError."""
    try:
        doc = json.loads(text)
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise NotJsonError(document, str(err)) from err
    if not isinstance(doc, dict):
        raise NotJsonError(document, f"the top level is a {type(doc).__name__}, not an object")
    return doc


def dumps(doc: Mapping[str, Any]) -> str:
    """The one JSON spelling of every batch document: indented, keys sorted."""
    return json.dumps(doc, indent=2, sort_keys=True)


class Fields:
    """The fields of one JSON object of ``document``, found at ``path`` (``""`` for the top level)."""

    def __init__(self, document: str, doc: Any, path: str = "") -> None:
        if not isinstance(doc, dict):
            raise BadFieldError(document, path or "(document)", doc, "an object")
        self.document, self.doc, self.path = document, doc, path

    def name(self, key: str) -> str:
        return f"{self.path}.{key}" if self.path else key

    def _get(self, key: str, default: Any) -> Any:
        if key in self.doc:
            return self.doc[key]
        if default is _MISSING:
            raise MissingFieldError(self.document, self.name(key))
        return default

    def _bad(self, key: str, value: Any, expected: str) -> BadFieldError:
        return BadFieldError(self.document, self.name(key), value, expected)

    def text(self, key: str) -> str:
        value = self._get(key, _MISSING)
        if not isinstance(value, str):
            raise self._bad(key, value, "a string")
        return value

    def optional_text(self, key: str) -> str | None:
        value = self._get(key, None)
        if value is not None and not isinstance(value, str):
            raise self._bad(key, value, "a string or null")
        return value

    def count(self, key: str, default: int | None = None) -> int:
        value = self._get(key, _MISSING if default is None else default)
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise self._bad(key, value, "a whole number >= 0")
        return value

    def optional_count(self, key: str) -> int | None:
        value = self._get(key, None)
        if value is None:
            return None
        return self.count(key)

    def flag(self, key: str, default: bool) -> bool:
        value = self._get(key, default)
        if not isinstance(value, bool):
            raise self._bad(key, value, "true or false")
        return value

    def instant(self, key: str) -> datetime:
        value = self.text(key)
        try:
            return datetime.fromisoformat(value)
        except ValueError:
            raise self._bad(key, value, "an ISO 8601 date-time") from None

    def word(self, key: str, vocabulary: type[E], default: E | None = None) -> E:
        value = self._get(key, _MISSING if default is None else default)
        try:
            return vocabulary(value)
        except ValueError:
            raise self._bad(key, value, "one of " + ", ".join(vocabulary)) from None

    def items(self, key: str, default: list[Any] | None = None) -> list[Any]:
        value = self._get(key, _MISSING if default is None else default)
        if not isinstance(value, list):
            raise self._bad(key, value, "a list")
        return value

    def nested(self, key: str) -> Fields:
        return Fields(self.document, self._get(key, _MISSING), self.name(key))

    def item(self, key: str, index: int, value: Any) -> Fields:
        """The object at ``key[index]`` (``index`` counted from 0, as in the document)."""
        return Fields(self.document, value, f"{self.name(key)}[{index}]")

    def counts(self, key: str) -> dict[str, int]:
        """A JSON object of names to whole numbers (e.g. reject reasons); ``{}`` when absent."""
        value = self._get(key, {})
        if not isinstance(value, dict) or not all(
            isinstance(k, str) and isinstance(v, int) and not isinstance(v, bool) and v >= 0
            for k, v in value.items()
        ):
            raise self._bad(key, value, "an object of names to whole numbers >= 0")
        return dict(value)
