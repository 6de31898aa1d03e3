"""Category registries (one default plus alternatives) and bundles (category -> implementation)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

import attrs

from spacemesh_hooks import CATEGORIES


class UnknownNameError(LookupError):
    """A category, implementation or bundle name that is not registered; the message lists the choices."""


class RegistrationError(ValueError):
    """A registration that conflicts with an existing one or names an unknown category."""


@attrs.frozen
class Implementation:
    """One registered implementation of a category."""

    category: str
    name: str
    factory: Callable[..., Any]
    description: str = ""
    plugin: str = ""


def _choices(names: Iterable[str]) -> str:
    listed = sorted(names)
    return ", ".join(listed) if listed else "(none registered)"


class Registries:
    """Implementations by category; each category has at most one default."""

    def __init__(self, categories: Iterable[str] = CATEGORIES) -> None:
        self._categories = tuple(categories)
        self._items: dict[str, dict[str, Implementation]] = {c: {} for c in self._categories}
        self._defaults: dict[str, str] = {}
        #: name of the plugin currently registering (set by the plugin manager around hook calls)
        self.current_plugin = ""

    @property
    def categories(self) -> tuple[str, ...]:
        """The known categories, in declaration order."""
        return self._categories

    def register(
        self,
        category: str,
        name: str,
        factory: Callable[..., Any],
        *,
        description: str = "",
        default: bool = False,
    ) -> Implementation:
        """Register ``factory`` as implementation ``name`` of ``category``.

        :raises RegistrationError: unknown category, duplicate name, or a second default.
        """
        if category not in self._items:
            raise RegistrationError(
                f"unknown category {category!r}; categories are: {_choices(self._categories)}"
            )
        bucket = self._items[category]
        if name in bucket:
            raise RegistrationError(
                f"{category} implementation {name!r} registered twice "
                f"(by {bucket[name].plugin or '?'} and {self.current_plugin or '?'})"
            )
        if default and category in self._defaults:
            raise RegistrationError(
                f"category {category!r} already has default {self._defaults[category]!r}; "
                f"{name!r} cannot also be the default"
            )
        item = Implementation(category, name, factory, description, self.current_plugin)
        bucket[name] = item
        if default:
            self._defaults[category] = name
        return item

    def get(self, category: str, name: str | None = None) -> Implementation:
        """Return implementation ``name`` of ``category`` (the default when ``name`` is None).

        :raises UnknownNameError: naming the available choices.
        """
        if category not in self._items:
            raise UnknownNameError(
                f"unknown category {category!r}; categories are: {_choices(self._categories)}"
            )
        bucket = self._items[category]
        if name is None:
            if category not in self._defaults:
                raise UnknownNameError(
                    f"category {category!r} has no default; choose one of: {_choices(bucket)}"
                )
            name = self._defaults[category]
        if name not in bucket:
            raise UnknownNameError(
                f"unknown {category} implementation {name!r}; choices are: {_choices(bucket)}"
            )
        return bucket[name]

    def get_default_name(self, category: str) -> str | None:
        """Return the default implementation name of ``category``, or None."""
        return self._defaults.get(category)

    def get_names(self, category: str) -> list[str]:
        """Return the registered implementation names of ``category``, sorted."""
        self.get_category_items(category)
        return sorted(self._items[category])

    def get_category_items(self, category: str) -> list[Implementation]:
        """Return all implementations of ``category``.

        :raises UnknownNameError: for an unknown category.
        """
        if category not in self._items:
            raise UnknownNameError(
                f"unknown category {category!r}; categories are: {_choices(self._categories)}"
            )
        return [self._items[category][n] for n in sorted(self._items[category])]

    def get_all(self) -> list[Implementation]:
        """Return every implementation of every category."""
        return [item for category in self._categories for item in self.get_category_items(category)]


@attrs.frozen
class Bundle:
    """A named map from category to implementation name."""

    name: str
    choices: Mapping[str, str]
    description: str = ""


class BundleRegistry:
    """Named bundles; resolving one against :class:`Registries` checks every name."""

    def __init__(self) -> None:
        self._bundles: dict[str, Bundle] = {}

    def register(self, name: str, choices: Mapping[str, str], *, description: str = "") -> Bundle:
        """Register bundle ``name`` mapping categories to implementation names.

        :raises RegistrationError: when the name is taken.
        """
        if name in self._bundles:
            raise RegistrationError(f"bundle {name!r} registered twice")
        bundle = Bundle(name, dict(choices), description)
        self._bundles[name] = bundle
        return bundle

    def get(self, name: str) -> Bundle:
        """Return bundle ``name``.

        :raises UnknownNameError: naming the available bundles.
        """
        if name not in self._bundles:
            raise UnknownNameError(f"unknown bundle {name!r}; choices are: {_choices(self._bundles)}")
        return self._bundles[name]

    def get_names(self) -> list[str]:
        """Return the registered bundle names, sorted."""
        return sorted(self._bundles)

    def resolve(self, name: str, registries: Registries) -> dict[str, Implementation]:
        """Return the implementation chosen for every category by bundle ``name``.

        Categories the bundle leaves out get their default; categories with neither are omitted.

        :raises UnknownNameError: unknown bundle or an implementation name that is not registered.
        """
        bundle = self.get(name)
        resolved: dict[str, Implementation] = {}
        for category in registries.categories:
            chosen = bundle.choices.get(category)
            if chosen is None and registries.get_default_name(category) is None:
                continue
            resolved[category] = registries.get(category, chosen)
        for category in bundle.choices:
            if category not in registries.categories:
                raise UnknownNameError(
                    f"bundle {name!r} names unknown category {category!r}; "
                    f"categories are: {_choices(registries.categories)}"
                )
        return resolved
