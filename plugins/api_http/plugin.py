"""Registers the HTTP API (category ``api``, default): config sections ``[api]`` and ``[logging]``,
the node services ``logging`` and ``api``, and ``spacemesh api token | routes``."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import click

from spacemesh_core.config import ConfigSection
from spacemesh_core.config.schema import ConfigField
from spacemesh_core.kernel.services import ServiceSpec
from spacemesh_hooks import hookimpl
from spacemesh_plugins.api_http.logs import LOGGING_SECTION, LoggingSetup

if TYPE_CHECKING:
    from spacemesh_core.kernel.registry import Registries

API_SECTION = ConfigSection(
    "api",
    {
        "public_listener": ConfigField(str, "127.0.0.1:9092", "host:port of the public JSON API (0.0.0.0 exposes it)"),
        "private_listener": ConfigField(
            str, "127.0.0.1:9093", "host:port of the private API and dashboard; off loopback a token is required"
        ),
        "public_enabled": ConfigField(bool, True, "serve the public listener"),
        "max_body_bytes": ConfigField(int, 256 * 1024, "largest request body accepted"),
        "events_queue": ConfigField(int, 1000, "telemetry events queued per event-stream client before drops"),
    },
    "the node's HTTP API, event stream, metrics and dashboard",
    owner="api_http",
)


def create_api_service(node: Any) -> Any:
    """Build the API service of ``node``."""
    from spacemesh_plugins.api_http.server import ApiService

    return ApiService(node)


@hookimpl
def spacemesh_register_implementations(registries: Registries) -> None:
    """Register ``api:http`` (the default)."""
    registries.register(
        "api",
        "http",
        create_api_service,
        description="HTTP JSON API (v2alpha1 shape), event stream, Prometheus metrics and dashboard",
        default=True,
    )


@hookimpl
def spacemesh_config_sections() -> list[ConfigSection]:
    """Contribute ``[api]`` and ``[logging]``."""
    return [API_SECTION, LOGGING_SECTION]


@hookimpl
def spacemesh_node_services(node: Any) -> list[ServiceSpec]:
    """Run the logging setup first, and the API when the bundle's ``api`` implementation is this one."""
    specs = [ServiceSpec("logging", lambda n: LoggingSetup(n.config["logging"]))]
    item = node.components.get("api")
    if item is not None and item.factory is create_api_service:
        specs.append(ServiceSpec("api", item.factory, depends_on=("clock",), stop_timeout_s=10.0))
    return specs


@click.group("api", help="The node's HTTP API: token, routes.")
def api_group() -> None:
    """The node's HTTP API."""


def _config_options(func: Any) -> Any:
    from spacemesh_core.cli import config_options

    decorated: Any = config_options(func)
    return decorated


@api_group.command("token")
@_config_options
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def token_command(ctx: click.Context, preset: str | None, config_file: str | None, overrides: tuple[str, ...],
                  as_json: bool) -> None:
    """Print the private API token of the node's data folder (created if missing)."""
    from pathlib import Path

    from spacemesh_core.cli import load_config
    from spacemesh_plugins.api_http.server import TOKEN_FILE, load_or_create_token

    config = load_config(ctx, preset, config_file, overrides)
    data_dir = Path(config.node.data_dir).expanduser()
    token = load_or_create_token(data_dir)
    if as_json:
        click.echo(json.dumps({"token": token, "file": str(data_dir / TOKEN_FILE)}))
    else:
        click.echo(token)


@api_group.command("routes")
@click.option("--json", "as_json", is_flag=True, help="Print the OpenAPI document.")
def routes_command(as_json: bool) -> None:
    """List the API routes (method, path, access, summary) or print the OpenAPI document."""
    from spacemesh_core.cli import get_version
    from spacemesh_plugins.api_http.openapi import compute_openapi_document
    from spacemesh_plugins.api_http.server import get_all_routes

    routes = get_all_routes()
    if as_json:
        click.echo(json.dumps(compute_openapi_document(routes, get_version()), indent=2))
        return
    for route in routes:
        click.echo(f"{route.method:5} {route.path:60} {route.access:8} {route.summary}")


@hookimpl
def spacemesh_cli_commands(cli: click.Group) -> None:
    """Add ``spacemesh api token | routes``."""
    cli.add_command(api_group)
