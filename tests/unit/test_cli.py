"""The command-line root: version, plugins list, config show/save, one-line errors."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import click
from click.testing import CliRunner

from spacemesh_core.cli import cli, get_version
from spacemesh_core.kernel.plugins import PluginManager, load_plugin_manager


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", "from spacemesh_core.cli import main; main()", *args],
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_version() -> None:
    result = CliRunner().invoke(cli, ["--version"])
    assert result.exit_code == 0 and get_version() in result.output


def test_plugins_list_json_names_builtin_plugins() -> None:
    result = CliRunner().invoke(cli, ["plugins", "list", "--json"])
    assert result.exit_code == 0, result.output
    rows = {row["name"]: row for row in json.loads(result.output)}
    assert rows["bundles_builtin"]["distribution"] == "spacemesh"
    assert set(rows["bundles_builtin"]) >= {"name", "categories", "distribution", "version"}


def test_config_show_json_and_sources() -> None:
    result = CliRunner().invoke(cli, ["config", "show", "--preset", "devnet", "--json", "--sources",
                                      "--set", "hare.committee=9"])
    assert result.exit_code == 0, result.output
    payload = json.loads(result.output)
    assert payload["preset"] == "devnet"
    assert payload["config"]["hare"]["committee"] == 9
    assert payload["sources"]["hare.committee"] == "command line"
    text = CliRunner().invoke(cli, ["config", "show"])
    assert "[network]" in text.output and 'hrp = "sm"' in text.output


def test_config_save_then_show_from_file(tmp_path: Path) -> None:
    path = tmp_path / "node.toml"
    saved = CliRunner().invoke(cli, ["config", "save", "--preset", "testnet", str(path)])
    assert saved.exit_code == 0, saved.output
    shown = CliRunner().invoke(cli, ["config", "show", "--config", str(path), "--json"])
    assert json.loads(shown.output)["config"]["network"]["hrp"] == "stest"


def test_errors_are_one_line_with_nonzero_exit() -> None:
    unknown_key = run("config", "show", "--set", "network.nope=1")
    assert unknown_key.returncode == 2
    assert unknown_key.stderr.strip().splitlines() == [
        unknown_key.stderr.strip()
    ] and "unknown config key network.nope" in unknown_key.stderr
    bad_preset = run("config", "show", "--preset", "moon")
    assert bad_preset.returncode != 0 and "moon" in bad_preset.stderr and "Traceback" not in bad_preset.stderr


def test_plugins_add_commands_through_the_hook() -> None:
    import types

    from spacemesh_hooks import hookimpl

    plugin = types.ModuleType("greeter")

    @hookimpl
    def spacemesh_cli_commands(cli: click.Group) -> None:
        @click.command("greet")
        def greet() -> None:
            click.echo("hello from a plugin")

        cli.add_command(greet)

    plugin.spacemesh_cli_commands = spacemesh_cli_commands  # type: ignore[attr-defined]
    manager = PluginManager(environ={})
    manager.register(plugin, "greeter")
    try:
        cli.use_plugin_manager(manager)
        result = CliRunner().invoke(cli, ["greet"])
        assert result.exit_code == 0 and result.output == "hello from a plugin\n"
    finally:
        cli.use_plugin_manager(load_plugin_manager())
    assert "greet" not in cli.commands


def test_a_command_exit_code_reaches_the_shell() -> None:
    script = (
        "import click, types, sys\n"
        "from spacemesh_core.cli import cli, main\n"
        "from spacemesh_core.kernel.plugins import load_plugin_manager\n"
        "from spacemesh_hooks import hookimpl\n"
        "mod = types.ModuleType('exiter')\n"
        "@hookimpl\n"
        "def spacemesh_cli_commands(cli):\n"
        "    @click.command('fail')\n"
        "    @click.pass_context\n"
        "    def fail(ctx):\n"
        "        ctx.exit(3)\n"
        "    cli.add_command(fail)\n"
        "mod.spacemesh_cli_commands = spacemesh_cli_commands\n"
        "pm = load_plugin_manager()\n"
        "pm.register(mod, 'exiter')\n"
        "cli.use_plugin_manager(pm)\n"
        "main(['fail'])\n"
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert result.returncode == 3, result.stderr
