"""The sandbox console in a real headless Chromium: a customer writes, an agent claims and answers,
a lead transfers, the conversation is closed, and /traza history and /traza stats show it.

The browser is the system Chromium (``scripts/browser.sh`` installs it); a missing browser fails
this test, it never skips.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect, sync_playwright

from tests.sandbox_process import running_sandbox

CHROMIUM = "/usr/bin/chromium"
AGENT, MATE, SOPORTE_LEAD, VENTAS_LEAD = "U0AGENT003", "U0AGENT004", "U0LEAD0002", "U0LEAD0001"
TIMEOUT_MS = 15_000


@pytest.fixture
def page(tmp_path: Path) -> Iterator[Page]:
    assert Path(CHROMIUM).exists(), f"{CHROMIUM} is missing: run scripts/browser.sh (make test does)"
    with running_sandbox(tmp_path) as sandbox, sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=["--no-sandbox"])
        try:
            page = browser.new_page()
            page.set_default_timeout(TIMEOUT_MS)
            page.on("dialog", lambda dialog: dialog.accept())
            page.goto(sandbox.console + "/")
            expect(page.locator("#as-user option")).not_to_have_count(0)
            yield page
        finally:
            browser.close()


def act_as(page: Page, user: str) -> None:
    page.select_option("#as-user", user)


def open_channel(page: Page, name: str) -> None:
    page.click(f"#channel-tabs .tab:has-text('#{name}')")


def card(page: Page, ref: int) -> object:
    return page.locator(".card", has=page.locator(".card-body", has_text=f"#{ref}"))


def run_command(page: Page, line: str) -> None:
    page.fill("#command-line", line)
    page.click("#command-send")


def test_customer_to_close_walkthrough_in_the_console(page: Page) -> None:
    page.fill("#customer-name", "Bruno Díaz")
    page.fill("#customer-phone", "+54 9 11 5555-0188")
    page.fill("#phone-text", "Hola, necesito ayuda con mi pedido")
    page.click("#phone-send")
    expect(page.locator(".bubble.in")).to_contain_text("necesito ayuda")

    open_channel(page, "soporte")
    soporte_card = page.locator(".card").first
    expect(soporte_card).to_contain_text("#1001")
    expect(soporte_card.locator(".reply")).to_contain_text("necesito ayuda")

    page.set_input_files(
        "#phone-file", files=[{"name": "pedido.pdf", "mimeType": "application/pdf", "buffer": b"%PDF-1.4 ok"}]
    )
    page.click("#phone-send-file")
    expect(soporte_card.locator(".file")).to_contain_text("pedido.pdf")

    act_as(page, AGENT)
    soporte_card.locator(".slack-button[data-action-id='conv_claim']").click()
    expect(soporte_card.locator(".card-body")).to_contain_text("@Ana Torres")

    soporte_card.locator(".reply-input").fill("Hola Bruno, ya lo reviso")
    soporte_card.locator(".reply-send").click()
    answer = page.locator(".bubble.out").first
    expect(answer).to_contain_text("Ana Torres · Soporte")
    expect(answer).to_contain_text("Hola Bruno, ya lo reviso")
    expect(answer).to_have_attribute("data-status", "read")
    expect(answer.locator(".ticks.read")).to_have_text("✓✓")

    soporte_card.locator(".reply-file").set_input_files(
        files=[{"name": "recibo.pdf", "mimeType": "application/pdf", "buffer": b"%PDF-1.4 recibo"}]
    )
    soporte_card.locator(".reply-input").fill("Tu recibo")
    soporte_card.locator(".reply-send").click()
    shared = page.locator(".bubble.out", has_text="recibo.pdf")
    expect(shared.locator("a.media")).to_have_attribute("href", re.compile(r"^/console/api/media/\d+$"))
    expect(shared).to_have_attribute("data-status", "read")

    soporte_card.locator(".reply-input").fill("// cliente frecuente")
    soporte_card.locator(".reply-send").click()
    expect(soporte_card.locator(".reply").last).to_contain_text("// cliente frecuente")

    act_as(page, SOPORTE_LEAD)
    soporte_card.locator(".slack-button[data-action-id='conv_transfer']").click()
    expect(page.locator("#modal")).to_be_visible()
    page.select_option("#modal select[name='transfer_team']", "ventas")
    page.fill("#modal [name='transfer_reason']", "quiere comprar")
    page.click("#modal-submit")
    expect(page.locator("#modal")).to_be_hidden()

    open_channel(page, "ventas")
    ventas_card = page.locator(".card").first
    expect(ventas_card).to_contain_text("#1001")
    expect(ventas_card.locator(".thread")).to_contain_text("quiere comprar")

    act_as(page, VENTAS_LEAD)
    ventas_card.locator(".slack-button[data-action-id='conv_close']").click()
    expect(ventas_card.locator(".slack-button[data-action-id='conv_reopen']")).to_be_visible()

    run_command(page, "/traza history 1001")
    timeline = page.locator("#private .answer", has_text="Timeline of #1001")
    expect(timeline).to_contain_text("transferred to ventas")
    expect(timeline).to_contain_text("closed")
    run_command(page, "/traza stats")
    expect(page.locator("#private .answer", has_text="Stats")).to_contain_text("1 closed")
    assert page.locator(".bubble.out").count() == 2, "the internal note never reached the customer"
