"""Errors of the TiDB codec.

Every malformed input the codec meets (truncated row, offsets past the end, unknown datum flag,
bad decimal word, invalid UTF-8 where the charset demands it, key of an unexpected shape) is
reported as ONE typed error, :class:`CorruptValueError`, a :class:`core.errors.DecodeError`, so the
mount stage can dead-letter the event without catching anything broader.

Leaf decoders raise it with only ``offset`` (relative to the buffer they were given); callers
that know more (the row decoder knows the table id, the handle and where a column's payload
starts) add that context with :meth:`CorruptValueError.with_context` or :func:`reraise_with`.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from core.errors import DecodeError

__all__ = ["CodecError", "CorruptValueError", "reraise_with"]


class CorruptValueError(DecodeError):
    """Bytes that are not a valid TiDB key, row or column value.

    ``table_id``, ``handle`` and ``offset`` are optional: each layer fills in what it knows.
    ``offset`` is a byte offset into the outermost buffer known to the raiser.
    """

    def __init__(
        self,
        reason: str,
        *,
        table_id: int | None = None,
        handle: object | None = None,
        offset: int | None = None,
    ) -> None:
        self.reason = reason
        self.table_id = table_id
        self.handle = handle
        self.offset = offset
        super().__init__(self._render())

    def _render(self) -> str:
        parts = [self.reason]
        if self.table_id is not None:
            parts.append(f"table_id={self.table_id}")
        if self.handle is not None:
            parts.append(f"handle={self.handle!r}")
        if self.offset is not None:
            parts.append(f"offset={self.offset}")
        return " ".join(parts) if len(parts) == 1 else f"{parts[0]} ({', '.join(parts[1:])})"

    def with_context(
        self,
        *,
        table_id: int | None = None,
        handle: object | None = None,
        base_offset: int = 0,
    ) -> CorruptValueError:
        """Return a copy with missing context filled in; ``base_offset`` shifts ``offset``.

        Fields already set are kept: the innermost raiser knows best.
        """
        offset = self.offset + base_offset if self.offset is not None else None
        if offset is None and base_offset:
            offset = base_offset
        return CorruptValueError(
            self.reason,
            table_id=self.table_id if self.table_id is not None else table_id,
            handle=self.handle if self.handle is not None else handle,
            offset=offset,
        )


# Alias under the generic name the leaf modules were told about.
CodecError = CorruptValueError


@contextmanager
def reraise_with(
    *, table_id: int | None = None, handle: object | None = None, base_offset: int = 0
) -> Iterator[None]:
    """Add context to any :class:`CorruptValueError` raised inside the block.

    Also turns the stray low-level errors a decoder may hit on garbage (``IndexError``,
    ``ValueError``, ``struct.error``, ``UnicodeDecodeError``, ...) into a
    :class:`CorruptValueError`, so callers only ever see the one typed error.
    """
    try:
        yield
    except CorruptValueError as exc:
        raise exc.with_context(table_id=table_id, handle=handle, base_offset=base_offset) from exc
    except (IndexError, ValueError, KeyError, OverflowError, ArithmeticError) as exc:
        # struct.error and UnicodeDecodeError are ValueError subclasses.
        raise CorruptValueError(
            f"corrupt value: {type(exc).__name__}: {exc}",
            table_id=table_id,
            handle=handle,
            offset=base_offset or None,
        ) from exc
