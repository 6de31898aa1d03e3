"""``spacemesh wallet new|import|list|address|sign|send|balance|history`` and ``wallet multisig ...``.

Keys are stored encrypted (see :mod:`.keystore`). Secrets never come from the command line: the
passphrase is read from ``--passphrase-file``, ``$SPACEMESH_WALLET_PASSPHRASE`` or a prompt, and
imported seeds from ``--seed-file`` or standard input. ``send``, ``balance`` and ``history`` talk to
a node's HTTP JSON API (``--node``, v2alpha1 shapes, see ``spacemesh_core.vm.api``).

Multisig (and vesting) workflow: ``multisig build`` writes a partial transaction file, each
co-signer runs ``multisig sign FILE KEY``, then ``multisig combine FILE`` prints the raw
transaction or ``multisig submit FILE --node URL`` sends it.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

import click

from spacemesh_core.codec.scale import ScaleError, encode_compact
from spacemesh_core.crypto.address import (
    MAINNET_HRP,
    TEMPLATE_ADDRESSES,
    WALLET_TEMPLATE_ADDRESS,
    Address,
    AddressError,
    compute_multisig_spawn_args,
    compute_principal,
    compute_vault_spawn_args,
    compute_wallet_principal,
    parse_address,
)
from spacemesh_core.fsutil import write_file_atomic
from spacemesh_core.genesis import MAINNET_GENESIS_ID
from spacemesh_core.types.tx import (
    METHOD_DRAIN_VAULT,
    METHOD_SPAWN,
    METHOD_SPEND,
    WalletSpawnArguments,
    WalletSpendArguments,
    compute_tx_id,
)
from spacemesh_core.vm.transaction import (
    SignaturePart,
    compute_ed25519_signature,
    encode_signature_parts,
    encode_unsigned_transaction,
    is_valid_tx_signature,
    sign_single,
)
from spacemesh_plugins.wallet_cli.keystore import (
    KDF_PRESETS,
    KeystoreError,
    compute_public_key,
    decrypt_seed,
    get_default_wallet_dir,
    list_keys,
    load_key_document,
    save_key,
)
from spacemesh_plugins.wallet_cli.node_client import NodeClient, NodeError

PARTIAL_TX_KIND = "spacemesh-multisig-partial-tx"
PASSPHRASE_ENV = "SPACEMESH_WALLET_PASSPHRASE"


# ---------------------------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------------------------


def _emit(as_json: bool, payload: dict[str, Any], text: str) -> None:
    click.echo(json.dumps(payload, indent=1) if as_json else text)


def _wallet_dir(value: str | None) -> Path:
    return Path(value) if value else get_default_wallet_dir()


def _read_passphrase(passphrase_file: str | None, *, confirm: bool) -> str:
    if passphrase_file:
        try:
            return Path(passphrase_file).read_text(encoding="utf-8").rstrip("\r\n")
        except OSError as exc:
            raise click.ClickException(f"cannot read the passphrase file: {exc}") from None
    from_env = os.environ.get(PASSPHRASE_ENV)
    if from_env:
        return from_env
    return str(click.prompt("Passphrase", hide_input=True, confirmation_prompt=confirm, err=True))


def _parse_hex(value: str, size: int | None, what: str) -> bytes:
    text = value[2:] if value.lower().startswith("0x") else value
    try:
        data = bytes.fromhex(text)
    except ValueError:
        raise click.BadParameter(f"{what} is not hex") from None
    if size is not None and len(data) != size:
        raise click.BadParameter(f"{what} must be {size} bytes, got {len(data)}")
    return data


def _parse_address(text: str, hrp: str) -> bytes:
    try:
        return bytes(parse_address(text, hrp))
    except AddressError as exc:
        raise click.BadParameter(f"invalid address {text!r} ({exc.kind}): {exc}") from None


def _load_seed(wallet_dir: Path, name: str, passphrase_file: str | None) -> bytes:
    try:
        document = load_key_document(wallet_dir, name)
        return decrypt_seed(document, _read_passphrase(passphrase_file, confirm=False))
    except KeystoreError as exc:
        raise click.ClickException(str(exc)) from None


def _get_public_key(wallet_dir: Path, name: str) -> bytes:
    try:
        return bytes.fromhex(load_key_document(wallet_dir, name)["public_key"])
    except (KeystoreError, KeyError, ValueError) as exc:
        raise click.ClickException(f"cannot read key {name!r}: {exc}") from None


def _resolve_address(wallet_dir: Path, name_or_address: str, hrp: str) -> bytes:
    if name_or_address.startswith(f"{hrp}1"):
        return _parse_address(name_or_address, hrp)
    return bytes(compute_wallet_principal(_get_public_key(wallet_dir, name_or_address)))


def _genesis_id(value: str | None) -> bytes:
    return _parse_hex(value, 20, "genesis id") if value else MAINNET_GENESIS_ID


def _tx_output(raw: bytes, hrp: str, principal: bytes) -> dict[str, Any]:
    return {"raw_hex": raw.hex(), "tx_id": compute_tx_id(raw).hex(), "principal": Address(principal).to_string(hrp)}


wallet_dir_option = click.option(
    "--wallet-dir", type=click.Path(file_okay=False), default=None,
    help="where key files live (default $SPACEMESH_WALLET_DIR or ~/.spacemesh/wallet)",
)
passphrase_option = click.option(
    "--passphrase-file", type=click.Path(dir_okay=False), default=None,
    help=f"read the passphrase from this file (else ${PASSPHRASE_ENV}, else a prompt)",
)
hrp_option = click.option("--hrp", default=MAINNET_HRP, show_default=True, help="bech32 network prefix")
json_option = click.option("--json", "as_json", is_flag=True, help="print JSON")
node_option = click.option(
    "--node", default="http://127.0.0.1:9092", show_default=True, help="node HTTP JSON API URL"
)


@click.group("wallet", help="Wallet keys (encrypted), addresses, signing and sending transactions.")
def wallet_group() -> None:
    """The ``wallet`` noun."""


# ---------------------------------------------------------------------------------------------
# keys and addresses
# ---------------------------------------------------------------------------------------------


def _store_new_key(wallet_dir: Path, name: str, seed: bytes, passphrase_file: str | None, kdf: str) -> dict[str, Any]:
    passphrase = _read_passphrase(passphrase_file, confirm=True)
    try:
        return save_key(wallet_dir, name, seed, passphrase, kdf)
    except KeystoreError as exc:
        raise click.ClickException(str(exc)) from None


kdf_option = click.option(
    "--kdf", type=click.Choice(sorted(KDF_PRESETS)), default="moderate", show_default=True,
    help="Argon2id cost preset (min is for tests only)",
)


@wallet_group.command("new")
@click.argument("name")
@wallet_dir_option
@passphrase_option
@kdf_option
@hrp_option
@json_option
def new_command(
    name: str, wallet_dir: str | None, passphrase_file: str | None, kdf: str, hrp: str, as_json: bool
) -> None:
    """Create key NAME (random ed25519 seed), stored encrypted under a passphrase."""
    document = _store_new_key(_wallet_dir(wallet_dir), name, os.urandom(32), passphrase_file, kdf)
    public_key = bytes.fromhex(document["public_key"])
    address = compute_wallet_principal(public_key).to_string(hrp)
    _emit(as_json, {"name": name, "public_key": public_key.hex(), "address": address}, f"{name}: {address}")


@wallet_group.command("import")
@click.argument("name")
@click.option("--seed-file", type=click.Path(dir_okay=False), default=None,
              help="file holding the 32-byte seed (or 64-byte private key) in hex; default: stdin")
@wallet_dir_option
@passphrase_option
@kdf_option
@hrp_option
@json_option
def import_command(
    name: str, seed_file: str | None, wallet_dir: str | None, passphrase_file: str | None, kdf: str, hrp: str,
    as_json: bool,
) -> None:
    """Import an existing key as NAME (hex seed or private key from --seed-file or stdin)."""
    text = Path(seed_file).read_text(encoding="utf-8") if seed_file else sys.stdin.readline()
    secret = _parse_hex(text.strip(), None, "secret key")
    if len(secret) == 64:
        seed = secret[:32]
        if compute_public_key(seed) != secret[32:]:
            raise click.ClickException("the private key's public half does not match its seed")
    elif len(secret) == 32:
        seed = secret
    else:
        raise click.ClickException("expected a 32-byte seed or a 64-byte private key in hex")
    document = _store_new_key(_wallet_dir(wallet_dir), name, seed, passphrase_file, kdf)
    address = compute_wallet_principal(bytes.fromhex(document["public_key"])).to_string(hrp)
    _emit(as_json, {"name": name, "public_key": document["public_key"], "address": address}, f"{name}: {address}")


@wallet_group.command("list")
@wallet_dir_option
@hrp_option
@json_option
def list_command(wallet_dir: str | None, hrp: str, as_json: bool) -> None:
    """List the stored keys with their wallet addresses."""
    rows = [
        {
            "name": document.get("name", ""),
            "public_key": document["public_key"],
            "address": compute_wallet_principal(bytes.fromhex(document["public_key"])).to_string(hrp),
        }
        for document in list_keys(_wallet_dir(wallet_dir))
    ]
    text = "\n".join(f"{row['name']}: {row['address']}" for row in rows) or "(no keys)"
    click.echo(json.dumps(rows, indent=1) if as_json else text)


@wallet_group.command("address")
@click.argument("name", required=False)
@click.option("--public-key", "public_keys", multiple=True, help="public key hex (repeat for multisig/vesting)")
@click.option("--required", type=int, default=None, help="signatures required (multisig/vesting)")
@click.option("--template", type=click.Choice(["wallet", "multisig", "vesting"]), default=None,
              help="template (default: wallet for one key without --required, else multisig)")
@wallet_dir_option
@hrp_option
@json_option
def address_command(
    name: str | None, public_keys: tuple[str, ...], required: int | None, template: str | None,
    wallet_dir: str | None, hrp: str, as_json: bool,
) -> None:
    """Print the address of key NAME, or of --public-key(s) under a template."""
    keys = [_parse_hex(key, 32, "public key") for key in public_keys]
    if name:
        keys.insert(0, _get_public_key(_wallet_dir(wallet_dir), name))
    if not keys:
        raise click.UsageError("give a key NAME or --public-key")
    chosen = template or ("wallet" if len(keys) == 1 and required is None else "multisig")
    if chosen == "wallet":
        if len(keys) != 1 or required is not None:
            raise click.UsageError("a wallet address takes exactly one key and no --required")
        address = compute_wallet_principal(keys[0])
    else:
        try:
            args = compute_multisig_spawn_args(required if required is not None else len(keys), keys)
        except ValueError as exc:
            raise click.UsageError(str(exc)) from None
        address = compute_principal(TEMPLATE_ADDRESSES[chosen], args)
    text = address.to_string(hrp)
    _emit(
        as_json,
        {"address": text, "address_hex": bytes(address).hex(), "template": chosen,
         "template_address": TEMPLATE_ADDRESSES[chosen].to_string(hrp),
         "public_keys": [key.hex() for key in keys], "hrp": hrp},
        text,
    )


# ---------------------------------------------------------------------------------------------
# single-key transactions
# ---------------------------------------------------------------------------------------------


def _build_wallet_tx(seed: bytes, genesis_id: bytes, spawn: bool, to: bytes | None, amount: int | None,
                     nonce: int, gas_price: int) -> tuple[bytes, bytes]:
    public_key = compute_public_key(seed)
    principal = bytes(compute_wallet_principal(public_key))
    try:
        if spawn:
            unsigned = encode_unsigned_transaction(
                principal, METHOD_SPAWN, nonce, gas_price, WalletSpawnArguments(public_key), WALLET_TEMPLATE_ADDRESS
            )
        else:
            if to is None or amount is None:
                raise click.UsageError("a spend needs --to and --amount (or use --spawn)")
            unsigned = encode_unsigned_transaction(
                principal, METHOD_SPEND, nonce, gas_price, WalletSpendArguments(to, amount)
            )
    except (ScaleError, ValueError) as exc:
        raise click.ClickException(f"cannot build the transaction: {exc}") from None
    return sign_single(unsigned, seed, genesis_id), principal


@wallet_group.command("sign")
@click.argument("name")
@click.option("--spawn", is_flag=True, help="self-spawn the wallet instead of a spend")
@click.option("--to", default=None, help="destination address")
@click.option("--amount", type=click.IntRange(min=0), default=None, help="amount in smidge")
@click.option("--nonce", type=click.IntRange(min=0), required=True)
@click.option("--gas-price", type=click.IntRange(min=1), default=1, show_default=True)
@click.option("--genesis-id", default=None, help="20-byte genesis id hex (default: mainnet)")
@wallet_dir_option
@passphrase_option
@hrp_option
@json_option
def sign_command(
    name: str, spawn: bool, to: str | None, amount: int | None, nonce: int, gas_price: int, genesis_id: str | None,
    wallet_dir: str | None, passphrase_file: str | None, hrp: str, as_json: bool,
) -> None:
    """Build and sign a wallet spend (or --spawn) offline; print the raw transaction."""
    destination = _parse_address(to, hrp) if to else None
    seed = _load_seed(_wallet_dir(wallet_dir), name, passphrase_file)
    raw, principal = _build_wallet_tx(seed, _genesis_id(genesis_id), spawn, destination, amount, nonce, gas_price)
    _emit(as_json, _tx_output(raw, hrp, principal), raw.hex())


@wallet_group.command("send")
@click.argument("name")
@click.option("--spawn", is_flag=True, help="self-spawn the wallet (needed once before the first spend)")
@click.option("--to", default=None, help="destination address")
@click.option("--amount", type=click.IntRange(min=0), default=None, help="amount in smidge")
@click.option("--nonce", type=click.IntRange(min=0), default=None, help="default: the node's projected nonce")
@click.option("--gas-price", type=click.IntRange(min=1), default=1, show_default=True)
@node_option
@wallet_dir_option
@passphrase_option
@json_option
def send_command(
    name: str, spawn: bool, to: str | None, amount: int | None, nonce: int | None, gas_price: int, node: str,
    wallet_dir: str | None, passphrase_file: str | None, as_json: bool,
) -> None:
    """Sign a spend (or --spawn) from key NAME and submit it to the node."""
    client = NodeClient(node)
    try:
        info = client.get_network_info()
        hrp = str(info.get("hrp", MAINNET_HRP))
        genesis_id = client.get_genesis_id()
        destination = _parse_address(to, hrp) if to else None
        directory = _wallet_dir(wallet_dir)
        principal = compute_wallet_principal(_get_public_key(directory, name))
        if nonce is None:
            nonce = int(client.get_account(principal.to_string(hrp))["stateProjected"]["counter"])
        seed = _load_seed(directory, name, passphrase_file)
        raw, _ = _build_wallet_tx(seed, genesis_id, spawn, destination, amount, nonce, gas_price)
        tx_id = client.submit(raw)
    except NodeError as exc:
        raise click.ClickException(str(exc)) from None
    _emit(as_json, {**_tx_output(raw, hrp, bytes(principal)), "submitted": True, "nonce": nonce},
          f"submitted {tx_id.hex()} (nonce {nonce})")


@wallet_group.command("balance")
@click.argument("name_or_address")
@node_option
@wallet_dir_option
@json_option
def balance_command(name_or_address: str, node: str, wallet_dir: str | None, as_json: bool) -> None:
    """Show the current and projected balance and nonce of a key's wallet or an address."""
    client = NodeClient(node)
    try:
        hrp = str(client.get_network_info().get("hrp", MAINNET_HRP))
        address = Address(_resolve_address(_wallet_dir(wallet_dir), name_or_address, hrp)).to_string(hrp)
        account = client.get_account(address)
    except NodeError as exc:
        raise click.ClickException(str(exc)) from None
    current, projected = account["stateCurrent"], account["stateProjected"]
    payload = {
        "address": address,
        "balance": int(current["balance"]),
        "nonce": int(current["counter"]),
        "layer": int(current.get("layer", 0)),
        "projected_balance": int(projected["balance"]),
        "projected_nonce": int(projected["counter"]),
    }
    _emit(as_json, payload, f"{address}: {payload['balance']} smidge (nonce {payload['nonce']}, "
          f"projected {payload['projected_balance']} / {payload['projected_nonce']})")


@wallet_group.command("history")
@click.argument("name_or_address")
@click.option("--limit", type=click.IntRange(1, 1000), default=100, show_default=True)
@node_option
@wallet_dir_option
@json_option
def history_command(name_or_address: str, limit: int, node: str, wallet_dir: str | None, as_json: bool) -> None:
    """List the transactions touching a key's wallet or an address (executed, then pending)."""
    client = NodeClient(node)
    try:
        hrp = str(client.get_network_info().get("hrp", MAINNET_HRP))
        address = Address(_resolve_address(_wallet_dir(wallet_dir), name_or_address, hrp)).to_string(hrp)
        answer = client.list_transactions(address, limit=limit)
    except NodeError as exc:
        raise click.ClickException(str(exc)) from None
    rows = []
    for item in answer.get("transactions", []):
        tx, result = item["tx"], item.get("txResult")
        rows.append({
            "tx_id": tx["id"], "principal": tx["principal"], "method": tx["method"],
            "nonce": int(tx["nonce"]["counter"]), "state": item.get("txState", ""),
            "status": result["status"] if result else None, "layer": result["layer"] if result else None,
            "fee": int(result["fee"]) if result else None, "contents": tx.get("contents", {}),
        })
    if as_json:
        click.echo(json.dumps({"address": address, "transactions": rows, "total": answer.get("total", len(rows))},
                              indent=1))
        return
    if not rows:
        click.echo(f"{address}: no transactions")
    for row in rows:
        where = f"layer {row['layer']} {row['status']}" if row["layer"] is not None else row["state"]
        click.echo(f"{row['tx_id']} nonce {row['nonce']} method {row['method']} {where}")


# ---------------------------------------------------------------------------------------------
# multisig / vesting workflow
# ---------------------------------------------------------------------------------------------


@wallet_group.group("multisig", help="Build, co-sign, combine and submit multisig / vesting transactions.")
def multisig_group() -> None:
    """The ``wallet multisig`` sub-noun."""


def _load_partial(path: str) -> dict[str, Any]:
    try:
        document = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise click.ClickException(f"cannot read partial transaction {path}: {exc}") from None
    if not isinstance(document, dict) or document.get("kind") != PARTIAL_TX_KIND:
        raise click.ClickException(f"{path} is not a partial multisig transaction file")
    return document


def _save_partial(path: str, document: dict[str, Any]) -> None:
    write_file_atomic(path, json.dumps(document, indent=1).encode())


@multisig_group.command("build")
@click.option("--template", type=click.Choice(["multisig", "vesting"]), default="multisig", show_default=True)
@click.option("--required", type=click.IntRange(1, 10), required=True, help="signatures required")
@click.option("--public-key", "public_keys", multiple=True, required=True, help="member key hex, in order")
@click.option("--method", type=click.Choice(["spawn", "spend", "drain-vault", "spawn-vault"]), required=True)
@click.option("--to", default=None, help="destination (spend, drain-vault)")
@click.option("--amount", type=click.IntRange(min=0), default=None, help="smidge (spend, drain-vault)")
@click.option("--vault", default=None, help="vault address (drain-vault)")
@click.option("--vault-total", type=click.IntRange(min=0), default=None, help="vault total amount (spawn-vault)")
@click.option("--vault-initial", type=click.IntRange(min=0), default=0, help="vault initial unlock (spawn-vault)")
@click.option("--vault-start", type=click.IntRange(min=0), default=None, help="vesting start layer (spawn-vault)")
@click.option("--vault-end", type=click.IntRange(min=0), default=None, help="vesting end layer (spawn-vault)")
@click.option("--nonce", type=click.IntRange(min=0), required=True)
@click.option("--gas-price", type=click.IntRange(min=1), default=1, show_default=True)
@click.option("--genesis-id", default=None, help="20-byte genesis id hex (default: mainnet)")
@click.option("--out", "out_path", type=click.Path(dir_okay=False), required=True, help="partial tx file to write")
@hrp_option
@json_option
def multisig_build_command(
    template: str, required: int, public_keys: tuple[str, ...], method: str, to: str | None, amount: int | None,
    vault: str | None, vault_total: int | None, vault_initial: int, vault_start: int | None, vault_end: int | None,
    nonce: int, gas_price: int, genesis_id: str | None, out_path: str, hrp: str, as_json: bool,
) -> None:
    """Build an unsigned multisig/vesting transaction into a partial file for co-signers."""
    keys = [_parse_hex(key, 32, "public key") for key in public_keys]
    try:
        spawn_args = compute_multisig_spawn_args(required, keys)
    except ValueError as exc:
        raise click.UsageError(str(exc)) from None
    template_address = TEMPLATE_ADDRESSES[template]
    principal = bytes(compute_principal(template_address, spawn_args))
    try:
        if method == "spawn":
            unsigned = encode_unsigned_transaction(principal, METHOD_SPAWN, nonce, gas_price, spawn_args,
                                                   template_address)
        elif method == "spend":
            if to is None or amount is None:
                raise click.UsageError("spend needs --to and --amount")
            unsigned = encode_unsigned_transaction(
                principal, METHOD_SPEND, nonce, gas_price, WalletSpendArguments(_parse_address(to, hrp), amount)
            )
        elif method == "drain-vault":
            if template != "vesting" or vault is None or to is None or amount is None:
                raise click.UsageError("drain-vault needs --template vesting, --vault, --to and --amount")
            args = _parse_address(vault, hrp) + _parse_address(to, hrp) + encode_compact(amount, 64)
            unsigned = encode_unsigned_transaction(principal, METHOD_DRAIN_VAULT, nonce, gas_price, args)
        else:
            if template != "vesting" or None in (vault_total, vault_start, vault_end):
                raise click.UsageError(
                    "spawn-vault needs --template vesting, --vault-total, --vault-start, --vault-end"
                )
            assert vault_total is not None and vault_start is not None and vault_end is not None
            args = compute_vault_spawn_args(principal, vault_total, vault_initial, vault_start, vault_end)
            unsigned = encode_unsigned_transaction(
                principal, METHOD_SPAWN, nonce, gas_price, args, TEMPLATE_ADDRESSES["vault"]
            )
    except (ScaleError, ValueError) as exc:
        raise click.ClickException(f"cannot build the transaction: {exc}") from None
    document = {
        "kind": PARTIAL_TX_KIND,
        "template": template,
        "required": required,
        "public_keys": [key.hex() for key in keys],
        "principal": Address(principal).to_string(hrp),
        "genesis_id": _genesis_id(genesis_id).hex(),
        "method": method,
        "unsigned_hex": unsigned.hex(),
        "parts": {},
    }
    _save_partial(out_path, document)
    _emit(as_json, {"file": out_path, "principal": document["principal"], "unsigned_hex": unsigned.hex()},
          f"wrote {out_path}: {method} from {document['principal']}, needs {required} signature(s)")


@multisig_group.command("sign")
@click.argument("partial_file", type=click.Path(dir_okay=False, exists=True))
@click.argument("name")
@wallet_dir_option
@passphrase_option
@json_option
def multisig_sign_command(partial_file: str, name: str, wallet_dir: str | None, passphrase_file: str | None,
                          as_json: bool) -> None:
    """Co-sign PARTIAL_FILE with key NAME (which must be one of its members)."""
    document = _load_partial(partial_file)
    seed = _load_seed(_wallet_dir(wallet_dir), name, passphrase_file)
    public_key = compute_public_key(seed).hex()
    if public_key not in document["public_keys"]:
        raise click.ClickException(f"key {name!r} is not a member of this multisig")
    ref = document["public_keys"].index(public_key)
    unsigned = bytes.fromhex(document["unsigned_hex"])
    signature = compute_ed25519_signature(seed, bytes.fromhex(document["genesis_id"]), unsigned)
    document["parts"][str(ref)] = signature.hex()
    _save_partial(partial_file, document)
    count = len(document["parts"])
    _emit(as_json, {"file": partial_file, "ref": ref, "signatures": count, "required": document["required"]},
          f"signed as member {ref}: {count} of {document['required']} signature(s)")


def _combine(document: dict[str, Any]) -> bytes:
    unsigned = bytes.fromhex(document["unsigned_hex"])
    genesis_id = bytes.fromhex(document["genesis_id"])
    keys = [bytes.fromhex(key) for key in document["public_keys"]]
    parts = []
    for ref_text, sig_hex in sorted(document["parts"].items(), key=lambda item: int(item[0])):
        ref, sig = int(ref_text), bytes.fromhex(sig_hex)
        if not 0 <= ref < len(keys) or not is_valid_tx_signature(keys[ref], genesis_id, unsigned, sig):
            raise click.ClickException(f"signature of member {ref} does not verify")
        parts.append(SignaturePart(ref, sig))
    required = int(document["required"])
    if len(parts) < required:
        raise click.ClickException(f"{len(parts)} of {required} required signature(s) present")
    return unsigned + encode_signature_parts(parts[:required])


@multisig_group.command("combine")
@click.argument("partial_file", type=click.Path(dir_okay=False, exists=True))
@json_option
def multisig_combine_command(partial_file: str, as_json: bool) -> None:
    """Print the raw transaction once enough members signed PARTIAL_FILE."""
    document = _load_partial(partial_file)
    raw = _combine(document)
    hrp = document["principal"].split("1", 1)[0]
    _emit(as_json, _tx_output(raw, hrp, bytes(parse_address(document["principal"], hrp))), raw.hex())


@multisig_group.command("submit")
@click.argument("partial_file", type=click.Path(dir_okay=False, exists=True))
@node_option
@json_option
def multisig_submit_command(partial_file: str, node: str, as_json: bool) -> None:
    """Combine PARTIAL_FILE and submit it to the node."""
    document = _load_partial(partial_file)
    raw = _combine(document)
    try:
        tx_id = NodeClient(node).submit(raw)
    except NodeError as exc:
        raise click.ClickException(str(exc)) from None
    _emit(as_json, {"tx_id": tx_id.hex(), "raw_hex": raw.hex(), "submitted": True}, f"submitted {tx_id.hex()}")
