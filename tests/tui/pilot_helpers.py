"""Helpers shared by the Pilot tests (tests/tui is on sys.path while they run)."""

from __future__ import annotations

import asyncio
import time


def steady_cursor(text_area) -> None:
    """Stop ``text_area``'s cursor blinking, for a screenshot that does not depend on when it is
    taken. Textual's TextArea keys its cached lines without focus when the cursor does not
    blink, so a line drawn before the prompt had focus stayed cursor-less in the shot (the
    first app of a test process, slower to start); clearing that cache redraws them."""
    text_area.cursor_blink = False
    text_area.notify_style_update()  # clears the line cache (and restyles, a no-op here)


async def wait_for(pilot, cond, timeout: float = 20.0, what: str = "condition") -> None:
    """Let the app run until ``cond()`` holds; fail with ``what`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await pilot.pause(0.05)


async def opened(app, pilot) -> None:
    """Wait until the app has opened memory in its background worker."""
    await wait_for(pilot, lambda: app.store is not None, what="the store to open")
    await pilot.pause()


async def send(app, pilot, text: str):
    """Type ``text`` into the chat prompt, press Enter, wait for the reply to finish; returns
    the reply's MessageView."""
    app.chat.prompt.focus()
    app.chat.prompt.insert(text)
    await pilot.press("enter")
    await wait_for(
        pilot, lambda: app.chat._reply_view is not None or not app.chat.streaming, what="turn start"
    )
    reply = [v for v in app.chat.transcript.views() if v.role == "assistant"][-1]
    await wait_for(pilot, lambda: not app.chat.streaming, what="the reply to finish")
    return reply


async def workers_done(app, timeout: float = 30.0) -> None:
    """Wait until none of the app's workers is pending or running.

    ``app.workers.wait_for_complete()`` raises WorkerCancelled when an exclusive worker was
    superseded by a newer one of its group (a detail load replaced by the next while the
    machine is busy): that is the app working as meant, so cancelled workers are skipped and
    the wait goes on for the ones that replaced them. A worker that failed still fails."""
    from textual.worker import WorkerCancelled, WorkerState

    deadline = time.monotonic() + timeout
    while True:
        busy = [w for w in app.workers if w.state in (WorkerState.PENDING, WorkerState.RUNNING)]
        if not busy:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"workers still running after {timeout}s: {busy}")
        for w in busy:
            if w.state == WorkerState.PENDING:
                continue
            try:
                await w.wait()
            except WorkerCancelled:
                pass
        await asyncio.sleep(0.01)
