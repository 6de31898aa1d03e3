"""The ``spacemesh`` command line: ``spacemesh <noun> <verb>``; plugins add nouns through a hook.

Errors are reported as one clear line on stderr with a non-zero exit code.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
import sys
from importlib.metadata import PackageNotFoundError, version
from typing import Any

import click
from rich.console import Console
from rich.table import Table

from spacemesh_core.config import Config, ConfigError, build_config, save_config
from spacemesh_core.config.presets import PRESETS
from spacemesh_core.kernel.plugins import PluginLoadError, PluginManager, load_plugin_manager
from spacemesh_core.kernel.registry import RegistrationError, UnknownNameError

#: errors that are the user's to fix: printed as one line, exit code 2
USER_ERRORS = (ConfigError, PluginLoadError, UnknownNameError, RegistrationError)


def get_version() -> str:
    """Return the installed version of the ``spacemesh`` distribution."""
    try:
        return version("spacemesh")
    except PackageNotFoundError:  # running from a source tree that is not installed
        return "0+unknown"


class PluginAwareGroup(click.Group):
    """The root group: on first use it loads the plugins and lets them add their commands."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.plugin_manager: PluginManager | None = None
        self._builtin_commands: dict[str, click.Command] | None = None

    def use_plugin_manager(self, manager: PluginManager | None) -> None:
        """Rebuild the plugin commands from ``manager`` (None: load installed plugins on next use)."""
        if self._builtin_commands is None:
            self._builtin_commands = dict(self.commands)
        self.commands = dict(self._builtin_commands)
        self.plugin_manager = manager
        if manager is not None:
            manager.add_cli_commands(self)

    def get_plugin_manager(self) -> PluginManager:
        """Return the plugin manager, loading the installed plugins on first call."""
        if self.plugin_manager is None:
            self.use_plugin_manager(load_plugin_manager())
        assert self.plugin_manager is not None
        return self.plugin_manager

    def add_command(self, cmd: click.Command, name: str | None = None) -> None:
        """Add ``cmd``; a second, different command under a taken name is an error."""
        name = name or cmd.name
        existing = self.commands.get(name or "")
        if existing is not None and existing is not cmd and self._builtin_commands is not None:
            raise RegistrationError(f"CLI command {name!r} is added twice")
        super().add_command(cmd, name)

    def list_commands(self, ctx: click.Context) -> list[str]:
        self.get_plugin_manager()
        return super().list_commands(ctx)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        self.get_plugin_manager()
        return super().get_command(ctx, cmd_name)


def get_plugins(ctx: click.Context) -> PluginManager:
    """Return the plugin manager of this invocation."""
    root = ctx.find_root().command
    if isinstance(root, PluginAwareGroup):
        return root.get_plugin_manager()
    return load_plugin_manager()


def load_config(
    ctx: click.Context, preset: str | None, config_file: str | None, overrides: tuple[str, ...]
) -> Config:
    """Build the configuration for a command from its ``--preset``, ``--config`` and ``--set`` options."""
    return build_config(get_plugins(ctx).get_config_schema(), preset=preset, file=config_file, flags=overrides)


def config_options(func: Any) -> Any:
    """Decorate a command with ``--preset``, ``--config`` and ``--set`` options."""
    func = click.option(
        "--set",
        "overrides",
        multiple=True,
        metavar="SECTION.KEY=VALUE",
        help="Override one config key (repeatable).",
    )(func)
    func = click.option("--config", "config_file", type=click.Path(dir_okay=False), help="TOML config file.")(func)
    return click.option("--preset", type=click.Choice(sorted(PRESETS)), help="Parameter preset.")(func)


@click.group(name="spacemesh", cls=PluginAwareGroup)
@click.version_option(get_version(), prog_name="spacemesh")
def cli() -> None:
    """A Spacemesh node built from plugins: smesh with your free disk space."""


assert isinstance(cli, PluginAwareGroup)


# -- plugins ---------------------------------------------------------------------------------


@cli.group(name="plugins")
def plugins_group() -> None:
    """Inspect the loaded plugins."""


@plugins_group.command(name="list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def plugins_list(ctx: click.Context, as_json: bool) -> None:
    """List loaded plugins: name, categories, distribution and version."""
    infos = get_plugins(ctx).get_plugin_infos()
    if as_json:
        rows = [
            {
                "name": i.name,
                "categories": list(i.categories),
                "implementations": list(i.implementations),
                "distribution": i.distribution,
                "version": i.version,
                "module": i.module,
                "hooks": list(i.hooks),
            }
            for i in infos
        ]
        click.echo(json.dumps(rows, indent=2))
        return
    table = Table("plugin", "categories", "implementations", "distribution", "version")
    for i in infos:
        table.add_row(i.name, ", ".join(i.categories) or "-", ", ".join(i.implementations) or "-",
                      i.distribution, i.version)
    Console().print(table)


# -- config ----------------------------------------------------------------------------------


@cli.group(name="config")
def config_group() -> None:
    """Show and save the configuration."""


@config_group.command(name="show")
@config_options
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.option("--sources", is_flag=True, help="Also say which layer set each value.")
@click.pass_context
def config_show(
    ctx: click.Context,
    preset: str | None,
    config_file: str | None,
    overrides: tuple[str, ...],
    as_json: bool,
    sources: bool,
) -> None:
    """Print the effective configuration (preset < file < --set flags < environment)."""
    config = load_config(ctx, preset, config_file, overrides)
    if as_json:
        payload: dict[str, Any] = {"preset": config.preset, "config": config.to_dict()}
        if sources:
            payload["sources"] = config.sources
        click.echo(json.dumps(payload, indent=2))
        return
    schema = get_plugins(ctx).get_config_schema()
    click.echo(f"# preset: {config.preset}")
    for name, section in config.to_dict().items():
        click.echo(f"\n[{name}]  # {schema.sections[name].doc}")
        for key, value in section.items():
            origin = f"  ({config.sources[f'{name}.{key}']})" if sources else ""
            click.echo(f"{key} = {json.dumps(value)}{origin}")


@config_group.command(name="save")
@config_options
@click.argument("path", type=click.Path(dir_okay=False))
@click.pass_context
def config_save(
    ctx: click.Context, preset: str | None, config_file: str | None, overrides: tuple[str, ...], path: str
) -> None:
    """Write the effective configuration to PATH as TOML (atomically)."""
    save_config(path, load_config(ctx, preset, config_file, overrides))
    click.echo(f"saved {path}")


# -- node ------------------------------------------------------------------------------------


@cli.command(name="node")
@config_options
@click.option("--layers", type=click.IntRange(min=1), help="Stop after this many layer ticks.")
@click.pass_context
def node_command(
    ctx: click.Context, preset: str | None, config_file: str | None, overrides: tuple[str, ...], layers: int | None
) -> None:
    """Run a node until Ctrl-C (or --layers ticks)."""
    from spacemesh_core.node import Node

    config = load_config(ctx, preset, config_file, overrides)
    node = Node(config, get_plugins(ctx))
    asyncio.run(_run_node(node, layers))


async def _run_node(node: Any, layers: int | None) -> None:
    from spacemesh_core.kernel_events import LayerTicked

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await node.start()
    click.echo(
        f"node running: bundle {node.config.node.bundle}, preset {node.config.preset}, "
        f"components {', '.join(f'{c}={i.name}' for c, i in node.components.items()) or 'none'}"
    )
    sub = await node.bus.subscribe([LayerTicked])
    ticks = 0

    async def watch() -> None:
        nonlocal ticks
        while True:
            evt = await sub.get()
            ticks += 1
            click.echo(f"layer {evt.layer} (epoch {evt.epoch})")
            if layers is not None and ticks >= layers:
                stop.set()

    watcher = asyncio.create_task(watch())
    try:
        await stop.wait()
    finally:
        watcher.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await watcher
        sub.close()
        unclean = await node.stop()
        if unclean:
            click.echo(f"services that did not stop cleanly: {', '.join(unclean)}", err=True)


def main(argv: list[str] | None = None) -> None:
    """Console-script entry point: load plugins, add their commands, run; one-line errors."""
    try:
        cli.get_plugin_manager()  # load plugins first so a broken plugin is reported as one line
        result = cli.main(args=argv, prog_name="spacemesh", standalone_mode=False)
        if isinstance(result, int) and not isinstance(result, bool):
            sys.exit(result)  # a command that called ctx.exit(code)
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        sys.exit(130)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except USER_ERRORS as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(2)
    except SystemExit:
        raise
    except Exception as exc:  # one clear line instead of a traceback; details with SPACEMESH_DEBUG=1
        import os

        if os.environ.get("SPACEMESH_DEBUG"):
            raise
        click.echo(f"error: {type(exc).__name__}: {exc}", err=True)
        sys.exit(1)
