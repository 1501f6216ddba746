"""The reference implementation's page: its modules for mkdocstrings, and the ``rrp`` command's usage."""

from __future__ import annotations

import importlib
import importlib.util
import pkgutil

from .cli_usage import usage_sections
from .markdown import cell, code, table

#: The reference implementation's top-level package.
PACKAGE = "rrp"


def public_modules(package: str) -> list[str]:
    """Dotted names of ``package`` and its public modules, found on disk without importing them."""
    spec = importlib.util.find_spec(package)
    if spec is None or spec.submodule_search_locations is None:
        raise ModuleNotFoundError(f"package {package!r} is not installed")
    names = [package]
    for module in pkgutil.iter_modules(spec.submodule_search_locations):
        if not module.name.startswith("_"):
            names.append(f"{package}.{module.name}")
    return sorted(names)


def api_reference(package: str, *, root_members: bool = False) -> str:
    """One mkdocstrings block per public module of ``package``, each under its own heading.

    With ``root_members`` the package's own ``__all__`` is its API (its modules are private) and is shown in
    full; without, the package only re-exports its public modules' names, so only its docstring is shown.
    """
    blocks = []
    for name in public_modules(package):
        members = "\n      members: false" if name == package and not root_members else ""
        blocks.append(
            f"### `{name}`\n\n::: {name}\n    options:\n      show_root_heading: false\n      heading_level: 4{members}"
        )
    return "\n\n".join(blocks)


def cli_usage() -> str:
    """The help of ``rrp`` and of each subcommand, from ``rrp._cli.main.build_parser()``."""
    cli = importlib.import_module(f"{PACKAGE}._cli.main")
    return usage_sections(cli.build_parser())


def server_settings_table() -> str:
    """Every setting of the reference server, from its one declaration (``rrp._sansio.settings.SETTINGS``).

    The flag, the default, the allowed values and the meaning are each the declaration's own, the same
    ones ``rrp serve --help`` prints and ``rrp.ServerSettings`` validates.
    """
    settings = importlib.import_module(f"{PACKAGE}._sansio.settings")
    rows = []
    for entry in settings.SETTINGS:
        declared = entry.setting
        default = "unset" if entry.default is None else declared.unit.quantity(entry.default)
        allowed = declared.bounds()
        if declared.zero_means is not None:
            allowed += f"; 0 means {declared.zero_means}"
        rows.append([code(entry.flag), f"`{entry.name}`", default, cell(allowed), cell(declared.help)])
    return table(["Flag", "Field", "Default", "Allowed", "Meaning"], rows)
