"""The bot's aiohttp client for the Bot API, through the real python-telegram-bot ``Bot`` against the
Bot API fake over HTTP: what it sends arrives whole, and every failure is PTB's error of that kind."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
from telegram import Bot, InlineKeyboardButton, InlineKeyboardMarkup, InputFile
from telegram.error import NetworkError, RetryAfter, TimedOut

from bot.telegram_http import AiohttpRequest
from tests.telegram_fake import BotApiFake

CHAT = 4242


@pytest.fixture
async def fake() -> AsyncIterator[BotApiFake]:
    async with BotApiFake() as started:
        yield started


def _bot(fake: BotApiFake, request: AiohttpRequest) -> Bot:
    return Bot(fake.token, base_url=fake.base_url, base_file_url=fake.base_file_url, request=request)


async def test_a_message_with_a_keyboard_and_files_arrive_whole(fake: BotApiFake) -> None:
    markup = InlineKeyboardMarkup([[InlineKeyboardButton("同意 ✓", callback_data="consent|yes")]])
    async with _bot(fake, AiohttpRequest(connections=2)) as bot:
        sent = await bot.send_message(CHAT, "您好！需要帮助吗？& = ?", reply_markup=markup)
        await bot.send_document(CHAT, InputFile(b"%PDF-1.4 report", filename="报告.pdf"), caption="附件")
        await bot.send_photo(CHAT, InputFile(b"\x89PNG\r\n\x1a\n picture", filename="chart.png"))
    assert sent.text == "您好！需要帮助吗？& = ?"
    text, document, photo = fake.sent_to(CHAT)
    assert (text.text, text.buttons) == ("您好！需要帮助吗？& = ?", [("同意 ✓", "consent|yes")])
    assert document.text == "附件"
    assert document.file is not None
    assert (document.file.kind, document.file.name, document.file.content) == (
        "document",
        "报告.pdf",
        b"%PDF-1.4 report",
    )
    assert photo.file is not None
    assert (photo.file.kind, photo.file.content) == ("photo", b"\x89PNG\r\n\x1a\n picture")


async def test_telegrams_refusals_are_ptbs_errors(fake: BotApiFake) -> None:
    fake.fail_next("sendMessage", retry_after=7)
    async with _bot(fake, AiohttpRequest()) as bot:
        with pytest.raises(RetryAfter) as flood:
            await bot.send_message(CHAT, "hello")
    assert flood.value.retry_after == timedelta(seconds=7)


async def test_an_answer_that_does_not_come_in_time_is_timed_out(fake: BotApiFake) -> None:
    hold = fake.hold("sendMessage")
    async with _bot(fake, AiohttpRequest(read_timeout=0.3)) as bot:
        with pytest.raises(TimedOut):
            await bot.send_message(CHAT, "hello")
        assert hold.arrived.is_set()
        hold.release()
        await bot.send_message(CHAT, "again", read_timeout=5)  # a call's own timeout is kept
    assert fake.sent_to(CHAT)[-1].text == "again"


async def test_a_server_that_cannot_be_reached_is_a_network_error() -> None:
    with socket.socket() as sock:  # a port with nothing listening on it
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    request = AiohttpRequest()
    await request.initialize()
    try:
        with pytest.raises(NetworkError, match=r"aiohttp\.ClientConnectorError"):
            await request.post(f"http://127.0.0.1:{port}/bot123:abc/getMe")
    finally:
        await request.shutdown()


async def test_it_refuses_work_until_initialized_and_starts_again_after_a_shutdown(fake: BotApiFake) -> None:
    request = AiohttpRequest()
    with pytest.raises(NetworkError, match="not initialized"):
        await request.post(f"{fake.base_url}{fake.token}/getMe")
    for _ in range(2):
        async with _bot(fake, request) as bot:
            assert (await bot.get_me()).id == fake.bot_id


async def test_a_proxy_the_environment_names_is_used_unless_the_host_is_exempt(
    fake: BotApiFake, monkeypatch: pytest.MonkeyPatch
) -> None:
    with socket.socket() as sock:  # a proxy that is not there
        sock.bind(("127.0.0.1", 0))
        proxy = f"http://127.0.0.1:{sock.getsockname()[1]}"
    for name in ("HTTP_PROXY", "HTTPS_PROXY"):
        monkeypatch.setenv(name, proxy)
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    request = AiohttpRequest()
    with pytest.raises(NetworkError, match="ClientProxyConnectionError"):
        await _bot(fake, request).initialize()  # it asks getMe first
    await request.shutdown()
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    async with _bot(fake, AiohttpRequest()) as bot:
        assert (await bot.get_me()).id == fake.bot_id
