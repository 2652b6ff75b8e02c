"""The Bot API fake works with the real python-telegram-bot, over HTTP, polling and webhook."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator

import httpx
import pytest
from telegram import Bot, BotCommand, InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.error import BadRequest, Conflict, RetryAfter
from telegram.ext import (
    Application,
    ApplicationBuilder,
    CallbackQueryHandler,
    CommandHandler,
    ContextTypes,
    MessageHandler,
    filters,
)

from tests.telegram_fake import BotApiFake

CHAT = 4242


@pytest.fixture
async def fake() -> AsyncIterator[BotApiFake]:
    async with BotApiFake() as started:
        yield started


@pytest.fixture
async def bot(fake: BotApiFake) -> AsyncIterator[Bot]:
    async with Bot(fake.token, base_url=fake.base_url, base_file_url=fake.base_file_url) as started:
        yield started


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _keyboard(*data: str) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(
        [[InlineKeyboardButton(f"b{i}", callback_data=d)] for i, d in enumerate(data)]
    )


async def _echo(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    assert update.effective_message is not None
    await update.effective_message.reply_text(
        f"echo: {update.effective_message.text}", reply_markup=_keyboard("press|1")
    )


async def _start(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    assert update.effective_message is not None
    await update.effective_message.reply_text(f"start {' '.join(context.args or [])}")


async def _pressed(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    query = update.callback_query
    assert query is not None
    await query.answer("ok")
    await query.edit_message_text(f"pressed {query.data}")


def _application(fake: BotApiFake) -> Application:  # type: ignore[type-arg]
    app = (
        ApplicationBuilder()
        .token(fake.token)
        .base_url(fake.base_url)
        .base_file_url(fake.base_file_url)
        .build()
    )
    app.add_handler(CommandHandler("start", _start))
    app.add_handler(MessageHandler(filters.TEXT & ~filters.COMMAND, _echo))
    app.add_handler(CallbackQueryHandler(_pressed))
    return app


async def test_get_me_send_and_edit(fake: BotApiFake, bot: Bot) -> None:
    me = await bot.get_me()
    assert (me.id, me.username, me.is_bot) == (123456, "needs_test_bot", True)

    sent = await bot.send_message(
        CHAT, "hello & <b>", reply_markup=_keyboard("a|1", "b|2"), parse_mode="HTML"
    )
    assert sent.message_id == 1
    assert sent.chat.id == CHAT
    assert sent.reply_markup == _keyboard("a|1", "b|2")
    [message] = fake.sent_to(CHAT)
    assert (message.text, message.parse_mode) == ("hello & <b>", "HTML")
    assert message.buttons == [("b0", "a|1"), ("b1", "b|2")]

    edited = await bot.edit_message_text("bye", chat_id=CHAT, message_id=sent.message_id)
    assert isinstance(edited, type(sent))
    assert edited.text == "bye"
    assert edited.reply_markup is None
    assert fake.message_by_id(CHAT, 1).edits == ["hello & <b>"]
    assert fake.message_by_id(CHAT, 1).buttons == []
    with pytest.raises(BadRequest, match=r"(?i)not modified"):
        await bot.edit_message_text("bye", chat_id=CHAT, message_id=1)
    with pytest.raises(BadRequest, match=r"(?i)message to edit not found"):
        await bot.edit_message_text("bye", chat_id=CHAT, message_id=99)
    await bot.edit_message_reply_markup(chat_id=CHAT, message_id=1, reply_markup=_keyboard("c"))
    assert fake.message_by_id(CHAT, 1).buttons == [("b0", "c")]

    assert (await bot.send_message(CHAT, "second")).message_id == 2
    assert [m.text for m in await fake.wait_sent(CHAT, 2)] == ["bye", "second"]
    assert [c.method for c in fake.calls] == [
        "getMe",  # Bot.initialize
        "getMe",
        "sendMessage",
        "editMessageText",
        "editMessageText",
        "editMessageText",
        "editMessageReplyMarkup",
        "sendMessage",
    ]
    assert [c.ok for c in fake.calls][3:6] == [True, False, False]


async def test_commands_and_other_methods(fake: BotApiFake, bot: Bot) -> None:
    await bot.set_my_commands([BotCommand("start", "开始"), BotCommand("help", "帮助")], language_code="zh")
    await bot.set_my_commands([BotCommand("start", "Start")])
    assert fake.commands[("default", "zh")] == [
        {"command": "start", "description": "开始"},
        {"command": "help", "description": "帮助"},
    ]
    assert [c.command for c in await bot.get_my_commands()] == ["start"]
    await bot.delete_my_commands()
    assert ("default", None) not in fake.commands
    with pytest.raises(BadRequest, match=r"(?i)BOT_COMMAND_INVALID"):
        await bot.set_my_commands([BotCommand("Bad-Command", "x")])

    assert await bot.send_chat_action(CHAT, "typing")
    sent = await bot.send_message(CHAT, "x" * 4096)
    with pytest.raises(BadRequest, match=r"(?i)message is too long"):
        await bot.send_message(CHAT, "x" * 4097)
    assert await bot.delete_message(CHAT, sent.message_id)
    assert fake.message_by_id(CHAT, sent.message_id).deleted
    with pytest.raises(BadRequest, match=r"(?i)message to delete not found"):
        await bot.delete_message(CHAT, sent.message_id)
    assert await bot.set_chat_menu_button()
    assert (await bot.get_chat_menu_button()).type == "commands"
    info = await bot.get_webhook_info()
    assert (info.url, info.pending_update_count) == ("", 0)


async def test_failures(fake: BotApiFake, bot: Bot) -> None:
    fake.fail_next("sendMessage", retry_after=3)
    with pytest.raises(RetryAfter, match=r"Retry in 0:00:03"):
        await bot.send_message(CHAT, "hi")
    assert (await bot.send_message(CHAT, "hi")).text == "hi"
    assert [(c.method, c.ok) for c in fake.calls[-2:]] == [("sendMessage", False), ("sendMessage", True)]

    fake.fail_next("sendMessage", error_code=400, description="Bad Request: chat not found", times=2)
    for _ in range(2):
        with pytest.raises(BadRequest, match=r"(?i)chat not found"):
            await bot.send_message(CHAT, "hi")

    with pytest.raises(BadRequest, match=r"(?i)BUTTON_DATA_INVALID"):
        await bot.send_message(CHAT, "hi", reply_markup=_keyboard("x" * 65))
    await bot.send_message(CHAT, "hi", reply_markup=_keyboard("x" * 64))
    with pytest.raises(BadRequest, match=r"(?i)BUTTON_DATA_INVALID"):
        await bot.send_message(CHAT, "hi", reply_markup=_keyboard("需" * 22))  # 66 bytes, 22 characters
    assert len(fake.sent_to(CHAT)) == 2

    async with httpx.AsyncClient() as client:
        wrong = await client.post(f"{fake.base_url}123:wrong/getMe")
        unknown = await client.post(f"{fake.base_url}{fake.token}/noSuchMethod")
    assert (wrong.status_code, wrong.json()["description"]) == (401, "Unauthorized")
    assert (unknown.status_code, unknown.json()["ok"]) == (404, False)


async def test_get_updates_semantics(fake: BotApiFake, bot: Bot) -> None:
    first = fake.message(7, "/start abc")
    second = fake.message(7, "hi", chat_id=-100, chat_type="supergroup", chat_title="Helpers")
    updates = await bot.get_updates(timeout=0)
    assert [u.update_id for u in updates] == [first, second]
    assert updates[0].message is not None
    assert updates[0].message.text == "/start abc"
    assert updates[0].message.entities[0].type == "bot_command"
    assert updates[0].message.from_user is not None
    assert updates[0].message.from_user.language_code == "zh"
    assert updates[1].effective_chat is not None
    assert updates[1].effective_chat.title == "Helpers"
    assert [u.update_id for u in await bot.get_updates(offset=second, timeout=0)] == [second]
    assert await bot.get_updates(offset=second + 1, timeout=0) == ()

    photo = fake.message(7, kind="photo")
    contact = fake.message(7, contact_phone="+886912345678")
    where = fake.message(7, location=(25.03, 121.56))
    updates = await bot.get_updates(offset=second + 1, timeout=0)
    assert [u.update_id for u in updates] == [photo, contact, where]
    messages = [u.message for u in updates]
    assert messages[0] is not None
    assert messages[0].photo
    assert messages[1] is not None
    assert messages[1].contact is not None
    assert messages[1].contact.phone_number == "+886912345678"
    assert messages[2] is not None
    assert messages[2].location is not None
    assert messages[2].location.latitude == 25.03


async def test_observers_see_each_call_and_each_update_handed_over(fake: BotApiFake, bot: Bot) -> None:
    handed: list[int] = []
    methods: list[str] = []
    fake.on_handed_over.append(lambda update: handed.append(update["update_id"]))
    fake.on_call.append(lambda call: methods.append(call.method))
    queued = fake.message(CHAT, "hello")
    assert handed == []  # queued, not yet fetched
    await bot.get_updates(timeout=0)
    await bot.send_message(CHAT, "hi")
    assert handed == [queued]
    assert methods == ["getUpdates", "sendMessage"]


async def test_polling_application(fake: BotApiFake) -> None:
    app = _application(fake)
    await app.initialize()
    await app.start()
    assert app.updater is not None
    await app.updater.start_polling(poll_interval=0.0, timeout=1)
    try:
        fake.message(CHAT, "/start abc")
        fake.message(CHAT, "你好")
        sent = await fake.wait_sent(CHAT, 2)
        assert [m.text for m in sent] == ["start abc", "echo: 你好"]
        assert sent[1].buttons == [("b0", "press|1")]

        fake.callback(CHAT, sent[1].message_id, "press|1")
        await fake.wait_for(lambda: fake.message_by_id(CHAT, sent[1].message_id).text == "pressed press|1")
        assert fake.answered_callbacks[0]["text"] == "ok"
        assert fake.message_by_id(CHAT, sent[1].message_id).edits == ["echo: 你好"]
    finally:
        await app.updater.stop()
        await app.stop()
        await app.shutdown()
    assert "deleteWebhook" in fake.methods_called()


async def test_webhook_application(fake: BotApiFake) -> None:
    port = _free_port()
    app = _application(fake)
    await app.initialize()
    await app.start()
    assert app.updater is not None
    await app.updater.start_webhook(
        listen="127.0.0.1",
        port=port,
        url_path="hook",
        webhook_url=f"http://127.0.0.1:{port}/hook",
        secret_token="s3cret",
    )
    try:
        assert fake.webhook is not None
        assert (fake.webhook["url"], fake.webhook["secret_token"]) == (
            f"http://127.0.0.1:{port}/hook",
            "s3cret",
        )
        async with Bot(fake.token, base_url=fake.base_url) as other:
            with pytest.raises(Conflict):
                await other.get_updates(timeout=0)

        handed: list[int] = []
        fake.on_handed_over.append(lambda update: handed.append(update["update_id"]))
        posted = fake.message(CHAT, "via webhook")
        [sent] = await fake.wait_sent(CHAT, 1)
        assert handed == [posted]
        assert sent.text == "echo: via webhook"
        assert fake.webhook_responses[-1] == 200

        async with httpx.AsyncClient() as client:
            response = await client.post(
                f"http://127.0.0.1:{port}/hook",
                json=fake.last_update(),
                headers={"X-Telegram-Bot-Api-Secret-Token": "wrong"},
            )
            assert response.status_code == 403
            response = await client.post(f"http://127.0.0.1:{port}/hook", json=fake.last_update())
            assert response.status_code == 403

        fake.push(fake.last_update())  # the same update again, as Telegram re-delivers
        await fake.wait_sent(CHAT, 2)
        assert fake.webhook_responses == [200, 200]
    finally:
        await app.updater.stop()
        await app.stop()
        await app.shutdown()
