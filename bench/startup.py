"""Time to first screen: `memchat` vs a bare Textual app, measured the same way in one run.

Each run starts a fresh process on a pseudo-terminal (120x35). The app writes
"epoch_seconds max_rss_kb cpu_seconds" when its first screen has been painted
(MEMCHAT_FIRST_SCREEN_MARK) and exits (MEMCHAT_EXIT_ON_FIRST_SCREEN=1). The bare app does
exactly the same from its own on_mount. Runs alternate between the two to share the noise.

    .venv/bin/python bench/startup.py [--runs 10] [--pyc] [--also DIR ...]

``--pyc`` lets both apps keep compiled bytecode (in a private PYTHONPYCACHEPREFIX written by
the warm-up runs), as an installed copy has it; without it a checkout run with
PYTHONDONTWRITEBYTECODE=1 compiles memchat's modules at every start.

Prints `name: value` lines; goal: ratio <= 1.3 and RSS < 100 MB at first screen. Besides the
ratio of the medians it prints the median of each alternating pair's ratio (less moved by a
load change between minutes) and the CPU time each process used until its first screen (less
moved by other processes on a shared machine than the wall clock).

``--also DIR`` times the memchat of another source tree too, in the same alternation (e.g. the
commit before a change: ``git archive HEAD~1 | tar -x -C /tmp/before``): on a loaded machine
only a same-run comparison tells what one change bought.
"""

from __future__ import annotations

import argparse
import fcntl
import os
import pty
import shutil
import statistics
import struct
import subprocess
import sys
import tempfile
import termios
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

BARE = """
import os, resource, time
from textual.app import App
from textual.widgets import Footer, Static

class Bare(App):
    def compose(self):
        yield Static("hello")
        yield Footer()

    def on_mount(self):
        self.call_after_refresh(self.mark)

    def mark(self):
        with open(os.environ["MEMCHAT_FIRST_SCREEN_MARK"], "w") as f:
            ru = resource.getrusage(resource.RUSAGE_SELF)
            f.write(f"{time.time()} {ru.ru_maxrss} {ru.ru_utime + ru.ru_stime}\\n")
        self.exit()

Bare().run()
"""


def run_once(cmd: list[str], env: dict[str, str], cwd: Path = ROOT) -> tuple[float, float, float]:
    """Seconds from spawn to first screen, max RSS (MB) and CPU seconds at that moment (``cwd``
    is the source tree ``-m tui`` imports)."""
    with tempfile.TemporaryDirectory() as d:
        mark = Path(d) / "mark"
        env = {**env, "MEMCHAT_FIRST_SCREEN_MARK": str(mark), "MEMCHAT_EXIT_ON_FIRST_SCREEN": "1"}
        master, slave = pty.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 35, 120, 0, 0))
        drained = threading.Event()

        def drain() -> None:
            try:
                while os.read(master, 65536):
                    pass
            except OSError:
                pass
            drained.set()

        threading.Thread(target=drain, daemon=True).start()
        t0 = time.time()
        proc = subprocess.Popen(
            cmd, stdin=slave, stdout=slave, stderr=slave, env=env, cwd=cwd, start_new_session=True
        )
        os.close(slave)
        try:
            proc.wait(timeout=60)
        finally:
            os.close(master)
        if not mark.exists():
            raise RuntimeError(f"{cmd} exited {proc.returncode} without showing a first screen")
        at, rss_kb, *cpu = mark.read_text().split()  # (trees before 2026-12-01: no CPU time)
        return float(at) - t0, int(rss_kb) / 1024, float(cpu[0]) if cpu else float("nan")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--runs", type=int, default=10)
    ap.add_argument("--pyc", action="store_true", help="keep compiled bytecode between runs")
    ap.add_argument(
        "--also", action="append", default=[], metavar="DIR", help="another memchat source tree"
    )
    args = ap.parse_args()
    home = tempfile.mkdtemp(prefix="mcb-", dir="/tmp")
    env = {k: v for k, v in os.environ.items() if not k.startswith("MEMCHAT_")}
    env.update(
        MEMCHAT_HOME=home, MEMCHAT_CONFIG=os.path.join(home, "none.toml"), TERM="xterm-256color"
    )
    if args.pyc:
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        env["PYTHONPYCACHEPREFIX"] = os.path.join(home, "pycache")
    memchat = [sys.executable, "-m", "tui"]
    bare = [sys.executable, "-c", BARE]
    apps = {"bare_textual": (bare, ROOT), "memchat": (memchat, ROOT)}
    apps.update((f"memchat_{i}", (memchat, Path(d).resolve())) for i, d in enumerate(args.also, 1))
    results: dict[str, list[tuple[float, float, float]]] = {name: [] for name in apps}
    try:
        for cmd, cwd in apps.values():  # warm the OS file cache (and --pyc's cache)
            run_once(cmd, env, cwd)
        for _ in range(args.runs):
            for name, (cmd, cwd) in apps.items():
                results[name].append(run_once(cmd, env, cwd))
    finally:
        shutil.rmtree(home, ignore_errors=True)
    med, cpu = {}, {}
    for name, rows in results.items():
        times = sorted(t for t, _, _ in rows)
        med[name] = statistics.median(times)
        cpu[name] = statistics.median(c for _, _, c in rows)
        print(f"{name}_first_screen_median_s: {med[name]:.3f}")
        print(f"{name}_first_screen_min_s: {times[0]:.3f}")
        print(f"{name}_cpu_median_s: {cpu[name]:.3f}")
        print(f"{name}_rss_mb: {statistics.median(r for _, r, _ in rows):.1f}")
    print(f"runs: {args.runs}")
    print(f"bytecode_cached: {args.pyc}")
    for i, d in enumerate(["", *args.also]):
        name = f"memchat_{i}" if i else "memchat"
        if d:
            print(f"{name}_tree: {d}")
        bare_rows = results["bare_textual"]
        pairs = [m[0] / b[0] for b, m in zip(bare_rows, results[name], strict=True)]
        print(f"{name}_vs_bare_ratio: {med[name] / med['bare_textual']:.2f}")
        print(f"{name}_vs_bare_pair_ratio_median: {statistics.median(pairs):.2f}")
        print(f"{name}_vs_bare_cpu_ratio: {cpu[name] / cpu['bare_textual']:.2f}")


if __name__ == "__main__":
    main()
