"""``traza routes test``: which rule would fire, the team and why; bad arguments exit 2 with one line."""

from __future__ import annotations

from pathlib import Path

import pytest

from traza.cli import main

CONFIG = """
teams:
  - id: ventas
    name: Ventas
    slack_channels: [C0VENTAS01, C0VENTAS02]
    keywords: [precio]
  - id: soporte
    name: Soporte
    slack_channel: C0SOPORTE1
    hours:
      timezone: Europe/Madrid
      open: {mon-fri: "09:00-18:00"}
      holidays: [2026-12-25]
      after_hours_reply: "Cerrado."
      on_call_team: guardia
  - id: guardia
    name: Guardia
    slack_channel: C0GUARDIA1
  - id: cuentas
    name: Cuentas
    slack_channel: C0CUENTAS1
numbers:
  - phone_number_id: "106540352242922"
    default_team: soporte
  - phone_number_id: "106540352242923"
customers:
  "+5491100000001": {tier: gold}
routing:
  default_team: soporte
  rules:
    - name: gold
      when: {customer: {tier: gold}}
      team: cuentas
    - name: menu
      when: {number: "106540352242923"}
      menu:
        text: "¿Con quién?"
        timeout: 5m
        options:
          - {title: Ventas, team: ventas}
          - {title: Soporte, team: soporte}
"""


@pytest.fixture(autouse=True)
def config_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "traza.yml"
    path.write_text(CONFIG, encoding="utf-8")
    monkeypatch.setenv("TRAZA_CONFIG", str(path))
    monkeypatch.chdir(tmp_path)  # no stray .env
    return path


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(["routes", "test", *args])
    out, err = capsys.readouterr()
    return code, out, err


def test_prints_each_rule_tried_and_the_one_that_fired(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(
        capsys, "¿Qué precio tiene?", "--number", "106540352242922", "--at", "2026-11-25T10:00Z"
    )
    assert code == 0
    assert "✘ rules[0] (gold): customer.tier is unknown, not gold" in out
    assert "✘ rules[1] (menu): business number 106540352242922 is not 106540352242923" in out
    assert "→ team ventas by teams[0].keywords: keyword 'precio'" in out
    assert "card in one of C0VENTAS01, C0VENTAS02 (least_busy)" in out


def test_a_customer_fact_from_the_from_phone(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "hola", "--number", "106540352242922", "--from", "+54 9 11 0000-0001")
    assert code == 0 and "facts: tier=gold" in out
    assert "→ team cuentas by rules[0] (gold): customer.tier is 'gold'" in out


def test_after_hours_in_the_teams_zone_goes_on_call(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(
        capsys, "hola", "--number", "106540352242922", "--at", "2026-12-25 11:00 Europe/Madrid"
    )
    assert code == 0
    assert "soporte is closed → on-call team guardia" in out
    assert "business hours: Fri 2026-12-25 11:00 Europe/Madrid is a holiday" in out
    assert "automatic reply to the customer: 'Cerrado.'" in out


def test_a_menu_shows_the_options_and_what_happens_without_or_with_an_answer(
    capsys: pytest.CaptureFixture[str],
) -> None:
    weekday = ("--at", "2026-12-01 11:00 Europe/Madrid")  # within soporte's hours, whatever the clock says
    code, out, _ = run(capsys, "hola", "--number", "106540352242923", *weekday)
    assert code == 0
    assert "asks the menu (1 Ventas → ventas, 2 Soporte → soporte)" in out
    assert "If nobody answers in time" in out
    assert "→ team soporte by routing.default_team" in out
    code, out, _ = run(capsys, "hola", "--number", "106540352242923", "--answer", "1", *weekday)
    assert code == 0 and "→ team ventas by rules[1] (menu): menu answer 1 (Ventas)" in out


@pytest.mark.parametrize(
    ("args", "line"),
    [
        (["hola", "--number", "999"], "traza: --number 999: not a business number in traza.yml"),
        (["hola", "--number", "106540352242922", "--at", "mañana"], "traza: --at: 'mañana' is not a time"),
        (["hola", "--number", "106540352242922", "--at", "2026-01-01 10:00 Mars/Base"], "unknown time zone"),
        (
            ["hola", "--number", "106540352242922", "--from", "call me"],
            "traza: --from 'call me': not a phone",
        ),
        (
            ["hola", "--number", "106540352242923", "--answer", "7"],
            "traza: --answer 7: the menu has options 1-2",
        ),
    ],
)
def test_bad_arguments_exit_2_with_one_clear_line(
    capsys: pytest.CaptureFixture[str], args: list[str], line: str
) -> None:
    code, out, err = run(capsys, *args)
    assert code == 2 and out == ""
    assert line in err and len(err.strip().splitlines()) == 1


def test_a_missing_number_is_an_argument_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as stopped:
        main(["routes", "test", "hola"])
    assert stopped.value.code == 2
    assert "--number" in capsys.readouterr().err
