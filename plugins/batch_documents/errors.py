"""Why a batch document could not be read: each error names the document and, where one is at
fault, the field.

All are ``ValueError``s, so a caller that only wants "this document is unusable" catches
:class:`DocumentError`.
"""

from __future__ import annotations

from typing import Any


class DocumentError(ValueError):
    """A batch document (manifest, stage result, merge result) that cannot be read."""

    def __init__(self, document: str, message: str) -> None:
        super().__init__(f"{document} {message}")
        self.document = document


class NotJsonError(DocumentError):
    """The text is not JSON, or not a JSON object."""

    def __init__(self, document: str, reason: str) -> None:
        super().__init__(document, f"is not valid JSON: {reason}")


class UnsupportedVersionError(DocumentError):
    """The document's ``version`` is not one this code reads."""

    def __init__(self, document: str, version: Any, accepted: tuple[int, ...]) -> None:
        super().__init__(document, f"version {version!r} is not supported (expected one of {accepted})")
        self.version = version
        self.accepted = accepted


class MissingFieldError(DocumentError):
    """A required field is absent; ``field`` is its path, e.g. ``objects[2].name``."""

    def __init__(self, document: str, field: str) -> None:
        super().__init__(document, f"lacks the field {field!r}")
        self.field = field


class BadFieldError(DocumentError):
    """A field holds a value of the wrong type or outside its vocabulary."""

    def __init__(self, document: str, field: str, value: Any, expected: str) -> None:
        super().__init__(document, f"field {field!r} is {value!r}: expected {expected}")
        self.field = field
        self.value = value
