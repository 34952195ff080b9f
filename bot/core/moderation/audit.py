"""What is audited: the moderation audit trail, table ``mod_audit``, and who hears of each new entry.

An entry is written in the same transaction as the change it records (the other modules call
:meth:`AuditTrail.write` inside theirs), and the listeners hear of it only once that transaction has
committed (:meth:`AuditTrail.emit`), so the audit channel never shows a change that was rolled back.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from collections.abc import Callable
from typing import Any

from bot.core.models import Job
from bot.core.moderation.policy import AuditAction, AuditEntry
from bot.core.store import IntegrityError, Row, Store, iso

__all__ = ["MAX_AUDIT_PROMPT", "AuditListener", "AuditTrail"]

_log = logging.getLogger(__name__)

# Audit details keep this much of a prompt; the audit channel shows less.
MAX_AUDIT_PROMPT = 1000

AuditListener = Callable[[AuditEntry], None]


class AuditTrail:
    """Every row of ``mod_audit``: written, read back, and announced to the listeners."""

    def __init__(self, store: Store, *, clock: Callable[[], dt.datetime]) -> None:
        self.store = store
        self.clock = clock
        self._listeners: list[AuditListener] = []

    def add_listener(self, listener: AuditListener) -> None:
        """Called with every audit entry after it is stored; must not block."""
        self._listeners.append(listener)

    async def write(
        self,
        guild_id: int,
        actor_id: int,
        action: AuditAction,
        *,
        target_user_id: int | None = None,
        job_id: str | None = None,
        detail: dict[str, Any] | None = None,
    ) -> AuditEntry:
        """Store one entry without telling the listeners: the caller's transaction may still roll back.
        Call :meth:`emit` with the entry once it has committed."""
        now = self.clock()
        detail = detail or {}
        entry_id = await self.store.insert(
            "INSERT INTO mod_audit (guild_id, at, actor_id, action, target_user_id, job_id, detail)"
            " VALUES (?, ?, ?, ?, ?, ?, ?)",
            (
                guild_id,
                iso(now),
                actor_id,
                action.value,
                target_user_id,
                job_id,
                json.dumps(detail, ensure_ascii=False, separators=(",", ":")),
            ),
        )
        return AuditEntry(entry_id, guild_id, now, actor_id, action, target_user_id, job_id, detail)

    def emit(self, entry: AuditEntry) -> None:
        """Tell every listener of a stored entry; a failing listener is logged and the others still hear."""
        for listener in self._listeners:
            try:
                listener(entry)
            except Exception:
                _log.exception("audit listener %r failed", listener)

    async def record(
        self,
        guild_id: int,
        actor_id: int,
        action: AuditAction,
        *,
        target_user_id: int | None = None,
        job_id: str | None = None,
        detail: dict[str, Any] | None = None,
    ) -> AuditEntry:
        """Record an action taken elsewhere (a cancel, a deleted message, an account reset)."""
        # One INSERT is atomic on its own; a transaction around it would only serialise it needlessly.
        entry = await self.write(
            guild_id, actor_id, action, target_user_id=target_user_id, job_id=job_id, detail=detail
        )
        self.emit(entry)
        return entry

    async def record_job_end(self, job: Job) -> AuditEntry | None:
        """Record a finished job once; None when it had been recorded before (an event replayed at start)."""
        if job.guild_id is None or not job.terminal:
            return None
        detail: dict[str, Any] = {
            "status": job.status.value,
            "error": job.error.value if job.error else None,
            "provider": job.provider,
            "action": job.action.value,
            "prompt": job.prompt[:MAX_AUDIT_PROMPT],
            "channel_id": job.channel_id,
            "message_id": job.message_id,
        }
        if job.safety_score is not None or job.spoiler:
            # The output-safety check's verdict, for a moderator reading why an image was withheld or spoilered.
            detail |= {"safety_score": job.safety_score, "spoiler": job.spoiler}
        try:
            # One INSERT needs no transaction around it: a duplicate fails whole on the unique index.
            entry = await self.write(
                job.guild_id,
                job.user_id,
                AuditAction.JOB_FINISHED,
                target_user_id=job.user_id,
                job_id=job.id,
                detail=detail,
            )
        except IntegrityError:
            return None
        self.emit(entry)
        return entry

    async def deleted(self, job_id: str) -> AuditEntry | None:
        """The record of a moderator deleting this job's message, if one did."""
        row = await self.store.fetchone(
            "SELECT * FROM mod_audit WHERE job_id = ? AND action = ? ORDER BY id DESC LIMIT 1",
            (job_id, AuditAction.JOB_DELETED.value),
        )
        return _entry(row) if row else None

    async def audit_log(self, guild_id: int, *, limit: int = 20) -> list[AuditEntry]:
        """A guild's newest entries, newest first."""
        rows = await self.store.fetchall(
            "SELECT * FROM mod_audit WHERE guild_id = ? ORDER BY at DESC, id DESC LIMIT ?", (guild_id, limit)
        )
        return [_entry(r) for r in rows]


def _entry(row: Row) -> AuditEntry:
    return AuditEntry(
        id=row["id"],
        guild_id=row["guild_id"],
        at=dt.datetime.fromisoformat(row["at"]),
        actor_id=row["actor_id"],
        action=AuditAction(row["action"]),
        target_user_id=row["target_user_id"],
        job_id=row["job_id"],
        detail=json.loads(row["detail"] or "{}"),
    )
