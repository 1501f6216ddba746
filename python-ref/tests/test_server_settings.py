"""The server settings are declared once: the dataclass, ``rrp serve``'s flags and validation all come from it."""

from __future__ import annotations

import argparse
from dataclasses import fields

import pytest

from rrp import ServerSettings
from rrp._cli import main as cli_main
from rrp._cli.serve import setting_arguments, settings_from
from rrp._sansio.setting import DeclaredSetting
from rrp._sansio.settings import SETTINGS


def _serve_parser() -> argparse.ArgumentParser:
    subparsers = next(a for a in cli_main.build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    parser: argparse.ArgumentParser = subparsers.choices["serve"]
    return parser


def _settings(argv: list[str]) -> ServerSettings:
    settings, problems = settings_from(_serve_parser().parse_args(argv))
    assert settings is not None, problems
    return settings


def _other_valid_value(entry: DeclaredSetting) -> object:
    """A value its bounds allow that is not the default."""
    declared = entry.setting
    if entry.kind is bool:
        return not entry.default
    candidates = [declared.high, (declared.low or 0) + 1, (declared.low or 0) + 2]
    for candidate in candidates:
        if candidate is None:
            continue
        value = entry.kind(candidate)
        if value != entry.default and entry.problem(value) is None:
            return value
    raise AssertionError(f"no other valid value found for {entry.name}")


def _invalid_values(entry: DeclaredSetting) -> list[object]:
    declared = entry.setting
    values: list[object] = []
    if declared.low is not None:
        values.append(entry.kind(declared.low) if declared.above else declared.low - 1)
    if declared.high is not None:
        values.append(declared.high + 1)
    return values


def test_every_field_is_a_declared_setting() -> None:
    """Adding a field without `setting(...)` (so without flag, help and bounds) fails here and at import."""
    assert [entry.name for entry in SETTINGS] == [item.name for item in fields(ServerSettings)]
    assert all(entry.setting.help.endswith(".") for entry in SETTINGS)


def test_the_command_line_holds_no_second_copy_of_any_default() -> None:
    """`rrp serve` with no setting flags leaves every setting out of the namespace, so the dataclass default rules.

    Fails if a flag is given its own `default=`: that would be the same number written twice.
    """
    args = _serve_parser().parse_args([])
    assert [entry.name for entry in SETTINGS if hasattr(args, entry.name)] == []
    flags = {action.dest: action for action in _serve_parser()._actions}
    for entry in SETTINGS:
        assert flags[entry.name].default is argparse.SUPPRESS, entry.flag
        assert entry.flag in flags[entry.name].option_strings
    assert _settings([]) == ServerSettings()


@pytest.mark.parametrize("entry", SETTINGS, ids=lambda entry: entry.name)
def test_every_setting_has_a_flag_that_reaches_the_server(entry: DeclaredSetting) -> None:
    """A non-default value for each setting survives `setting_arguments` → `rrp serve`'s parser → ServerSettings."""
    settings = ServerSettings(**{entry.name: _other_valid_value(entry)})  # type: ignore[arg-type]
    arguments = setting_arguments(settings)
    assert arguments[0] == entry.flag
    assert _settings(arguments) == settings


@pytest.mark.parametrize("entry", [e for e in SETTINGS if _invalid_values(e)], ids=lambda entry: entry.name)
def test_each_bad_value_is_one_sentence_naming_its_flag_and_exit_2(
    entry: DeclaredSetting, capsys: pytest.CaptureFixture[str]
) -> None:
    """Just past each bound: one line `rrp serve: --flag must be ...`, exit status 2; the dataclass refuses it too."""
    for value in _invalid_values(entry):
        assert cli_main.main(["serve", entry.flag, str(value)]) == 2
        captured = capsys.readouterr()
        assert captured.out == ""
        assert captured.err.splitlines() == [f"rrp serve: {entry.flag} {entry.problem(value)}"]
        assert captured.err.startswith(f"rrp serve: {entry.flag} must be ")
        with pytest.raises(ValueError, match=f"^{entry.name} must be "):
            ServerSettings(**{entry.name: value})  # type: ignore[arg-type]


def test_several_bad_values_get_one_sentence_each(capsys: pytest.CaptureFixture[str]) -> None:
    """Every bad value is reported, not just the first."""
    assert cli_main.main(["serve", "--max-connections", "0", "--request-deadline", "30", "--grace", "-1"]) == 2
    lines = capsys.readouterr().err.splitlines()
    assert [line.split()[2] for line in lines] == ["--max-connections", "--request-deadline", "--grace"]


def test_spec_bounds_name_the_requirement_that_imposes_them() -> None:
    """A bound from the spec says which requirement it comes from, in the help and in the error."""
    by_name = {entry.name: entry for entry in SETTINGS}
    assert "(TCP-SRV-5)" in str(by_name["request_deadline"].problem(30.0))
    assert "(UDP-SRV-8)" in str(by_name["dedup_window"].problem(1.0))


@pytest.mark.parametrize(
    ("field", "value", "error"),
    [
        ("tcp_max_payload", 1.5, TypeError),
        ("max_connections", True, TypeError),
        ("seed", "x", TypeError),
        ("rate_limit", float("nan"), ValueError),
        ("idle_timeout", float("inf"), ValueError),
    ],
)
def test_wrong_types_and_non_finite_numbers_are_refused(field: str, value: object, error: type[Exception]) -> None:
    """A float where a count belongs, a bool for a number, NaN or infinity: refused at construction, by name."""
    with pytest.raises(error, match=f"^{field} must be"):
        ServerSettings(**{field: value})  # type: ignore[arg-type]


def test_the_defaults_the_spec_quotes_are_the_servers_defaults() -> None:
    """Each server default in rrp_spec.reference_defaults is the one the declaration uses, so the spec's
    "reference default" examples and the suite's assumed claims describe the server that actually runs."""
    from rrp_spec import reference_defaults

    server_defaults = ServerSettings()
    quoted = [name for name in dir(reference_defaults) if name.startswith("DEFAULT_")]
    for name in quoted:
        value = getattr(reference_defaults, name)
        field = name.removeprefix("DEFAULT_").lower()
        if field in ("connect_timeout", "reply_timeout"):  # the client's, not the server's
            continue
        if field == "port":  # rrp serve's default address, not a setting of a running server
            continue
        assert getattr(server_defaults, field) == value, name
