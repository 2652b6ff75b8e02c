"""An in-process fake of the Telegram Bot API HTTP server, for end-to-end tests over real HTTP.

A real python-telegram-bot ``Bot`` or ``Application`` talks to it through ``base_url``; tests produce
updates (``message``, ``callback``, ``push``), which are served by ``getUpdates`` or POSTed to the webhook
once ``setWebhook`` was called, and then read what the bot did (``calls``, ``sent_to``, ...).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any

import httpx
import tornado.httpserver
import tornado.netutil
import tornado.web

MAX_TEXT_LENGTH = 4096
MAX_CAPTION_LENGTH = 1024
_NOT_MODIFIED = (
    "Bad Request: message is not modified: specified new message content and reply markup are exactly "
    "the same as a current content and reply markup of the message"
)
_DEFAULT_RETRY_DESCRIPTION = "Too Many Requests: retry after N"
_JSON_PARAMS = frozenset(
    {
        "reply_markup",
        "scope",
        "commands",
        "allowed_updates",
        "entities",
        "caption_entities",
        "link_preview_options",
        "reply_parameters",
        "menu_button",
    }
)
_INT_PARAMS = frozenset(
    {
        "chat_id",
        "message_id",
        "offset",
        "limit",
        "timeout",
        "cache_time",
        "max_connections",
        "user_id",
        "message_thread_id",
        "reply_to_message_id",
    }
)
_BOOL_PARAMS = frozenset(
    {
        "drop_pending_updates",
        "show_alert",
        "disable_notification",
        "protect_content",
        "allow_sending_without_reply",
        "disable_web_page_preview",
    }
)
_KINDS = ("photo", "voice", "sticker", "document")
_WEBHOOK_RETRIES = 5
_WEBHOOK_RETRY_PAUSE = 0.2


@dataclass(frozen=True)
class Upload:
    """A file the bot uploaded with a call (multipart/form-data)."""

    filename: str
    content: bytes
    content_type: str


@dataclass(frozen=True)
class SentFile:
    """A picture or a document the bot sent."""

    kind: str  # "photo" or "document"
    name: str
    content: bytes


@dataclass
class SentMessage:
    """A message the bot sent, in its current state (``text``: a file's caption, when it is a file)."""

    chat_id: int
    message_id: int
    text: str
    reply_markup: dict[str, Any] | None
    parse_mode: str | None
    edits: list[str] = field(default_factory=list)
    deleted: bool = False
    file: SentFile | None = None

    @property
    def buttons(self) -> list[tuple[str, str]]:
        """(text, callback_data) of every inline button, row by row ("" for buttons without data)."""
        if not self.reply_markup:
            return []
        rows: list[list[dict[str, Any]]] = self.reply_markup.get("inline_keyboard", [])
        return [(str(b.get("text", "")), str(b.get("callback_data", ""))) for row in rows for b in row]


@dataclass
class Hold:
    """Calls held unanswered by ``BotApiFake.hold``: ``arrived`` once one came, until ``release()``."""

    method: str
    chat_id: int | None
    arrived: asyncio.Event = field(default_factory=asyncio.Event)
    released: asyncio.Event = field(default_factory=asyncio.Event)

    def release(self) -> None:
        self.released.set()


@dataclass
class Call:
    """One Bot API call as the fake received it."""

    method: str
    params: dict[str, Any]
    at: float
    ok: bool = True


@dataclass
class _Failure:
    error_code: int
    description: str
    retry_after: int | None


@dataclass
class _Pending:
    update: dict[str, Any]
    delivered: bool = False


class ApiError(Exception):
    """A Bot API error answer: ``{"ok": false, "error_code": ..., "description": ...}``."""

    def __init__(self, error_code: int, description: str, parameters: dict[str, Any] | None = None) -> None:
        super().__init__(description)
        self.error_code = error_code
        self.description = description
        self.parameters = parameters

    def body(self) -> dict[str, Any]:
        """The JSON answer."""
        body: dict[str, Any] = {"ok": False, "error_code": self.error_code, "description": self.description}
        if self.parameters:
            body["parameters"] = self.parameters
        return body


def _bad_request(what: str) -> ApiError:
    return ApiError(400, f"Bad Request: {what}")


def _decode(name: str, value: Any) -> Any:
    """Turn a form (or JSON-encoded) parameter value into its JSON value; texts stay strings."""
    if not isinstance(value, str):
        return value
    if name in _JSON_PARAMS:
        try:
            return json.loads(value)
        except ValueError:
            return value
    if name in _INT_PARAMS:
        try:
            return int(value)
        except ValueError:
            return value
    if name in _BOOL_PARAMS and value in ("true", "false"):
        return value == "true"
    return value


def _utf16_length(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def _scope_key(scope: Any) -> str:
    if not scope or scope == {"type": "default"}:
        return "default"
    return json.dumps(scope, sort_keys=True, separators=(",", ":"))


class _ApiHandler(tornado.web.RequestHandler):
    """``/bot<token>/<method>``: every Bot API method, by GET or POST."""

    fake: BotApiFake

    def initialize(self, fake: BotApiFake) -> None:
        self.fake = fake
        self.closed = False

    def on_connection_close(self) -> None:
        self.closed = True

    def check_xsrf_cookie(self) -> None:
        return None

    async def get(self, token: str, method: str) -> None:
        await self._answer(token, method)

    async def post(self, token: str, method: str) -> None:
        await self._answer(token, method)

    def _params(self) -> dict[str, Any]:
        raw: dict[str, Any] = {
            name: values[-1].decode("utf-8") for name, values in self.request.query_arguments.items()
        }
        content_type = self.request.headers.get("Content-Type", "")
        if content_type.startswith("application/json") and self.request.body:
            body = json.loads(self.request.body)
            if not isinstance(body, dict):
                raise _bad_request("JSON object expected")
            raw.update(body)
        else:
            raw.update(
                (name, values[-1].decode("utf-8")) for name, values in self.request.body_arguments.items()
            )
        for name, files in self.request.files.items():
            upload = files[-1]
            raw.setdefault(name, Upload(upload.filename, upload.body, upload.content_type))
        return {name: _decode(name, value) for name, value in raw.items()}

    async def _answer(self, token: str, method: str) -> None:
        if token != self.fake.token:
            self._send(ApiError(401, "Unauthorized").body(), 401)
            return
        try:
            params = self._params()
        except ValueError:
            self._send(_bad_request("can't parse request parameters").body(), 400)
            return
        status, body = await self.fake._handle(method, params, lambda: self.closed)
        self._send(body, status)

    def _send(self, body: dict[str, Any], status: int) -> None:
        self.set_status(status)
        self.set_header("Content-Type", "application/json")
        self.finish(json.dumps(body))


class _FileHandler(tornado.web.RequestHandler):
    """``/file/bot<token>/<path>``: no files are served."""

    def get(self, token: str, path: str) -> None:
        self.set_status(404)
        self.finish({"ok": False, "error_code": 404, "description": "Not Found"})


class BotApiFake:
    """A fake Telegram Bot API server on 127.0.0.1, running on the current asyncio loop."""

    def __init__(
        self,
        token: str = "123456:TEST-token-abcdefghijklmnopqrstuvwx",  # noqa: S107
        bot_username: str = "needs_test_bot",
    ) -> None:
        self.token = token
        self.bot_username = bot_username
        self.bot_id = int(token.split(":", 1)[0])
        self.calls: list[Call] = []
        # Observers, for timing: each call as it arrives, each update as it is handed to the bot.
        self.on_call: list[Callable[[Call], None]] = []
        self.on_handed_over: list[Callable[[dict[str, Any]], None]] = []
        self.answered_callbacks: list[dict[str, Any]] = []
        self.commands: dict[tuple[str, str | None], list[dict[str, Any]]] = {}
        self.webhook: dict[str, Any] | None = None
        self.webhook_responses: list[int] = []
        # How often a webhook update that failed is tried again (0.2 s apart) before it is dropped;
        # Telegram itself goes on for hours.
        self.webhook_retries = _WEBHOOK_RETRIES
        self._port: int | None = None
        self._server: tornado.httpserver.HTTPServer | None = None
        self._client: httpx.AsyncClient | None = None
        self._closing = False
        self._changed = asyncio.Event()
        self._pending: list[_Pending] = []
        self._last_update: dict[str, Any] | None = None
        self._next_update_id = 100_000
        self._next_callback_id = 1
        self._next_message_ids: dict[int, int] = {}
        self._chats: dict[int, dict[str, Any]] = {}
        self._sent: dict[int, list[SentMessage]] = {}
        self._raw: dict[tuple[int, int], dict[str, Any]] = {}
        self._failures: dict[str, list[_Failure]] = {}
        self._holds: list[Hold] = []
        self._allowed_updates: list[str] | None = None
        self._delivery: asyncio.Task[None] | None = None
        self._methods: dict[str, Callable[[dict[str, Any], Callable[[], bool]], Awaitable[Any]]] = {}
        for name, impl in self._method_table().items():
            self._methods[name.lower()] = impl

    # --- lifecycle ---

    async def start(self) -> None:
        """Listen on a free port of 127.0.0.1."""
        if self._server is not None:
            return
        app = tornado.web.Application(
            [
                (r"/bot([^/]+)/([A-Za-z]+)/?", _ApiHandler, {"fake": self}),
                (r"/file/bot([^/]+)/(.*)", _FileHandler),
            ]
        )
        sockets = tornado.netutil.bind_sockets(0, "127.0.0.1")
        self._port = int(sockets[0].getsockname()[1])
        self._server = tornado.httpserver.HTTPServer(app)
        self._server.add_sockets(sockets)
        self._client = httpx.AsyncClient(timeout=10.0)
        self._closing = False

    async def stop(self) -> None:
        """Stop serving, end long polls and webhook delivery, close the HTTP client."""
        self._closing = True
        self._notify()
        await self._stop_delivery()
        if self._server is not None:
            self._server.stop()
            await self._server.close_all_connections()
            self._server = None
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    async def __aenter__(self) -> BotApiFake:
        await self.start()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.stop()

    @property
    def port(self) -> int:
        """The port the fake listens on."""
        if self._port is None:
            raise RuntimeError("BotApiFake is not started")
        return self._port

    @property
    def base_url(self) -> str:
        """For ``ApplicationBuilder().base_url(...)``; PTB appends the token."""
        return f"http://127.0.0.1:{self.port}/bot"

    @property
    def base_file_url(self) -> str:
        """For ``ApplicationBuilder().base_file_url(...)``."""
        return f"http://127.0.0.1:{self.port}/file/bot"

    @property
    def bot_user(self) -> dict[str, Any]:
        """The bot's User object."""
        return {
            "id": self.bot_id,
            "is_bot": True,
            "first_name": "Needs Test Bot",
            "username": self.bot_username,
            "can_join_groups": True,
            "can_read_all_group_messages": False,
            "supports_inline_queries": False,
            "can_connect_to_business": False,
            "has_main_web_app": False,
        }

    # --- producing updates ---

    def message(
        self,
        user_id: int,
        text: str | None = None,
        *,
        chat_id: int | None = None,
        chat_type: str = "private",
        first_name: str = "Test",
        language_code: str | None = "zh",
        contact_phone: str | None = None,
        location: tuple[float, float] | None = None,
        kind: str | None = None,
        chat_title: str | None = None,
    ) -> int:
        """Produce a message update from a person; returns its update_id."""
        chat = self._chat(chat_id if chat_id is not None else user_id, chat_type, first_name, chat_title)
        user = self._user(user_id, first_name, language_code)
        message: dict[str, Any] = {
            "message_id": self._new_message_id(chat["id"]),
            "date": int(time.time()),
            "chat": chat,
            "from": user,
        }
        if kind is not None:
            message.update(self._attachment(kind, user_id))
            if text is not None:
                message["caption"] = text
        elif text is not None:
            message["text"] = text
            if text.startswith("/"):
                command = text.split(maxsplit=1)[0]
                message["entities"] = [{"type": "bot_command", "offset": 0, "length": _utf16_length(command)}]
        if contact_phone is not None:
            message["contact"] = {"phone_number": contact_phone, "first_name": first_name, "user_id": user_id}
        if location is not None:
            message["location"] = {"latitude": location[0], "longitude": location[1]}
        return self._produce({"message": message})

    def callback(
        self,
        user_id: int,
        message_id: int,
        data: str,
        *,
        chat_id: int | None = None,
        chat_type: str = "private",
        language_code: str | None = "zh",
    ) -> int:
        """Produce a button press on the bot's message ``message_id``; returns the update_id.

        An unknown message is embedded as an inaccessible message (``date`` 0), as Telegram does.
        """
        chat_id = chat_id if chat_id is not None else user_id
        raw = self._raw.get((chat_id, message_id))
        if raw is not None:
            message = json.loads(json.dumps(raw))
        else:
            chat = self._chat(chat_id, chat_type, "Test", None)
            message = {"chat": chat, "message_id": message_id, "date": 0}
        query_id = str(self._next_callback_id)
        self._next_callback_id += 1
        query = {
            "id": query_id,
            "from": self._user(user_id, "Test", language_code),
            "message": message,
            "chat_instance": f"ci{chat_id}",
            "data": data,
        }
        return self._produce({"callback_query": query})

    def push(self, update: dict[str, Any]) -> None:
        """Queue a raw update; its update_id is kept as given (one is added when missing)."""
        if "update_id" not in update:
            update = {"update_id": self._new_update_id(), **update}
        else:
            self._next_update_id = max(self._next_update_id, int(update["update_id"]) + 1)
        self._pending.append(_Pending(update))
        self._last_update = update
        self._notify()

    def last_update(self) -> dict[str, Any]:
        """The most recently produced update."""
        if self._last_update is None:
            raise LookupError("no update was produced yet")
        return self._last_update

    # --- failures ---

    def fail_next(
        self,
        method: str,
        *,
        retry_after: int | None = None,
        times: int = 1,
        error_code: int = 429,
        description: str = _DEFAULT_RETRY_DESCRIPTION,
    ) -> None:
        """Make the next ``times`` calls of ``method`` fail with that error."""
        if description == _DEFAULT_RETRY_DESCRIPTION and retry_after is not None:
            description = description.replace("N", str(retry_after))
        failures = self._failures.setdefault(method.lower(), [])
        failures.extend(_Failure(error_code, description, retry_after) for _ in range(times))

    def hold(self, method: str, chat_id: int | None = None) -> Hold:
        """Hold calls of ``method`` (for ``chat_id``, if given) unanswered until the hold is released;
        a call whose client went away meanwhile (a killed bot) is not carried out."""
        hold = Hold(method.lower(), chat_id)
        self._holds.append(hold)
        return hold

    async def _held_back(self, method: str, params: dict[str, Any], closed: Callable[[], bool]) -> None:
        for hold in self._holds:
            if hold.method == method.lower() and hold.chat_id in (None, params.get("chat_id")):
                hold.arrived.set()
                while not hold.released.is_set():
                    if closed():
                        raise ApiError(499, "client went away")
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(hold.released.wait(), 0.05)
                if closed():
                    raise ApiError(499, "client went away")

    # --- observing ---

    def sent_to(self, chat_id: int) -> list[SentMessage]:
        """Messages the bot sent to that chat, in order (deleted ones too, marked ``deleted``)."""
        return list(self._sent.get(chat_id, []))

    def message_by_id(self, chat_id: int, message_id: int) -> SentMessage:
        """The bot's message ``message_id`` in that chat."""
        for sent in self._sent.get(chat_id, []):
            if sent.message_id == message_id:
                return sent
        raise KeyError(f"the bot sent no message {message_id} to chat {chat_id}")

    def methods_called(self) -> list[str]:
        """The names of all calls so far, getUpdates left out."""
        return [call.method for call in self.calls if call.method != "getUpdates"]

    async def wait_for(self, predicate: Callable[[], bool], timeout: float = 10.0) -> None:  # noqa: ASYNC109
        """Wait until ``predicate()`` holds, polling every 10 ms."""
        deadline = time.monotonic() + timeout
        while not predicate():
            if time.monotonic() >= deadline:
                recent = [c for c in self.calls if c.method != "getUpdates"][-10:]
                lines = "\n".join(
                    f"  {c.method} ok={c.ok} {json.dumps(c.params, ensure_ascii=False)[:300]}" for c in recent
                )
                raise AssertionError(
                    f"condition not met within {timeout} s; "
                    f"last calls (getUpdates left out):\n{lines or '  none'}"
                )
            await asyncio.sleep(0.01)

    async def wait_sent(self, chat_id: int, count: int, timeout: float = 10.0) -> list[SentMessage]:  # noqa: ASYNC109
        """Wait until at least ``count`` messages were sent to ``chat_id``; returns them all."""
        await self.wait_for(lambda: len(self._sent.get(chat_id, [])) >= count, timeout)
        return self.sent_to(chat_id)

    # --- internals: updates ---

    def _handed_over(self, update: dict[str, Any]) -> None:
        for observe in self.on_handed_over:
            observe(update)

    def _notify(self) -> None:
        self._changed.set()
        self._changed = asyncio.Event()

    def _new_update_id(self) -> int:
        update_id = self._next_update_id
        self._next_update_id += 1
        return update_id

    def _produce(self, body: dict[str, Any]) -> int:
        update_id = self._new_update_id()
        self.push({"update_id": update_id, **body})
        return update_id

    def _new_message_id(self, chat_id: int) -> int:
        message_id = self._next_message_ids.get(chat_id, 1)
        self._next_message_ids[chat_id] = message_id + 1
        return message_id

    def _user(self, user_id: int, first_name: str, language_code: str | None) -> dict[str, Any]:
        user: dict[str, Any] = {"id": user_id, "is_bot": False, "first_name": first_name}
        if language_code is not None:
            user["language_code"] = language_code
        return user

    def _chat(self, chat_id: int, chat_type: str, first_name: str, title: str | None) -> dict[str, Any]:
        chat: dict[str, Any] = {"id": chat_id, "type": chat_type}
        if chat_type == "private":
            chat["first_name"] = first_name
        else:
            chat["title"] = title or "Group"
        self._chats[chat_id] = chat
        return dict(chat)

    def _known_chat(self, chat_id: int) -> dict[str, Any]:
        chat = self._chats.get(chat_id)
        if chat is None:
            if chat_id > 0:
                return {"id": chat_id, "type": "private", "first_name": "Test"}
            return {"id": chat_id, "type": "group", "title": "Group"}
        return dict(chat)

    @staticmethod
    def _attachment(kind: str, user_id: int) -> dict[str, Any]:
        file_id = f"{kind}-{user_id}-{time.monotonic_ns()}"
        unique = f"u{file_id}"
        if kind == "photo":
            sizes = [(90, 67, 1200), (320, 240, 15000)]
            return {
                "photo": [
                    {
                        "file_id": f"{file_id}-{w}",
                        "file_unique_id": f"{unique}-{w}",
                        "width": w,
                        "height": h,
                        "file_size": size,
                    }
                    for w, h, size in sizes
                ]
            }
        if kind == "voice":
            return {
                "voice": {
                    "file_id": file_id,
                    "file_unique_id": unique,
                    "duration": 3,
                    "mime_type": "audio/ogg",
                    "file_size": 4000,
                }
            }
        if kind == "sticker":
            return {
                "sticker": {
                    "file_id": file_id,
                    "file_unique_id": unique,
                    "type": "regular",
                    "width": 512,
                    "height": 512,
                    "is_animated": False,
                    "is_video": False,
                    "emoji": "🙂",
                }
            }
        if kind == "document":
            return {
                "document": {
                    "file_id": file_id,
                    "file_unique_id": unique,
                    "file_name": "file.pdf",
                    "mime_type": "application/pdf",
                    "file_size": 1000,
                }
            }
        raise ValueError(f"kind must be one of {_KINDS}, not {kind!r}")

    def _allowed(self, update: dict[str, Any]) -> bool:
        if not self._allowed_updates:
            return True
        return any(key in self._allowed_updates for key in update if key != "update_id")

    def _drop_disallowed(self) -> None:
        self._pending = [p for p in self._pending if self._allowed(p.update)]

    # --- internals: the API ---

    async def _handle(
        self, method: str, params: dict[str, Any], closed: Callable[[], bool]
    ) -> tuple[int, dict[str, Any]]:
        impl = self._methods.get(method.lower())
        call = Call(method=method, params=params, at=time.monotonic())
        self.calls.append(call)
        for observe in self.on_call:
            observe(call)
        try:
            if impl is None:
                raise ApiError(404, "Not Found")
            await self._held_back(method, params, closed)
            failures = self._failures.get(method.lower())
            if failures:
                failure = failures.pop(0)
                extra = {"retry_after": failure.retry_after} if failure.retry_after is not None else None
                raise ApiError(failure.error_code, failure.description, extra)
            result = await impl(params, closed)
        except ApiError as error:
            call.ok = False
            return error.error_code, error.body()
        return 200, {"ok": True, "result": result}

    def _method_table(self) -> dict[str, Callable[[dict[str, Any], Callable[[], bool]], Awaitable[Any]]]:
        async def true(params: dict[str, Any], closed: Callable[[], bool]) -> Any:
            return True

        return {
            "getMe": self._get_me,
            "getUpdates": self._get_updates,
            "setWebhook": self._set_webhook,
            "deleteWebhook": self._delete_webhook,
            "getWebhookInfo": self._get_webhook_info,
            "sendMessage": self._send_message,
            "sendPhoto": self._send_photo,
            "sendDocument": self._send_document,
            "editMessageText": self._edit_message_text,
            "editMessageReplyMarkup": self._edit_message_reply_markup,
            "answerCallbackQuery": self._answer_callback_query,
            "setMyCommands": self._set_my_commands,
            "deleteMyCommands": self._delete_my_commands,
            "getMyCommands": self._get_my_commands,
            "sendChatAction": true,
            "deleteMessage": self._delete_message,
            "setChatMenuButton": true,
            "getChatMenuButton": self._get_chat_menu_button,
            "close": true,
            "logOut": true,
        }

    async def _get_me(self, params: dict[str, Any], closed: Callable[[], bool]) -> Any:
        return self.bot_user

    async def _get_updates(self, params: dict[str, Any], closed: Callable[[], bool]) -> Any:
        if self.webhook is not None:
            raise ApiError(
                409,
                "Conflict: can't use getUpdates method while webhook is active; use deleteWebhook to "
                "delete the webhook first",
            )
        offset = int(params.get("offset") or 0)
        limit = min(max(int(params.get("limit") or 100), 1), 100)
        timeout = max(float(params.get("timeout") or 0), 0.0)
        if "allowed_updates" in params and isinstance(params["allowed_updates"], list):
            self._allowed_updates = params["allowed_updates"]
        if offset > 0:
            self._pending = [p for p in self._pending if not (p.delivered and p.update["update_id"] < offset)]
        elif offset < 0:
            self._pending = self._pending[offset:]
        deadline = time.monotonic() + timeout
        while True:
            self._drop_disallowed()
            if self._pending or self._closing or closed():
                break
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            changed = self._changed
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(changed.wait(), min(remaining, 0.5))
        if self.webhook is not None:
            return []
        batch = self._pending[:limit]
        for pending in batch:
            pending.delivered = True
            self._handed_over(pending.update)
        return [p.update for p in batch]

    async def _set_webhook(self, params: dict[str, Any], closed: Callable[[], bool]) -> Any:
        url = params.get("url")
        if not url:
            return await self._delete_webhook(params, closed)
        self.webhook = dict(params)
        if params.get("drop_pending_updates"):
            self._pending.clear()
        if isinstance(params.get("allowed_updates"), list):
            self._allowed_updates = params["allowed_updates"]
        for pending in self._pending:
            pending.delivered = False
        if self._delivery is None or self._delivery.done():
            self._delivery = asyncio.get_running_loop().create_task(self._deliver())
        self._notify()
        return True

    async def _delete_webhook(self, params: dict[str, Any], closed: Callable[[], bool]) -> Any:
        self.webhook = None
        if params.get("drop_pending_updates"):
            self._pending.clear()
        await self._stop_delivery()
        return True

    async def _get_webhook_info(self, params: dict[str, Any], closed: Callable[[], bool]) -> Any:
        info: dict[str, Any] = {
            "url": self.webhook["url"] if self.webhook else "",
            "has_custom_certificate": False,
            "pending_update_count": len(self._pending),
        }
        if self.webhook:
            info["max_connections"] = int(self.webhook.get("max_connections") or 40)
            if self.webhook.get("allowed_updates"):
                info["allowed_updates"] = self.webhook["allowed_updates"]
        return info

    async def _stop_delivery(self) -> None:
        task, self._delivery = self._delivery, None
        if task is not None and not task.done() and task is not asyncio.current_task():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _deliver(self) -> None:
        """POST pending updates to the webhook one at a time, in order."""
        while self.webhook is not None and not self._closing:
            self._drop_disallowed()
            if not self._pending:
                changed = self._changed
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(changed.wait(), 0.5)
                continue
            pending = self._pending[0]
            await self._post(pending.update)
            if pending in self._pending:
                self._pending.remove(pending)

    async def _post(self, update: dict[str, Any]) -> bool:
        """One update to the webhook, retried; each status (0 for no connection) goes to webhook_responses."""
        for attempt in range(self.webhook_retries + 1):
            webhook = self.webhook
            if webhook is None or self._client is None:
                return False
            headers = {"Content-Type": "application/json"}
            self._handed_over(update)
            if webhook.get("secret_token"):
                headers["X-Telegram-Bot-Api-Secret-Token"] = str(webhook["secret_token"])
            try:
                response = await self._client.post(
                    str(webhook["url"]), content=json.dumps(update), headers=headers
                )
                status = response.status_code
            except httpx.HTTPError:
                status = 0
            self.webhook_responses.append(status)
            if 200 <= status < 300:
                return True
            if attempt < self.webhook_retries:
                await asyncio.sleep(_WEBHOOK_RETRY_PAUSE)
        return False

    def _chat_id(self, params: dict[str, Any]) -> int:
        chat_id = params.get("chat_id")
        if isinstance(chat_id, bool) or not isinstance(chat_id, int):
            raise _bad_request("chat not found")
        return chat_id

    def _message_id(self, params: dict[str, Any]) -> int:
        message_id = params.get("message_id")
        if isinstance(message_id, bool) or not isinstance(message_id, int):
            raise _bad_request("message identifier is not specified")
        return message_id

    @staticmethod
    def _text(params: dict[str, Any]) -> str:
        text = params.get("text")
        if not isinstance(text, str) or not text.strip():
            raise _bad_request("message text is empty")
        if len(text) > MAX_TEXT_LENGTH:
            raise _bad_request("message is too long")
        return text

    @staticmethod
    def _markup(params: dict[str, Any]) -> dict[str, Any] | None:
        markup = params.get("reply_markup")
        if markup is None:
            return None
        if not isinstance(markup, dict):
            raise _bad_request("can't parse reply keyboard markup JSON object")
        if "inline_keyboard" in markup:
            rows = markup["inline_keyboard"]
            if not isinstance(rows, list) or not all(isinstance(row, list) for row in rows):
                raise _bad_request('field "inline_keyboard" of the InlineKeyboardMarkup should be an Array')
            for row in rows:
                for button in row:
                    if not isinstance(button, dict) or not isinstance(button.get("text"), str):
                        raise _bad_request("can't parse inline keyboard button")
                    data = button.get("callback_data")
                    if data is not None and not (isinstance(data, str) and 1 <= len(data.encode()) <= 64):
                        raise _bad_request("BUTTON_DATA_INVALID")
        return markup

    def _message_dict(self, sent: SentMessage, date: int) -> dict[str, Any]:
        message: dict[str, Any] = {
            "message_id": sent.message_id,
            "date": date,
            "chat": self._known_chat(sent.chat_id),
            "from": self.bot_user,
        }
        file = sent.file
        if file is None:
            message["text"] = sent.text
        else:
            unique = hashlib.sha256(file.content).hexdigest()[:16]
            if file.kind == "photo":
                message["photo"] = [
                    {"file_id": f"p{unique}", "file_unique_id": unique, "width": 700, "height": 400}
                ]
            else:
                message["document"] = {
                    "file_id": f"d{unique}",
                    "file_unique_id": unique,
                    "file_name": file.name,
                    "file_size": len(file.content),
                }
            if sent.text:
                message["caption"] = sent.text
        if sent.reply_markup and "inline_keyboard" in sent.reply_markup:
            message["reply_markup"] = sent.reply_markup
        return message

    async def _send_photo(self, params: dict[str, Any], closed: Callable[[], bool]) -> Any:
        return self._send_file("photo", params)

    async def _send_document(self, params: dict[str, Any], closed: Callable[[], bool]) -> Any:
        return self._send_file("document", params)

    def _send_file(self, kind: str, params: dict[str, Any]) -> dict[str, Any]:
        """A picture or a document uploaded with the call (the fake keeps no files to send by id)."""
        chat_id = self._chat_id(params)
        upload = params.get(kind)
        if not isinstance(upload, Upload):
            raise _bad_request(f"there is no {kind} in the request")
        if kind == "photo" and not upload.content.startswith((b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff")):
            raise _bad_request("IMAGE_PROCESS_FAILED")
        if len(upload.content) > (10 if kind == "photo" else 50) * 1024 * 1024:
            raise ApiError(413, "Request Entity Too Large")
        caption = params.get("caption") or ""
        if not isinstance(caption, str) or _utf16_length(caption) > MAX_CAPTION_LENGTH:
            raise _bad_request("message caption is too long")
        sent = SentMessage(
            chat_id=chat_id,
            message_id=self._new_message_id(chat_id),
            text=caption,
            reply_markup=self._markup(params),
            parse_mode=None,
            file=SentFile(kind, upload.filename, upload.content),
        )
        self._sent.setdefault(chat_id, []).append(sent)
        raw = self._message_dict(sent, int(time.time()))
        self._raw[(chat_id, sent.message_id)] = raw
        return raw

    async def _send_message(self, params: dict[str, Any], closed: Callable[[], bool]) -> Any:
        chat_id = self._chat_id(params)
        text = self._text(params)
        markup = self._markup(params)
        parse_mode = params.get("parse_mode")
        sent = SentMessage(
            chat_id=chat_id,
            message_id=self._new_message_id(chat_id),
            text=text,
            reply_markup=markup,
            parse_mode=parse_mode if isinstance(parse_mode, str) else None,
        )
        self._sent.setdefault(chat_id, []).append(sent)
        raw = self._message_dict(sent, int(time.time()))
        self._raw[(chat_id, sent.message_id)] = raw
        return raw

    def _editable(self, params: dict[str, Any]) -> tuple[SentMessage, dict[str, Any]]:
        if "inline_message_id" in params:
            raise _bad_request("inline messages are not supported by the fake")
        chat_id = self._chat_id(params)
        message_id = self._message_id(params)
        raw = self._raw.get((chat_id, message_id))
        if raw is None:
            raise _bad_request("message to edit not found")
        sent = self.message_by_id(chat_id, message_id)
        if sent.deleted:
            raise _bad_request("message to edit not found")
        return sent, raw

    def _store_edit(self, sent: SentMessage, raw: dict[str, Any]) -> dict[str, Any]:
        new_raw = self._message_dict(sent, int(raw["date"]))
        new_raw["edit_date"] = int(time.time())
        self._raw[(sent.chat_id, sent.message_id)] = new_raw
        return new_raw

    async def _edit_message_text(self, params: dict[str, Any], closed: Callable[[], bool]) -> Any:
        sent, raw = self._editable(params)
        if sent.file is not None:
            raise _bad_request("there is no text in the message to edit")
        text = self._text(params)
        markup = self._markup(params)
        if text == sent.text and markup == sent.reply_markup:
            raise _bad_request(_NOT_MODIFIED[len("Bad Request: ") :])
        sent.edits.append(sent.text)
        sent.text = text
        sent.reply_markup = markup
        parse_mode = params.get("parse_mode")
        sent.parse_mode = parse_mode if isinstance(parse_mode, str) else None
        return self._store_edit(sent, raw)

    async def _edit_message_reply_markup(self, params: dict[str, Any], closed: Callable[[], bool]) -> Any:
        sent, raw = self._editable(params)
        markup = self._markup(params)
        if markup == sent.reply_markup:
            raise _bad_request(_NOT_MODIFIED[len("Bad Request: ") :])
        sent.reply_markup = markup
        return self._store_edit(sent, raw)

    async def _answer_callback_query(self, params: dict[str, Any], closed: Callable[[], bool]) -> Any:
        if not params.get("callback_query_id"):
            raise _bad_request("query is too old and response timeout expired or query ID is invalid")
        self.answered_callbacks.append(params)
        return True

    @staticmethod
    def _commands_key(params: dict[str, Any]) -> tuple[str, str | None]:
        language = params.get("language_code")
        return _scope_key(params.get("scope")), language if isinstance(language, str) and language else None

    async def _set_my_commands(self, params: dict[str, Any], closed: Callable[[], bool]) -> Any:
        commands = params.get("commands")
        if not isinstance(commands, list):
            raise _bad_request('parameter "commands" is required')
        for command in commands:
            name = command.get("command") if isinstance(command, dict) else None
            description = command.get("description") if isinstance(command, dict) else None
            if not (isinstance(name, str) and 1 <= len(name) <= 32):
                raise _bad_request("BOT_COMMAND_INVALID")
            if not all(c.islower() or c.isdigit() or c == "_" for c in name) or not name.isascii():
                raise _bad_request("BOT_COMMAND_INVALID")
            if not (isinstance(description, str) and 1 <= len(description) <= 256):
                raise _bad_request("BOT_COMMAND_DESCRIPTION_INVALID")
        self.commands[self._commands_key(params)] = commands
        return True

    async def _delete_my_commands(self, params: dict[str, Any], closed: Callable[[], bool]) -> Any:
        self.commands.pop(self._commands_key(params), None)
        return True

    async def _get_my_commands(self, params: dict[str, Any], closed: Callable[[], bool]) -> Any:
        return self.commands.get(self._commands_key(params), [])

    async def _delete_message(self, params: dict[str, Any], closed: Callable[[], bool]) -> Any:
        chat_id = self._chat_id(params)
        message_id = self._message_id(params)
        for sent in self._sent.get(chat_id, []):
            if sent.message_id == message_id and not sent.deleted:
                sent.deleted = True
                return True
        if (chat_id, message_id) in self._raw or message_id >= self._next_message_ids.get(chat_id, 1):
            raise _bad_request("message to delete not found")
        return True

    async def _get_chat_menu_button(self, params: dict[str, Any], closed: Callable[[], bool]) -> Any:
        return {"type": "commands"}
