"""The account-template interface: what a built-in or third-party template implements.

A template is a stateless object registered under a 24-byte template address (category
``account_template``). Accounts spawned from it keep a template *state* (a SCALE attrs object,
stored as bytes in the account). The VM drives a template through these calls, mirroring
go-spacemesh's ``core.Handler`` + ``core.Template`` pair (protocol.md §8.5):

========================  ===================================================================
``methods``               selector -> :class:`MethodSchema` (name and SCALE arguments class)
``parse_payload``         read the payload (nonce, gas price) after the method selector
``create_state``          the state of a new account from its spawn arguments (``New``)
``load_state`` /          state bytes <-> state object (``Load`` / ``EncodeScale``)
``encode_state``
``get_max_spend``         most coins a call can move (the mempool's balance projection)
``get_base_gas`` /        gas of the method: intrinsic, loading the principal, executing
``get_load_gas`` /
``get_exec_gas``
``verify``                check the signature(s) that follow the arguments
``execute``               run the method against a :class:`Host`
========================  ===================================================================

``execute`` raises an :class:`ExecutionError` to fail a transaction: the fee stays consumed and
the nonce advances, every other change of the call is discarded. Any other exception is a bug
and aborts the whole layer.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any, ClassVar, Protocol

import attrs

from spacemesh_core.codec.scale import ScaleError, ScaleReader, decode, encode, is_scale_class
from spacemesh_core.crypto.address import Address, compute_principal
from spacemesh_core.types.tx import METHOD_SPAWN, TxPayload

#: The plugin category templates register in.
TEMPLATE_CATEGORY = "account_template"


# ---------------------------------------------------------------------------------------------
# Errors
# ---------------------------------------------------------------------------------------------


class TemplateError(ValueError):
    """A template definition or registration is invalid."""


class InvalidSpawnArgumentsError(ValueError):
    """Spawn arguments a template refuses (e.g. multisig ``required == 0``)."""


class ExecutionError(Exception):
    """A transaction failed while executing: its fee is consumed, nothing else changes.

    ``reason`` is the reference's error text where one exists (``"no balance"``, ``"max spend"``).
    """

    reason: ClassVar[str] = "execution failed"

    def __str__(self) -> str:
        detail = super().__str__()
        return f"{self.reason}: {detail}" if detail else self.reason


class NoBalanceError(ExecutionError):
    """The sender does not hold the amount."""

    reason = "no balance"


class MaxSpendError(ExecutionError):
    """The call moves more than its declared max spend."""

    reason = "max spend"


class OutOfGasError(ExecutionError):
    """The balance cannot pay the gas (the whole balance is taken as fee)."""

    reason = "out of gas"


class MaxGasError(ExecutionError):
    """The call consumes more than the transaction's max gas."""

    reason = "max gas"


class AccountSpawnedError(ExecutionError):
    """The account to spawn already has a template."""

    reason = "account already spawned"


class AccountNotSpawnedError(ExecutionError):
    """A relay targets an account that has no template."""

    reason = "account is not spawned"


class TemplateMismatchError(ExecutionError):
    """A relay targets an account of another template."""

    reason = "relay template mismatch"


class MalformedCallError(ExecutionError):
    """A call the template cannot run (unknown method at execution, bad spawn arguments)."""

    reason = "malformed tx"


# ---------------------------------------------------------------------------------------------
# The host a template executes against
# ---------------------------------------------------------------------------------------------


class Host(Protocol):
    """What a template sees while executing: the account it runs as, and state-changing calls.

    During a relay (e.g. vesting draining a vault) the host is the *remote* account's: ``balance``,
    ``template`` and ``state`` are the remote account's, ``principal`` is still the signer's.
    """

    @property
    def principal(self) -> bytes:
        """The address of the transaction's principal (the signer)."""
        ...

    @property
    def layer(self) -> int:
        """The layer being applied."""
        ...

    @property
    def genesis_id(self) -> bytes:
        """The network's 20-byte genesis id."""
        ...

    @property
    def balance(self) -> int:
        """The balance of the executing account."""
        ...

    @property
    def template(self) -> Template:
        """The template of the executing account."""
        ...

    @property
    def state(self) -> Any:
        """The template state of the executing account (a decoded state object)."""
        ...

    def update_state(self, state: Any) -> None:
        """Replace the executing account's template state (stored when the transaction succeeds).

        An extension over genvm, whose built-in templates never change their own state.
        """
        ...

    def spawn(self, args: Any) -> None:
        """Spawn the account of the transaction's template with ``args``.

        :raises AccountSpawnedError: if that account already has a template.
        """
        ...

    def transfer(self, to: bytes, amount: int) -> None:
        """Move ``amount`` from the executing account to ``to``.

        :raises NoBalanceError: / :raises MaxSpendError: see the reference's ``Transfer``.
        """
        ...

    def relay(self, template_address: bytes, address: bytes, call: Callable[[Host], None]) -> None:
        """Run ``call`` as the account ``address`` (which must be spawned from ``template_address``)."""
        ...

    def consume(self, gas: int) -> None:
        """Charge ``gas`` more units at the transaction's gas price."""
        ...


# ---------------------------------------------------------------------------------------------
# The template interface
# ---------------------------------------------------------------------------------------------


@attrs.frozen
class MethodSchema:
    """One method of a template: its selector, a name, and the SCALE attrs class of its arguments."""

    selector: int
    name: str
    args: type

    def __attrs_post_init__(self) -> None:
        if not 0 <= self.selector <= 255:
            raise TemplateError(f"method selector {self.selector} is not a u8")
        if not is_scale_class(self.args):
            raise TemplateError(f"arguments of method {self.name!r} must be a SCALE attrs class")


class Template(ABC):
    """Base class of account templates. Subclass it, set the class attributes, implement the rest.

    Class attributes: ``address`` (24 bytes), ``name`` (short, unique), ``methods`` (a mapping of
    selector to :class:`MethodSchema`, spawn included), ``state_type`` (the SCALE attrs class of the
    account state). Template objects are stateless and shared by every account of the template.
    """

    address: ClassVar[bytes]
    name: ClassVar[str]
    methods: ClassVar[Mapping[int, MethodSchema]]
    state_type: ClassVar[type]
    description: ClassVar[str] = ""

    def get_method(self, selector: int) -> MethodSchema | None:
        """Return the schema of method ``selector``, or None when the template has no such method."""
        return self.methods.get(selector)

    def parse_payload(self, method: int, reader: ScaleReader) -> TxPayload:
        """Read the payload that follows the method selector (default: nonce and gas price).

        :raises ScaleError: on malformed bytes.
        """
        return reader.read_struct(TxPayload)

    def decode_args(self, method: int, reader: ScaleReader) -> Any:
        """Read the arguments of ``method`` (called on the *target* template for spawns).

        :raises ScaleError: on malformed bytes; :raises KeyError: for an unknown method.
        """
        return reader.read_struct(self.methods[method].args)

    @abstractmethod
    def create_state(self, spawn_args: Any) -> Any:
        """Return the state of a new account spawned with ``spawn_args``.

        :raises InvalidSpawnArgumentsError: for arguments the template refuses.
        """

    def load_state(self, data: bytes) -> Any:
        """Decode a stored state. :raises ScaleError: on malformed bytes."""
        return decode(self.state_type, data)

    def encode_state(self, state: Any) -> bytes:
        """Encode ``state`` for storage in the account."""
        return encode(state)

    @abstractmethod
    def get_max_spend(self, state: Any, method: int, args: Any) -> int:
        """Return the most coins ``method`` with ``args`` moves out of the account."""

    @abstractmethod
    def get_base_gas(self, state: Any, method: int) -> int:
        """Return the intrinsic gas of ``method`` (signature checks, tx overhead, spawn)."""

    @abstractmethod
    def get_load_gas(self, state: Any) -> int:
        """Return the gas of loading an account of this template."""

    @abstractmethod
    def get_exec_gas(self, state: Any, method: int) -> int:
        """Return the gas of executing ``method``."""

    @abstractmethod
    def verify(self, state: Any, genesis_id: bytes, raw: bytes, reader: ScaleReader) -> bool:
        """Check the signature(s) of ``raw``; ``reader`` is positioned right after the arguments.

        Return False (never raise) for anything that does not verify, malformed bytes included.
        """

    @abstractmethod
    def execute(self, host: Host, method: int, args: Any) -> None:
        """Run ``method`` with ``args`` against ``host``; raise :class:`ExecutionError` to fail."""

    # --- helpers for builders and tools -----------------------------------------------------

    def compute_principal(self, spawn_args: Any) -> Address:
        """Return the address of the account spawned from this template with ``spawn_args``."""
        return compute_principal(self.address, encode(spawn_args))

    def validate_definition(self) -> None:
        """Check the class attributes. :raises TemplateError: when one is missing or invalid."""
        for attribute in ("address", "name", "methods", "state_type"):
            if not hasattr(self, attribute):
                raise TemplateError(f"template {type(self).__name__} lacks {attribute!r}")
        if len(self.address) != 24:
            raise TemplateError(f"template {self.name!r}: address must be 24 bytes")
        if METHOD_SPAWN not in self.methods:
            raise TemplateError(f"template {self.name!r} has no spawn method (selector 0)")
        for selector, schema in self.methods.items():
            if schema.selector != selector:
                raise TemplateError(f"template {self.name!r}: method {schema.name!r} is filed under {selector}")
        if not is_scale_class(self.state_type):
            raise TemplateError(f"template {self.name!r}: state_type must be a SCALE attrs class")


# ---------------------------------------------------------------------------------------------
# The registry the VM uses
# ---------------------------------------------------------------------------------------------


class UnknownTemplateError(LookupError):
    """No template is registered under an address."""


class TemplateRegistry:
    """Templates by address (and by name) for one VM."""

    def __init__(self, templates: Iterable[Template] = ()) -> None:
        """Register each of ``templates``."""
        self._by_address: dict[bytes, Template] = {}
        self._by_name: dict[str, Template] = {}
        for template in templates:
            self.register(template)

    def register(self, template: Template) -> None:
        """Add ``template``. :raises TemplateError: for an invalid definition or a duplicate."""
        template.validate_definition()
        address = bytes(template.address)
        if address in self._by_address:
            raise TemplateError(
                f"template address {address.hex()} taken by {self._by_address[address].name!r}"
            )
        if template.name in self._by_name:
            raise TemplateError(f"template name {template.name!r} registered twice")
        self._by_address[address] = template
        self._by_name[template.name] = template

    def get(self, address: bytes) -> Template | None:
        """Return the template registered under ``address``, or None."""
        return self._by_address.get(bytes(address))

    def get_by_name(self, name: str) -> Template:
        """Return the template called ``name``. :raises UnknownTemplateError: naming the choices."""
        try:
            return self._by_name[name]
        except KeyError:
            raise UnknownTemplateError(
                f"unknown template {name!r}; registered: {', '.join(sorted(self._by_name)) or '(none)'}"
            ) from None

    def __iter__(self) -> Iterator[Template]:
        return iter(self._by_address.values())

    def __len__(self) -> int:
        return len(self._by_address)

    def __contains__(self, address: object) -> bool:
        return isinstance(address, (bytes, bytearray)) and bytes(address) in self._by_address

    @classmethod
    def from_registries(cls, registries: Any) -> TemplateRegistry:
        """Build the registry from every ``account_template`` implementation in ``registries``.

        Each implementation's factory is called without arguments and must return a
        :class:`Template`. :raises TemplateError: when one does not.
        """
        registry = cls()
        for implementation in registries.get_category_items(TEMPLATE_CATEGORY):
            template = implementation.factory()
            if not isinstance(template, Template):
                raise TemplateError(
                    f"account_template {implementation.name!r} factory returned {type(template).__name__},"
                    " not a Template"
                )
            registry.register(template)
        return registry


def load_template_registry() -> TemplateRegistry:
    """Return the templates of every installed plugin (loads the plugins through the kernel)."""
    from spacemesh_core.kernel.plugins import load_plugin_manager

    return TemplateRegistry.from_registries(load_plugin_manager().get_registries())


__all__ = [
    "TEMPLATE_CATEGORY",
    "AccountNotSpawnedError",
    "AccountSpawnedError",
    "ExecutionError",
    "Host",
    "InvalidSpawnArgumentsError",
    "MalformedCallError",
    "MaxGasError",
    "MaxSpendError",
    "MethodSchema",
    "NoBalanceError",
    "OutOfGasError",
    "ScaleError",
    "Template",
    "TemplateError",
    "TemplateMismatchError",
    "TemplateRegistry",
    "UnknownTemplateError",
    "load_template_registry",
]
