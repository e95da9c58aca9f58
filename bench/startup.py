"""Time to first screen: `memchat` vs a bare Textual app, measured the same way in one run.

Each run starts a fresh process on a pseudo-terminal (120x35). The app writes
"epoch_seconds max_rss_kb" when its first screen has been painted
(MEMCHAT_FIRST_SCREEN_MARK) and exits (MEMCHAT_EXIT_ON_FIRST_SCREEN=1). The bare app does
exactly the same from its own on_mount. Runs alternate between the two to share the noise.

    .venv/bin/python bench/startup.py [--runs 10]

Prints `name: value` lines; goal: ratio <= 1.3 and RSS < 100 MB at first screen.
"""

from __future__ import annotations

import argparse
import fcntl
import os
import pty
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
            f.write(f"{time.time()} {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}\\n")
        self.exit()

Bare().run()
"""


def run_once(cmd: list[str], env: dict[str, str]) -> tuple[float, float]:
    """Seconds from spawn to first screen, and max RSS (MB) at that moment."""
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
            cmd, stdin=slave, stdout=slave, stderr=slave, env=env, cwd=ROOT, start_new_session=True
        )
        os.close(slave)
        try:
            proc.wait(timeout=60)
        finally:
            os.close(master)
        if not mark.exists():
            raise RuntimeError(f"{cmd} exited {proc.returncode} without showing a first screen")
        at, rss_kb = mark.read_text().split()
        return float(at) - t0, int(rss_kb) / 1024


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--runs", type=int, default=10)
    args = ap.parse_args()
    home = tempfile.mkdtemp(prefix="mcb-", dir="/tmp")
    env = {k: v for k, v in os.environ.items() if not k.startswith("MEMCHAT_")}
    env.update(
        MEMCHAT_HOME=home, MEMCHAT_CONFIG=os.path.join(home, "none.toml"), TERM="xterm-256color"
    )
    memchat = [sys.executable, "-m", "tui"]
    bare = [sys.executable, "-c", BARE]
    run_once(memchat, env)  # warm the OS file cache and create the data dir once
    run_once(bare, env)
    results: dict[str, list[tuple[float, float]]] = {"bare_textual": [], "memchat": []}
    for _ in range(args.runs):
        results["bare_textual"].append(run_once(bare, env))
        results["memchat"].append(run_once(memchat, env))
    med = {}
    for name, rows in results.items():
        times = sorted(t for t, _ in rows)
        med[name] = statistics.median(times)
        print(f"{name}_first_screen_median_s: {med[name]:.3f}")
        print(f"{name}_first_screen_min_s: {times[0]:.3f}")
        print(f"{name}_rss_mb: {statistics.median(r for _, r in rows):.1f}")
    print(f"runs: {args.runs}")
    print(f"memchat_vs_bare_ratio: {med['memchat'] / med['bare_textual']:.2f}")


if __name__ == "__main__":
    main()
