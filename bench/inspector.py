"""Memory inspector at 100k memories: first rows, search-as-you-type, filters, live marker.

Seeds a temp MEMCHAT_HOME with N memories in one transaction (executemany straight into the
memories table: seeding only, the FTS triggers still fire), then measures:

- browse_first_page_ms / browse_count_ms: the memory-layer query behind the table.
- inspector_first_rows_ms: the Textual app (headless) from pushing the inspector to its first
  rows on screen, store already open (what F2 costs).
- search_p50_ms / search_p95_ms: one keystroke of search-as-you-type (FTS page of 200 rows,
  as the table's worker runs it), over a typed sequence of prefixes.
- search_ui_p50_ms / search_ui_p95_ms: keystroke to the new rows in the app's table (debounce
  excluded, keys 150 ms apart; painting the frame comes after).
- filter_*_ms: a page with a filter (section, tag, pinned, age) and a text+filter combination.

Usage: python bench/inspector.py [--n 100000]   (BENCH_KEEP=1 keeps and prints the seeded home)
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

WORDS = (
    "cat dog tea coffee python rust garden bike train paris berlin tokyo music guitar piano "
    "running swimming book novel movie sister brother mother father friend colleague project "
    "deadline meeting holiday birthday allergy peanuts vegan spicy noodles pizza sushi morning "
    "evening weekend office remote laptop keyboard editor vim emacs terminal database memory "
    "recipe bread cheese wine beer mountain lake river ocean beach winter summer spring autumn "
    "doctor dentist gym yoga chess poker football tennis basketball ukulele violin drums"
).split()
NAMES = (
    "Miso Ziggy Ada Grace Linus Guido Alan Barbara Ken Dennis Margaret Edsger Tony Niklaus "
    "Donald Frances John Leslie Radia Sophie"
).split()
SECTIONS = ("facts", "preferences", "events", "summaries")


def seed(store, n: int, rng: random.Random) -> None:
    t0 = time.time() - 400 * 86400
    rows = []
    for i in range(n):
        words = rng.sample(WORDS, 6)
        name = rng.choice(NAMES)
        content = f"The user's {words[0]} {name} likes {words[1]} and {words[2]} on {words[3]} {words[4]} {words[5]} #{i}"
        created = t0 + rng.random() * 400 * 86400
        rows.append(
            (
                uuid.uuid4().hex,
                store.profile,
                rng.choice(SECTIONS),
                content,
                json.dumps(sorted(rng.sample(WORDS[:12], 2))),
                rng.random(),
                rng.random(),
                int(rng.random() < 0.01),
                "permanent",
                "pending" if rng.random() < 0.01 else "active",
                created,
                created + rng.random() * 86400,
                rng.randrange(10),
            )
        )
    with store.db.tx() as conn:
        conn.executemany(
            "INSERT INTO memories (id, profile, section, content, tags, confidence, importance, pinned, "
            "persistence, status, created_at, updated_at, access_count) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
            rows,
        )
    store.db.conn.execute("ANALYZE")


def ms(t: float) -> float:
    return (time.perf_counter() - t) * 1000


def pct(xs: list[float], p: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(p / 100 * (len(xs) - 1))))]


def bench_queries(store) -> dict[str, float]:
    from memory.curation import browse

    out: dict[str, float] = {}
    q = browse.BrowseQuery()
    t = time.perf_counter()
    store.browse.page(q, limit=200)
    out["browse_first_page_ms"] = ms(t)
    t = time.perf_counter()
    total = store.browse.count(q)
    out["browse_count_ms"] = ms(t)
    out["memories"] = total
    typed = []
    for word in ("miso", "guitar", "berlin tea", "sushi morning", "the user", "xylophone"):
        for i in range(1, len(word) + 1):
            typed.append(word[:i])
    times, count_times = [], []
    for text in typed:
        t = time.perf_counter()
        store.browse.page(browse.parse(text), limit=200)
        times.append(ms(t))
        t = time.perf_counter()
        store.browse.count(browse.parse(text))
        count_times.append(ms(t))
    out["search_p50_ms"] = statistics.median(times)
    out["search_p95_ms"] = pct(times, 95)
    out["search_count_p95_ms"] = pct(count_times, 95)
    for name, text in (
        ("section", "section:events"),
        ("tag", "tag:tea"),
        ("pinned", "pinned:yes"),
        ("age", "age:<30d"),
        ("text_and_section", "guitar section:facts"),
        ("sort_importance", "sort:importance"),
        ("pending", "status:pending"),
    ):
        t = time.perf_counter()
        store.browse.page(browse.parse(text), limit=200)
        out[f"filter_{name}_ms"] = ms(t)
    t = time.perf_counter()
    for _ in range(100):
        store.browse.change_marker()
    out["change_marker_ms"] = ms(t) / 100
    return out


async def bench_app() -> dict[str, float]:
    os.environ["MEMCHAT_WORKER__EMBEDDED"] = "false"
    # a model is configured (never called: the inspector needs none), so no first-run screen
    os.environ.setdefault("MEMCHAT_MODEL", "openai/bench")
    os.environ.setdefault("OPENAI_API_KEY", "sk-bench")
    os.environ.setdefault("MEMCHAT_API_BASE", "http://127.0.0.1:9")
    from tui.app import MemchatApp
    from tui.screens.inspector import InspectorScreen

    out: dict[str, float] = {}
    app = MemchatApp(warm=False, worker=False)
    async with app.run_test(size=(140, 40)) as pilot:
        while app.store is None:
            await pilot.pause(0.05)
        await pilot.pause(0.2)
        t = time.perf_counter()
        app.action_toggle_inspector()  # what F2 does (pilot.press adds its own idle waits)
        deadline = time.monotonic() + 60
        while not (
            isinstance(app.screen, InspectorScreen)
            and app.screen.query("#lt-table")
            and app.screen.longterm.table.row_count
        ):
            if time.monotonic() > deadline:
                raise SystemExit(
                    f"the inspector did not show rows (screen: {type(app.screen).__name__})"
                )
            await asyncio.sleep(0.002)
        out["inspector_first_rows_ms"] = ms(t)
        await pilot.pause(1.0)
        tab = app.screen.longterm
        tab.debounce = 0.0  # measured without the 150 ms debounce
        times = []
        for word in ("miso guitar", "berlin tea", "the user", "sushi morning"):
            for i in range(1, len(word) + 1):
                serial = tab.serial
                t = time.perf_counter()
                tab.search.value = word[:i]
                while tab.shown_serial <= serial:
                    await asyncio.sleep(0.001)
                times.append(ms(t))
                await asyncio.sleep(0.15)  # a fast typist: ~7 keys a second
        out["search_ui_p50_ms"] = statistics.median(times)
        out["search_ui_p95_ms"] = pct(times, 95)
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=100_000)
    args = ap.parse_args()
    home = tempfile.mkdtemp(prefix="mcinsp-")
    os.environ["MEMCHAT_HOME"] = home
    os.environ["MEMCHAT_CONFIG"] = os.path.join(home, "config.toml")
    os.environ.pop("MEMCHAT_EMBEDDING_MODEL", None)
    from memory.store import MemoryStore

    with MemoryStore(start_redis=False) as store:
        t = time.perf_counter()
        seed(store, args.n, random.Random(7))
        print(f"seed_s: {ms(t) / 1000:.1f}")
        for k, v in bench_queries(store).items():
            print(f"{k}: {v:.1f}" if isinstance(v, float) else f"{k}: {v}")
    if os.environ.get("BENCH_SKIP_APP") != "1":
        for k, v in asyncio.run(bench_app()).items():
            print(f"{k}: {v:.1f}")
    if os.environ.get("BENCH_KEEP") == "1":  # e.g. to try `memchat inspect` on it
        print(f"home: {home}")
    else:
        import shutil

        shutil.rmtree(home, ignore_errors=True)


if __name__ == "__main__":
    main()
