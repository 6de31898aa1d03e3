"""Hook implementations of the smeshing plugin: the ``[smeshing]`` section, its events and services."""

from __future__ import annotations

from typing import Any

import click

from spacemesh_core.config.schema import ConfigError, ConfigField, ConfigSection
from spacemesh_core.kernel.services import ServiceSpec
from spacemesh_hooks import hookimpl

SMESHING_SECTION = ConfigSection(
    "smeshing",
    {
        "start": ConfigField(bool, True, "smesh at start (needs [poet] servers; without any, nothing smeshes)"),
        "coinbase": ConfigField(str, "", "bech32 reward address (default: the wallet of the identity key)"),
        "data_dir": ConfigField(str, "", "folder of the PoST data, one sub-folder per identity (default <data>/post)"),
        "identities": ConfigField(list, ["local"], "identity names (identities/<name>.key) this node smeshes with"),
        "num_units": ConfigField(int, 0, "space units per identity (0: the network minimum)"),
        "max_file_size": ConfigField(int, 0, "largest postdata file in bytes (0: the [post] default)"),
        "provider": ConfigField(str, "", "initializer implementation (empty: the bundle's)"),
        "proving_threads": ConfigField(int, 0, "threads of the proving scan (0: all cores)"),
        "proving_nonces": ConfigField(int, 288, "nonces per proving pass (a multiple of 16)"),
        "poet_poll_interval_s": ConfigField(float, 1.0, "pause between polls for a PoET round's proof"),
        "post_listen": ConfigField(
            str,
            "",
            "tcp://HOST:PORT, the one port where remote post services connect (empty: off; loopback only "
            "unless post_listen_curve)",
        ),
        "post_listen_curve": ConfigField(
            bool,
            False,
            "encrypt and authenticate the post listener with CurveZMQ (key pair <data>/post_listener/listener.key; "
            "services pass its public key, listener.pub, as --node-key); needed for a non-loopback post_listen",
        ),
        "post_service_keys": ConfigField(
            list, [], "Curve public keys (Z85 or hex) of the post services allowed to connect (empty: any key)"
        ),
        "remote_identities": ConfigField(
            list, [], "identity names (identities/<name>.key) whose PoST data a remote `spacemesh post serve` proves"
        ),
        "post_service_timeout_s": ConfigField(
            float, 10.0, "a post service without a heartbeat for this long counts as disconnected"
        ),
        "remote_proof_timeout_s": ConfigField(
            float, 3600.0, "ask a connected post service again after this long without a proof (0: never)"
        ),
    },
    "PoST setup and the ATX builder (smeshing)",
    owner="smeshing",
)


@hookimpl
def spacemesh_config_sections() -> list[ConfigSection]:
    """Contribute the ``[smeshing]`` section."""
    return [SMESHING_SECTION]


@hookimpl
def spacemesh_register_events(events: Any) -> None:
    """Register the smeshing events."""
    from spacemesh_plugins.smeshing.events import SMESHING_EVENTS

    for cls in SMESHING_EVENTS:
        events.register(cls)


def get_service_specs(node: Any) -> list[ServiceSpec]:
    """Return the ATX handler (when the node has state storage), the post listener (when
    ``smeshing.post_listen`` is set) and one smesher per configured identity (when ``smeshing.start``
    is set and PoET servers are configured): local ones for ``identities``, remote ones (proved by
    ``spacemesh post serve``) for ``remote_identities``; a name in both lists is remote. A start or
    stop saved by the API (``<data dir>/smeshing.json``) decides for the local identities instead of
    ``start``, with the options it saved.

    :raises ConfigError: a ``coinbase`` that is not an address of the network, remote identities
        without a post listener, a bad ``post_listen`` (a non-loopback
        one without ``post_listen_curve``), or bad ``post_service_keys``.
    """
    from spacemesh_plugins.smeshing.control import compute_smesher_options, load_smeshing_choice
    from spacemesh_plugins.smeshing.remote import (
        PostListener,
        PostListenerError,
        RemoteSmeshingService,
        parse_post_listen,
        parse_post_service_keys,
    )
    from spacemesh_plugins.smeshing.service import AtxHandlerService, SmeshingService

    if "state_storage" not in node.components:
        return []
    specs = [ServiceSpec("atx-handler", AtxHandlerService)]
    config = node.config
    section = config.smeshing
    if section.coinbase:
        from spacemesh_core.crypto.address import AddressError, parse_address

        try:  # caught at start, not after the PoST data was prepared
            parse_address(section.coinbase, config.network.hrp)
        except AddressError as exc:
            raise ConfigError(
                f"smeshing.coinbase: {section.coinbase!r} is not an address of this network "
                f"({config.network.hrp}1...): {exc}"
            ) from None
    remote = list(dict.fromkeys(section.remote_identities))
    if section.post_service_keys:
        try:
            parse_post_service_keys(section.post_service_keys)
        except PostListenerError as exc:
            raise ConfigError(f"smeshing.{exc}") from None
        if not section.post_listen_curve:
            raise ConfigError("smeshing.post_service_keys needs smeshing.post_listen_curve = true")
    if section.post_listen:
        try:
            parse_post_listen(section.post_listen, curve=section.post_listen_curve)
        except PostListenerError as exc:
            raise ConfigError(f"smeshing.post_listen: {exc}") from None
        specs.append(ServiceSpec("post-listener", PostListener))
    elif remote:
        raise ConfigError("smeshing.remote_identities needs smeshing.post_listen (where post services connect)")
    # the last start/stop through the API or the dashboard wins over ``start`` (as Smapp rewrites
    # the reference node's config): a user who stopped smeshing does not see it start again
    choice = load_smeshing_choice(node.data_dir)
    local = [name for name in dict.fromkeys(section.identities) if name not in remote]
    start_local = choice[0] if choice is not None else bool(section.start and config.poet.servers)
    options = compute_smesher_options(choice[1], local) if choice is not None else {}
    if start_local:
        for name in local:

            def create(node: Any, name: str = str(name)) -> SmeshingService:
                smesher = SmeshingService(node, name)
                if name in options:
                    smesher.set_options(options[name])
                return smesher

            specs.append(ServiceSpec(f"smeshing-{name}", create, depends_on=("atx-handler",)))
    if section.start and config.poet.servers:
        for name in remote:

            def create_remote(node: Any, name: str = str(name)) -> SmeshingService:
                return RemoteSmeshingService(node, name)

            specs.append(ServiceSpec(f"smeshing-{name}", create_remote, depends_on=("atx-handler", "post-listener")))
    return specs


@hookimpl
def spacemesh_node_services(node: Any) -> list[ServiceSpec]:
    """Run the ATX handler and the smeshers of the configured identities."""
    return get_service_specs(node)


@hookimpl
def spacemesh_cli_commands(cli: click.Group) -> None:
    """Add ``serve`` (the remote post service) to the ``post`` group (created here unless another plugin did)."""
    from spacemesh_plugins.smeshing.cli import add_post_commands

    add_post_commands(cli)
