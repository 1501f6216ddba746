"""The public surface of ``rrp`` is small, documented and the only thing outside a leading underscore."""

from __future__ import annotations

import importlib
import inspect
import pkgutil

import pytest

import rrp

#: The modules a user may import; every other module lives in a private (underscored) package.
PUBLIC_MODULES = {"rrp", "rrp.events", "rrp.secure"}


def _modules(package: str) -> list[str]:
    module = importlib.import_module(package)
    return [info.name for info in pkgutil.walk_packages(module.__path__, f"{package}.")]


def test_only_the_package_and_its_events_and_secure_modules_are_public() -> None:
    public = {name for name in _modules("rrp") if not any(part.startswith("_") for part in name.split("."))}
    assert public | {"rrp"} == PUBLIC_MODULES


def test_the_surface_fits_in_a_reader_s_head() -> None:
    assert len(rrp.__all__) <= 22
    assert sorted(rrp.__all__) == rrp.__all__


@pytest.mark.parametrize("module_name", sorted(PUBLIC_MODULES))
def test_every_public_name_exists_and_is_documented(module_name: str) -> None:
    module = importlib.import_module(module_name)
    for name in module.__all__:
        value = getattr(module, name)
        if not (inspect.isclass(value) or inspect.isfunction(value) or inspect.ismodule(value)):
            continue  # a type alias: documented by the #: comment above it, which the site renders
        assert (getattr(value, "__doc__", None) or "").strip(), f"{module_name}.{name} has no docstring"
