"""The `memchat` command: a thin shell over the same facades the TUI and worker use.

Subcommands live in small modules (cli_memory, cli_doctor, ...) and are imported only when
they run, so `memchat` alone opens the TUI without paying for litellm or chromadb.

Exit codes: 0 ok · 1 failure (doctor FAIL, not found, storage) · 2 usage · 3 configuration ·
4 LLM provider error · 130 interrupted.
"""

from __future__ import annotations

import importlib
import os
import sys
from typing import Any

import click

EXIT_FAILURE, EXIT_USAGE, EXIT_CONFIG, EXIT_PROVIDER = 1, 2, 3, 4

# name -> "module:attribute", loaded on demand.
_SUBCOMMANDS = {
    "ask": "tui.cli_ask:ask",
    "backup": "tui.cli_data:backup_cmd",
    "backups": "tui.cli_data:backups_cmd",
    "chat": "tui.cli_chat:chat",
    "config": "tui.cli_doctor:config_cmd",
    "doctor": "tui.cli_doctor:doctor",
    "forget": "tui.cli_data:forget_all_cmd",
    "inspect": "tui.cli_chat:inspect",
    "memory": "tui.cli_memory:memory",
    "profiles": "tui.cli_data:profiles_cmd",
    "restore": "tui.cli_data:restore_cmd",
    "warm": "tui.cli_warm:warm_cmd",
    "worker": "tui.cli_worker:worker",
}


PROFILE_HELP = (
    "Every command takes -p/--profile NAME (before or after the subcommand) to use another "
    "memory profile."
)


def hoist_profile(args: list[str]) -> list[str]:
    """Move ``--profile NAME`` / ``-p NAME`` / ``--profile=NAME`` given after a subcommand to
    the front, so ``memchat memory list --profile work`` means ``memchat --profile work memory
    list``. Nothing after a ``--`` is touched (it is data, e.g. a prompt)."""
    front: list[str] = []
    rest: list[str] = []
    i = 0
    while i < len(args):
        a = args[i]
        if a == "--":
            rest += args[i:]
            break
        if a in ("--profile", "-p") and i + 1 < len(args):
            front += args[i : i + 2]
            i += 2
            continue
        if a.startswith("--profile="):
            front.append(a)
        else:
            rest.append(a)
        i += 1
    return front + rest


def _note_profile(command: click.Command) -> None:
    """End ``command``'s help (and its subcommands') with the global ``--profile`` option,
    which the subcommand's own option list does not show."""
    if PROFILE_HELP not in (command.epilog or ""):
        command.epilog = f"{command.epilog}\n\n{PROFILE_HELP}" if command.epilog else PROFILE_HELP
    if isinstance(command, click.Group):
        for sub in command.commands.values():
            _note_profile(sub)


class LazyGroup(click.Group):
    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if ctx.parent is None:
            args = hoist_profile(list(args))
        return super().parse_args(ctx, args)

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(set(super().list_commands(ctx)) | set(_SUBCOMMANDS))

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name in _SUBCOMMANDS:
            module, attr = _SUBCOMMANDS[name].split(":")
            try:
                command = getattr(importlib.import_module(module), attr)
            except ModuleNotFoundError as e:
                if e.name == module:
                    return None  # not built yet
                raise
            _note_profile(command)
            return command
        return super().get_command(ctx, name)

    def invoke(self, ctx: click.Context) -> Any:
        from memory.errors import ConfigError, MemchatError

        try:
            return super().invoke(ctx)
        except (click.exceptions.Exit, click.ClickException, click.exceptions.Abort):
            raise  # click's own control flow (--help, usage errors, aborted prompts)
        except ConfigError as e:
            click.echo(f"memchat: {e}", err=True)
            ctx.exit(EXIT_CONFIG)
        except MemchatError as e:
            click.echo(f"memchat: {e}", err=True)
            ctx.exit(EXIT_FAILURE)
        except Exception as e:  # an assistant error carries its own exit code
            code = getattr(e, "exit_code", None)
            if code is None:
                raise
            click.echo(f"memchat: {e}", err=True)
            ctx.exit(code)


@click.group(
    cls=LazyGroup,
    invoke_without_command=True,
    context_settings={"help_option_names": ["-h", "--help"]},
)
@click.option(
    "--profile",
    "-p",
    envvar="MEMCHAT_PROFILE",
    help="Memory profile to use (isolated in every tier).",
)
@click.version_option(package_name="memchat")
@click.pass_context
def cli(ctx: click.Context, profile: str | None) -> None:
    """memchat: a terminal chat assistant that remembers.

    Run `memchat` alone to open the chat app. Examples:

    \b
      memchat doctor                      check every tier and the model
      memchat memory add "I prefer tea" --section preferences
      memchat memory search "drinks"
      memchat ask "what do I like to drink?"
    """
    ctx.ensure_object(dict)
    if profile is not None and ctx.get_parameter_source("profile") in (
        click.core.ParameterSource.COMMANDLINE,
        click.core.ParameterSource.DEFAULT_MAP,
    ):
        from memory.config import check_profile

        try:  # said here, or load_settings would blame the MEMCHAT_PROFILE it is passed in
            check_profile(profile)
        except ValueError as e:
            raise click.BadParameter(f"{profile!r}: {e}", param_hint="'--profile' / '-p'") from None
    if profile:
        os.environ["MEMCHAT_PROFILE"] = profile
    ctx.obj["profile"] = profile
    # The app sets up logging after its first paint (loading settings costs ~0.2 s of startup);
    # the worker logs to worker.log itself.
    if ctx.invoked_subcommand not in (None, "chat", "inspect", "worker"):
        from memory.logs import setup_logging
        from tui.settings import load_settings

        setup_logging(load_settings().log_dir)
    if ctx.invoked_subcommand is None:
        chat_cmd = cli.get_command(ctx, "chat")
        if chat_cmd is None:
            click.echo("The chat app is not built yet; try `memchat --help`.")
            return
        ctx.invoke(chat_cmd)


def open_store(**kw: Any):
    """The MemoryStore for the current profile, printing tier warnings to stderr once."""
    from memory.store import MemoryStore
    from tui.settings import load_settings

    store = MemoryStore(load_settings(), **kw)
    for w in store.warnings:
        click.echo(f"memchat: warning: {w}", err=True)
    return store


def main(argv: list[str] | None = None) -> None:
    try:
        cli.main(args=argv, prog_name="memchat", standalone_mode=True)
    except KeyboardInterrupt:
        click.echo("interrupted", err=True)
        sys.exit(130)


if __name__ == "__main__":
    main()
