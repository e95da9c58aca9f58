"""Running the huey consumer: embedded in the TUI (threads), headless (`memchat worker`), or once.

At start every consumer also queues extraction again for conversations whose turns are newer
than their extraction mark (tasks.outbox.catch_up): SQLite, not the queue, is the record.
Every consumer beats a heartbeat into Redis (so `doctor`, `--status` and the TUI can tell a
worker is alive) and, at start and every few seconds, re-queues the in-flight tasks of
consumers that died (see tasks.queue).
"""

from __future__ import annotations

import logging
import signal
import threading
import time

from huey.consumer import Consumer

from tasks import outbox, queue
from tasks.queue import huey
from tasks.settings import settings_for

log = logging.getLogger("memchat.tasks.consumer")

RECOVER_EVERY = 10.0
SHUTDOWN_TIMEOUT = 30.0


def _load_tasks() -> None:
    queue.load_tasks()


def _warm_up() -> None:
    """Import litellm now, so the first extraction does not pay for it."""
    try:
        from assistant.llm import warm_up

        warm_up()
    except Exception as e:  # noqa: BLE001
        log.debug("warm-up failed: %s", e)


class _Heart:
    def __init__(self, mode: str, workers: int) -> None:
        self.mode, self.workers = mode, workers
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, name="memchat-heartbeat", daemon=True)

    def start(self) -> None:
        global _active
        queue.beat(self.mode, self.workers)
        self.thread.start()
        _active = self

    def _run(self) -> None:
        last_recover = time.monotonic()
        while not self.stop.wait(queue.HEARTBEAT_EVERY):
            try:
                queue.beat(self.mode, self.workers)
                if time.monotonic() - last_recover > RECOVER_EVERY:
                    last_recover = time.monotonic()
                    queue.recover_orphans()
                store = queue.bound_store()
                if store is not None:
                    outbox.replay_if_any(store)  # jobs kept in SQLite while Redis was down
            except Exception as e:  # noqa: BLE001 - Redis may be restarting; keep beating
                log.debug("heartbeat failed: %s", e)

    def halt(self) -> None:
        global _active
        if _active is self:
            _active = None
        self.stop.set()
        if self.thread.is_alive():
            self.thread.join(timeout=5)
        queue.stop_beating()


_active: _Heart | None = None
_startup_lock = threading.Lock()


@huey.on_startup("memchat-heartbeat")
def _plain_consumer_startup() -> None:
    """Under a bare ``huey_consumer tasks.huey`` (none of our wrappers): beat and recover too."""
    with _startup_lock:
        if _active is None:
            queue.recover_orphans()
            _Heart("huey_consumer", 0).start()


class _QuietConsumer(Consumer):
    """A consumer that leaves signal handling to its host (the TUI, or a test)."""

    def _set_signal_handlers(self) -> None:
        pass


class _HeadlessConsumer(Consumer):
    """SIGINT and SIGTERM both stop gracefully (finish running tasks, up to a timeout)."""

    def _set_signal_handlers(self) -> None:
        self._signal_actions = {signal.SIGINT: (False, True), signal.SIGTERM: (False, True)}
        super()._set_signal_handlers()


def _options(workers: int, periodic: bool) -> dict:
    return {
        "workers": workers,
        "periodic": periodic,
        "worker_type": "thread",
        "initial_delay": 0.05,
        "max_delay": 1.0,
        "backoff": 1.5,
        "scheduler_interval": 1,
        "check_worker_health": True,
        "health_check_interval": 5,
        "shutdown_timeout": SHUTDOWN_TIMEOUT,
    }


class EmbeddedConsumer:
    """A huey consumer in threads of this process; :meth:`stop` ends it."""

    def __init__(
        self, store, *, workers: int | None = None, periodic: bool = True, mode: str = "embedded"
    ):
        _load_tasks()
        queue.bind(store)
        self.store = store
        self.workers = workers or settings_for(store).worker.workers
        self.consumer = _QuietConsumer(huey, **_options(self.workers, periodic))
        self.heart = _Heart(mode, self.workers)
        self._stopped = False

    def start(self) -> EmbeddedConsumer:
        queue.recover_orphans()
        outbox.replay_if_any(self.store)
        outbox.catch_up_quietly(self.store)  # jobs the queue lost with its Redis data
        self.heart.start()
        self.consumer.start()
        return self

    def stop(self, timeout: float = 10.0) -> None:
        if self._stopped:
            return
        self._stopped = True
        self.consumer.shutdown_timeout = timeout
        self.consumer.stop(graceful=True)
        huey.notify_interrupted_tasks()
        self.heart.halt()

    def __enter__(self) -> EmbeddedConsumer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def start_embedded(store) -> EmbeddedConsumer | None:
    """Start a consumer inside the TUI unless config turns it off, a live worker already runs,
    or there is no Redis for the queue. Never raises."""
    from tasks.status import worker_alive

    try:
        if not settings_for(store).worker.embedded:
            return None
        if worker_alive(store):
            return None
        return EmbeddedConsumer(store).start()
    except Exception as e:  # noqa: BLE001 - the chat app runs without its pipeline
        log.warning("embedded worker not started: %s", e)
        return None


def run_headless(store, *, workers: int | None = None, periodic: bool = True) -> None:
    """Run the consumer in the foreground until SIGINT/SIGTERM (``memchat worker``)."""
    from tasks.maintenance import sync

    _load_tasks()
    queue.bind(store)
    n = workers or settings_for(store).worker.workers
    recovered = queue.recover_orphans()
    if recovered:
        log.warning("re-queued %d task(s) left by a dead worker", recovered)
    outbox.replay_if_any(store)
    outbox.catch_up_quietly(store)  # jobs the queue lost with its Redis data
    consumer = _HeadlessConsumer(huey, **_options(n, periodic))
    threading.Thread(target=_warm_up, name="memchat-warm-up", daemon=True).start()
    heart = _Heart("headless", n)
    heart.start()
    try:
        consumer.run()
    finally:
        heart.halt()
        try:
            sync()  # on exit: session state -> SQLite
        except Exception as e:  # noqa: BLE001
            log.warning("final sync failed: %s", e)


def run_once(store, *, periodic: bool = True) -> dict:
    """Process every queued (and due scheduled) task here, run the periodic jobs once, return counts."""
    from tasks.maintenance import run_all_periodic

    _load_tasks()
    queue.bind(store)
    heart = _Heart("once", 1)
    heart.start()
    done = 0
    try:
        recovered = queue.recover_orphans()
        deferred = outbox.replay_if_any(store)
        outbox.catch_up_quietly(store)  # jobs the queue lost with its Redis data
        while True:
            for task in huey.read_schedule():
                huey.enqueue(task)
            task = huey.dequeue()
            if task is None:
                break
            huey.execute(task)
            done += 1
        jobs = run_all_periodic() if periodic else {}
    finally:
        heart.halt()
    return {"tasks": done, "recovered": recovered, "deferred": deferred, "jobs": jobs}


__all__ = ["EmbeddedConsumer", "run_headless", "run_once", "start_embedded"]
