"""The typed sub-facades of ``MemoryStore``: the only way the assistant, the worker, the CLI
and the TUI reach memory's curation, browsing, consolidation, forgetting and transfer code.

Each is reached through a profile-scoped store (``store.curation``, ``store.browse``,
``store.consolidation``, ``store.forgetting``, ``store.transfer``), so a caller never passes
a store around or imports memory's internal modules (import-linter forbids it). What goes in
and out are the dataclasses of ``memory.models``. None of them holds the store itself: each
is given the parts it uses (``memory.parts``), and hands them to the functions behind it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from memory.models import (
    BrowsePage,
    BrowseQuery,
    Decision,
    ForgetPreview,
    Memory,
    Proposal,
    ReviewItem,
)

if TYPE_CHECKING:
    from memory.curation.forget import ForgetReport
    from memory.parts import (
        BrowseParts,
        ConsolidationParts,
        CurationParts,
        ForgettingParts,
        TransferParts,
    )
    from memory.transfer.files import ImportReport


class Curation:
    """What a person does to clean memory up: merge, tag, expire, edit, review queues."""

    def __init__(self, parts: CurationParts):
        self._parts = parts

    from memory.curation.edits import QUEUES, STALE_DAYS

    @staticmethod
    def parse_tags(text: str) -> list[str]:
        from memory.curation.edits import parse_tags

        return parse_tags(text)

    @staticmethod
    def parse_when(text: str, *, base: float | None = None) -> float | None:
        from memory.curation.edits import parse_when

        return parse_when(text, base=base)

    @staticmethod
    def parse_duration(text: str) -> float:
        """Seconds from ``30m``, ``2h``, ``3d``; ValueError with a hint otherwise."""
        from memory.curation.edits import parse_duration

        return parse_duration(text)

    @staticmethod
    def describe_item(item: ReviewItem) -> str:
        from memory.curation.edits import describe_item

        return describe_item(item)

    def merge(self, ids: list[str], content: str | None = None, *, actor: str = "user") -> Memory:
        from memory.curation.edits import merge

        return merge(self._parts, ids, content, actor=actor)

    def set_tags(self, ids: list[str], tags: list[str], *, actor: str = "user") -> list[Memory]:
        from memory.curation.edits import set_tags

        return set_tags(self._parts, ids, tags, actor=actor)

    def set_expiry(
        self, ids: list[str], expires_at: float | None, *, actor: str = "user"
    ) -> list[Memory]:
        from memory.curation.edits import set_expiry

        return set_expiry(self._parts, ids, expires_at, actor=actor)

    def edit(self, memory_id: str, content: str, *, actor: str = "user") -> Memory:
        from memory.curation.edits import edit

        return edit(self._parts, memory_id, content, actor=actor)

    def delete_many(
        self, ids: list[str], *, actor: str = "user", reason: str = "deleted in the inspector"
    ) -> list[str]:
        from memory.curation.edits import delete_many

        return delete_many(self._parts, ids, actor=actor, reason=reason)

    def restore_many(self, ids: list[str], *, actor: str = "user") -> None:
        from memory.curation.edits import restore_many

        restore_many(self._parts, ids, actor=actor)

    def pin_many(self, ids: list[str], pinned: bool, *, actor: str = "user") -> None:
        from memory.curation.edits import pin_many

        pin_many(self._parts, ids, pinned, actor=actor)

    def forget_messages(self, message_ids: list[str]) -> int:
        from memory.curation.edits import forget_messages

        return forget_messages(self._parts, message_ids)

    def review_queue(self, queue: str, **kw: Any) -> list[ReviewItem]:
        from memory.curation.edits import review_queue

        return review_queue(self._parts, queue, **kw)

    def near_duplicates(self, memory_id: str) -> list[ReviewItem]:
        """Live memories that say what ``memory_id`` says in other words (by the vectors in
        the index; [] without them), as "duplicates" items whose ``other`` is the one kept."""
        from memory.curation.edits import near_duplicates

        return near_duplicates(self._parts, memory_id)

    def review_counts(self, **kw: Any) -> dict[str, int]:
        from memory.curation.edits import review_counts

        return review_counts(self._parts, **kw)

    def accept(self, item: ReviewItem, *, actor: str = "user") -> Memory:
        from memory.curation.edits import accept

        return accept(self._parts, item, actor=actor)

    def reject(self, item: ReviewItem, *, actor: str = "user") -> Memory | None:
        from memory.curation.edits import reject

        return reject(self._parts, item, actor=actor)


class Browse:
    """The inspector's view of memory: filtered, sorted pages and the figures beside them."""

    def __init__(self, parts: BrowseParts):
        self._parts = parts

    @staticmethod
    def parse(text: str, base: BrowseQuery | None = None) -> BrowseQuery:
        from memory.curation.browse import parse

        return parse(text, base)

    def page(self, q: BrowseQuery, *, offset: int = 0, limit: int = 200) -> BrowsePage:
        from memory.curation.browse import page

        return page(self._parts, q, offset=offset, limit=limit)

    def count(self, q: BrowseQuery) -> int:
        from memory.curation.browse import count

        return count(self._parts, q)

    def matching_ids(self, q: BrowseQuery) -> list[str]:
        from memory.curation.browse import matching_ids

        return matching_ids(self._parts, q)

    def change_marker(self) -> tuple[int, int]:
        from memory.curation.browse import change_marker

        return change_marker(self._parts)

    def growth_by_day(self, days: int = 14) -> list[tuple[str, int]]:
        from memory.curation.browse import growth_by_day

        return growth_by_day(self._parts, days)

    def prompt_memory_tokens(self, last: int = 200) -> dict[str, float]:
        from memory.curation.browse import prompt_memory_tokens

        return prompt_memory_tokens(self._parts, last)

    def status_counts(self) -> dict[str, int]:
        from memory.curation.browse import status_counts

        return status_counts(self._parts)


class Consolidation:
    """How the worker files extracted candidates: add, update, supersede or leave alone."""

    def __init__(self, parts: ConsolidationParts):
        self._parts = parts

    from memory.curation.consolidation import ACTIONS

    @staticmethod
    def normalise(text: str) -> str:
        from memory.curation.consolidation import normalise

        return normalise(text)

    @staticmethod
    def decide(proposal: Proposal, near: list[Memory]) -> Decision:
        from memory.curation.consolidation import decide

        return decide(proposal, near)

    @staticmethod
    def duplicate_groups(
        memories: list[Memory],
    ) -> tuple[list[list[Memory]], list[tuple[Memory, Memory, float]]]:
        from memory.curation.consolidation import duplicate_groups

        return duplicate_groups(memories)

    def neighbours(self, candidate: Memory, limit: int = 6) -> list[Memory]:
        from memory.curation.consolidation import neighbours

        return neighbours(self._parts, candidate, limit)

    def apply(
        self,
        decisions: list[Decision],
        *,
        actor: str = "worker:extract",
        mark: tuple[str, str] | None = None,
    ) -> list[Decision]:
        from memory.curation.consolidation import apply

        return apply(self._parts, decisions, actor=actor, mark=mark)

    def merge_exact(self, group: list[Memory], *, actor: str = "worker:optimize") -> Memory:
        from memory.curation.consolidation import merge_exact

        return merge_exact(self._parts, group, actor=actor)


class Forgetting:
    """Forget for real (not undoable): one memory, everything about a topic, or the profile."""

    def __init__(self, parts: ForgettingParts):
        self._parts = parts

    @staticmethod
    def describe(report: ForgetReport) -> str:
        from memory.curation.forget import describe

        return describe(report)

    @staticmethod
    def notes(report: ForgetReport) -> list[str]:
        """What forget left where it was (backups made before...), one line each."""
        from memory.curation.forget import notes

        return notes(report)

    def backups_with_profile(self) -> list[str]:
        """Backups made before that still hold this profile (forget never deletes them)."""
        from memory.curation.forget import backups_with_profile

        return backups_with_profile(self._parts)

    def memory(self, memory_id: str) -> ForgetReport:
        from memory.curation.forget import forget_memory

        return forget_memory(self._parts, memory_id)

    def about(self, text: str, *, include_messages: bool = True) -> ForgetReport:
        from memory.curation.forget import forget_about

        return forget_about(self._parts, text, include_messages=include_messages)

    def preview_about(self, text: str, *, include_messages: bool = True) -> ForgetPreview:
        """What :meth:`about` would remove, changing nothing."""
        from memory.curation.forget import preview_about

        return preview_about(self._parts, text, include_messages=include_messages)

    def profile(self) -> dict[str, int]:
        from memory.curation.forget import forget_profile

        return forget_profile(self._parts)


class Transfer:
    """Export, import and backup (secrets never leave: they are redacted before storage)."""

    def __init__(self, parts: TransferParts):
        self._parts = parts

    @staticmethod
    def import_formats() -> str:
        """What an import file may hold, in words (for the error when it holds something else)."""
        from memory.transfer.files import IMPORT_FORMATS

        return IMPORT_FORMATS

    @staticmethod
    def read_import(path: Path) -> ImportReport:
        """Parse and validate an import file; nothing is written."""
        from memory.transfer.files import read_import

        return read_import(path)

    @staticmethod
    def restore(path: Path, home: Path, *, force: bool = False) -> dict:
        """Restore a backup into ``home`` (no store may be open on it)."""
        from memory.transfer.backup import restore

        return restore(path, home, force=force)

    @staticmethod
    def restore_copies(home: Path) -> list[Path]:
        """What earlier restores kept aside in ``home`` (``*.before-restore-<time>``)."""
        from memory.transfer.backup import restore_copies

        return restore_copies(home)

    @staticmethod
    def remove_restore_copies(home: Path) -> list[Path]:
        """Delete what :meth:`restore_copies` lists; returns what was removed."""
        from memory.transfer.backup import remove_restore_copies

        return remove_restore_copies(home)

    @staticmethod
    def list_backups(home: Path) -> list[Path]:
        """Backup folders in ``<home>/backups``."""
        from memory.transfer.backup import list_backups

        return list_backups(home)

    @staticmethod
    def size_of(path: Path) -> int:
        """Bytes in a file or folder (for listing backups)."""
        from memory.transfer.backup import size_of

        return size_of(path)

    @staticmethod
    def write_text(path: Path, text: str) -> None:
        """Write an export file privately and atomically; a failure raises ExportError."""
        from memory.fsutil import write_private_atomically
        from memory.transfer.files import write_error

        try:
            write_private_atomically(path, [text])
        except OSError as e:
            raise write_error(path, e) from None

    @staticmethod
    def write_failed(path: Path | str, e: OSError) -> Exception:
        """The error to show when an export could not be written to ``path``."""
        from memory.transfer.files import write_error

        return write_error(path, e)

    @staticmethod
    def private_dir(path: Path) -> None:
        """Create ``path`` (mode 0700) for exported files."""
        from memory.fsutil import private_dir

        private_dir(path)

    def apply_import(
        self, report: ImportReport, progress: Callable[[int, int], None] | None = None
    ) -> ImportReport:
        from memory.transfer.files import apply_import

        return apply_import(self._parts, report, progress)

    def export_memories(self, fmt: str = "jsonl", section: str | None = None) -> Iterator[str]:
        from memory.transfer.files import export_memories

        return export_memories(self._parts, fmt, section)

    def write_export(self, path: Path, fmt: str = "jsonl", section: str | None = None) -> Path:
        from memory.transfer.files import write_export

        return write_export(self._parts, path, fmt, section)

    def export_conversation(self, conversation_id: str, fmt: str = "markdown") -> str:
        from memory.transfer.files import export_conversation

        return export_conversation(self._parts, conversation_id, fmt)

    def backup(self, dest: Path | None = None) -> Path:
        from memory.transfer.backup import backup

        return backup(self._parts.settings, dest)


__all__ = ["Browse", "Consolidation", "Curation", "Forgetting", "Transfer"]
