"""Bus events: attrs classes named in the past tense, each bound to a topic and a delivery class.

Events are plain data. Their fields hold CBOR-friendly values (int, float, str, bytes, bool, None,
lists and dicts of those). The registry maps topic <-> class and rebuilds events from decoded
bodies, checking every field's type so that a malformed body is rejected, not half-accepted.
"""

from __future__ import annotations

import enum
import types
import typing
from collections.abc import Callable
from typing import Any, TypeVar

import attrs


class Delivery(enum.Enum):
    """How the bus treats an event when a subscriber falls behind."""

    #: must never be dropped: the bus applies back-pressure instead (state changes, decisions)
    STATE = "state"
    #: may be dropped when a subscriber's queue is full; every drop is counted (progress, metrics)
    TELEMETRY = "telemetry"


class EventError(ValueError):
    """An event class or body that does not fit the registry."""


E = TypeVar("E")

_SIMPLE_TYPES: dict[Any, tuple[type, ...]] = {
    int: (int,),
    float: (float, int),
    str: (str,),
    bytes: (bytes,),
    bool: (bool,),
    type(None): (type(None),),
}


def event(topic: str, delivery: Delivery = Delivery.STATE) -> Callable[[type[E]], type[E]]:
    """Class decorator binding an attrs class to a bus ``topic`` with a ``delivery`` class.

    :raises EventError: when the class is not an attrs class or the topic is not printable ASCII.
    """
    if not topic or not topic.isascii() or not topic.isprintable() or " " in topic:
        raise EventError(f"event topic {topic!r} must be printable ASCII without spaces")

    def decorate(cls: type[E]) -> type[E]:
        is_attrs_class = attrs.has(cls)
        if not is_attrs_class:
            raise EventError(f"{cls.__qualname__} must be an attrs class to be an event")
        cls.__event_topic__ = topic  # type: ignore[attr-defined]
        cls.__event_delivery__ = delivery  # type: ignore[attr-defined]
        return cls

    return decorate


def get_topic(obj_or_cls: Any) -> str:
    """Return the topic of an event instance or class."""
    topic = getattr(obj_or_cls, "__event_topic__", None)
    if topic is None:
        raise EventError(f"{obj_or_cls!r} is not an event (missing @event)")
    return str(topic)


def get_delivery(obj_or_cls: Any) -> Delivery:
    """Return the delivery class of an event instance or class."""
    get_topic(obj_or_cls)
    return typing.cast(Delivery, obj_or_cls.__event_delivery__)


def _matches(value: Any, hint: Any) -> bool:
    if hint is Any:
        return True
    if hint in _SIMPLE_TYPES:
        allowed = _SIMPLE_TYPES[hint]
        if hint in (int, float) and isinstance(value, bool):
            return False
        return isinstance(value, allowed)
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        return any(_matches(value, arg) for arg in args)
    if origin in (list, tuple):
        if not isinstance(value, list | tuple):
            return False
        if origin is tuple and args and args[-1] is not Ellipsis:
            return len(value) == len(args) and all(_matches(v, a) for v, a in zip(value, args, strict=True))
        item = args[0] if args else Any
        return all(_matches(v, item) for v in value)
    if origin is dict:
        if not isinstance(value, dict):
            return False
        key_t, val_t = args if args else (Any, Any)
        return all(_matches(k, key_t) and _matches(v, val_t) for k, v in value.items())
    return False


def _check_supported(hint: Any) -> None:
    """Raise :class:`EventError` when ``hint`` (or a part of it) cannot travel on the bus."""
    if hint is Any or hint in _SIMPLE_TYPES:
        return
    origin = typing.get_origin(hint)
    if origin not in (typing.Union, types.UnionType, list, tuple, dict):
        raise EventError(f"event field type {hint!r} is not supported on the bus")
    for arg in typing.get_args(hint):
        if arg is not Ellipsis:
            _check_supported(arg)


class EventRegistry:
    """Topic <-> event class, with strict rebuilding of events from decoded bodies."""

    def __init__(self) -> None:
        self._by_topic: dict[str, type] = {}
        self._hints: dict[str, dict[str, Any]] = {}

    @classmethod
    def with_core_events(cls) -> EventRegistry:
        """Return a registry that already holds the kernel's own events."""
        from spacemesh_core import kernel_events

        registry = cls()
        for event_cls in kernel_events.CORE_EVENTS:
            registry.register(event_cls)
        return registry

    def register(self, event_cls: type) -> None:
        """Register ``event_cls`` under its topic.

        :raises EventError: when the topic is taken by another class or a field type is unsupported.
        """
        topic = get_topic(event_cls)
        existing = self._by_topic.get(topic)
        if existing is not None and existing is not event_cls:
            raise EventError(f"topic {topic!r} already belongs to {existing.__qualname__}")
        hints = typing.get_type_hints(event_cls)
        fields = {f.name: hints.get(f.name, Any) for f in attrs.fields(event_cls)}
        for hint in fields.values():
            _check_supported(hint)
        self._by_topic[topic] = event_cls
        self._hints[topic] = fields

    def is_registered(self, topic: str) -> bool:
        """Return whether ``topic`` has a registered class."""
        return topic in self._by_topic

    def get_class(self, topic: str) -> type:
        """Return the class registered for ``topic``.

        :raises EventError: for an unknown topic.
        """
        try:
            return self._by_topic[topic]
        except KeyError:
            raise EventError(f"unknown event topic {topic!r}") from None

    def get_topics(self) -> list[str]:
        """Return all registered topics, sorted."""
        return sorted(self._by_topic)

    def compute_body(self, evt: Any) -> dict[str, Any]:
        """Return the CBOR-ready body of event ``evt`` (its fields as a dict).

        :raises EventError: when ``evt``'s class is not registered.
        """
        topic = get_topic(evt)
        if self._by_topic.get(topic) is not type(evt):
            raise EventError(f"event class {type(evt).__qualname__} is not registered for topic {topic!r}")
        return {f.name: getattr(evt, f.name) for f in attrs.fields(typing.cast(Any, type(evt)))}

    def build_event(self, topic: str, body: Any) -> Any:
        """Rebuild the event of ``topic`` from a decoded ``body``, checking names and types.

        :raises EventError: unknown topic, missing or extra fields, or a value of the wrong type.
        """
        cls = self.get_class(topic)
        hints = self._hints[topic]
        if not isinstance(body, dict):
            raise EventError(f"{topic}: body must be a map, got {type(body).__name__}")
        extra = set(body) - set(hints)
        if extra:
            raise EventError(f"{topic}: unexpected fields {sorted(map(str, extra))}")
        for name, hint in hints.items():
            if name in body and not _matches(body[name], hint):
                raise EventError(f"{topic}: field {name!r} has wrong type {type(body[name]).__name__}")
        try:
            return cls(**body)
        except (TypeError, ValueError) as exc:
            raise EventError(f"{topic}: {exc}") from None
