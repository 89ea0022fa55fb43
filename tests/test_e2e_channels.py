"""End to end: a channel the bot posts to, its pace, its rights, source edits, review and takedown."""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from html import escape
from typing import Any

from bot.config import ChannelSettings, Settings, SourceSettings
from bot.emulator import EmulatorClient
from bot.storage import open_database
from tests.conftest import FeedServer
from tests.test_e2e_first_push import _subscribed_reader, _wait_for_poll

OWNER = 9001
MODERATOR = 9002
MODERATOR_2 = 9004
CHANNEL = -1001234
REVIEW_CHAT = -100777
READER = 5001


@dataclass
class Story:
    n: int
    title: str
    lead: str = ""
    image: bool = False
    category: str = "World news"


def _published(n: int) -> str:
    """Story n was published n minutes after story 0 (an hour ago): a higher n is newer."""
    moment = datetime.now(UTC) - timedelta(minutes=60 - n)
    return moment.strftime("%a, %d %b %Y %H:%M:%S +0000")


def _rss(feed_server: FeedServer, path: str, stories: list[Story]) -> None:
    items = "".join(
        f"<item><title>{escape(s.title)}</title><link>{feed_server.url(f'/news/{s.n}')}</link>"
        f'<guid isPermaLink="false">g{s.n}</guid><category>{escape(s.category)}</category>'
        f"<pubDate>{_published(s.n)}</pubDate>"
        + (
            f'<enclosure url="{feed_server.url(f"/img/{s.n}.jpg")}" type="image/jpeg" length="1"/>'
            if s.image
            else ""
        )
        + f"<description>{escape(s.lead)}</description></item>"
        for s in stories
    )
    feed_server.set(
        path,
        f'<?xml version="1.0"?><rss version="2.0"><channel><title>T</title>'
        f"<link>{feed_server.url('/')}</link>"
        f"<description>t</description>{items}</channel></rss>",
        content_type="application/rss+xml",
    )


async def _start(
    feed_server: FeedServer,
    control: EmulatorClient,
    make_settings: Callable[..., Settings],
    start_bot: Callable[[Settings], Awaitable[Any]],
    *channels: ChannelSettings,
    sources: tuple[SourceSettings, ...] = (),
    review_chat: int | None = None,
    fast_groups: bool = False,
) -> Settings:
    await control.add_chat(CHANNEL, "channel", title="Daily News", username="dailynews")
    await control.add_chat(REVIEW_CHAT, "supergroup", title="Desk", admins=[OWNER])
    sources = sources or (
        SourceSettings(id="site", name="Test Site", url=feed_server.url("/rss.xml"), interval=1),
    )
    for s in sources:
        _rss(feed_server, s.url.removeprefix(feed_server.base_url), [])
    # A review desk is a group, paced at 20 messages a minute; tests of its cards lift that.
    delivery = {"group_per_minute": 600.0} if fast_groups else {}
    if fast_groups:
        await control.set_limits(group_per_minute=600)
    settings = make_settings(*sources, admins=(OWNER,), **delivery)
    settings = replace(
        settings,
        bot=replace(settings.bot, review_chat=review_chat),
        ingest=replace(settings.ingest, fetch_articles=False),
        channels=channels,
    )
    await start_bot(settings)
    await control.send_text(OWNER, OWNER, "/start")
    await control.wait_for_messages(OWNER, 1, timeout=10)
    for s in sources:
        await _wait_for_poll(feed_server, s.url.removeprefix(feed_server.base_url), 1)
    return settings


async def _posts(control: EmulatorClient, count: int, timeout: float = 10) -> list[dict[str, Any]]:
    return await control.wait_for_messages(CHANNEL, count, timeout=timeout)


async def _said(control: EmulatorClient, chat: int, text: str, *, user: int | None = None, **kw: Any) -> str:
    before = len(await control.messages(chat))
    await control.send_text(chat, user or chat, text, **kw)
    return str((await control.wait_for_messages(chat, before + 1, timeout=10))[before]["text"])


async def _until(predicate: Callable[[], Awaitable[bool]], timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while not await predicate():
        if time.monotonic() > deadline:
            raise TimeoutError("condition not met")
        await asyncio.sleep(0.05)


async def test_photo_post_keeps_caption_within_1024_and_text_post_is_valid_html(
    feed_server: FeedServer,
    control: EmulatorClient,
    make_settings: Callable[..., Settings],
    start_bot: Callable[[Settings], Awaitable[Any]],
) -> None:
    footer = '<a href="https://t.me/dailynews">Subscribe</a> · <b>Daily</b>'
    channel = ChannelSettings(chat="@dailynews", min_interval=0, footer=footer, hashtags=True)
    await _start(feed_server, control, make_settings, start_bot, channel)
    _rss(
        feed_server,
        "/rss.xml",
        [  # newest first, as feeds list them: the oldest is stored, and posted, first
            Story(2, "Text story", "A short lead.", category="Sport"),
            Story(1, "Photo & story", "Word & more " * 200, image=True),
        ],
    )
    photo, text = await _posts(control, 2)  # story 1 is the older: it goes first
    assert photo["kind"] == "photo" and photo["method"] == "sendPhoto"
    assert len(photo["text"]) <= 1024
    assert photo["text"].startswith("World news\nPhoto & story\n\nWord & more Word & more")
    assert photo["text"].endswith("Read more →\n#WorldNews\n\nSubscribe · Daily")
    assert "<b>Photo &amp; story</b>" in photo["html"]
    assert text["kind"] == "text"
    assert text["text"] == "Sport\nText story\n\nA short lead.\n\nRead more →\n#Sport\n\nSubscribe · Daily"
    assert "<b>Text story</b>" in text["html"]
    assert f'<a href="{feed_server.url("/news/2")}">Read more →</a>' in text["html"]
    await asyncio.sleep(1)
    assert len(await control.messages(CHANNEL)) == 2  # each story once; no follow-up for a lead that fits


async def test_pacing_posts_one_per_interval_breaking_first_and_silent_hours_mute_them(
    feed_server: FeedServer,
    control: EmulatorClient,
    make_settings: Callable[..., Settings],
    start_bot: Callable[[Settings], Awaitable[Any]],
) -> None:
    now = datetime.now(UTC)
    silent = (f"{(now - timedelta(hours=1)):%H:%M}", f"{(now + timedelta(hours=1)):%H:%M}")
    channel = ChannelSettings(chat="@dailynews", min_interval=2.5, silent_hours=silent)
    site = SourceSettings(id="site", name="Site", url=feed_server.url("/rss.xml"), interval=1)
    wire = SourceSettings(id="wire", name="Wire", url=feed_server.url("/wire.xml"), interval=1, breaking=True)
    await _start(feed_server, control, make_settings, start_bot, channel, sources=(site, wire))
    _rss(feed_server, "/rss.xml", [Story(2, "Calm two"), Story(1, "Calm one")])  # newest first
    await _posts(control, 1)
    _rss(feed_server, "/wire.xml", [Story(3, "Sudden news")])
    posts = await _posts(control, 3, timeout=15)
    assert [p["text"].split("\n")[1] for p in posts] == ["Calm one", "Sudden news", "Calm two"]
    assert posts[1]["text"].startswith("🔴 Breaking")
    gaps = [b["t"] - a["t"] for a, b in itertools.pairwise(posts)]
    assert all(gap >= 2.4 for gap in gaps), gaps
    sends = [c for c in await control.transcript() if c["method"] in ("sendMessage", "sendPhoto")]
    to_channel = [c for c in sends if str(c["params"].get("chat_id")) == str(CHANNEL)]
    assert len(to_channel) == 3
    assert all(c["params"].get("disable_notification") in (True, "true") for c in to_channel)


async def test_channel_rights_lost_and_regained_pause_and_resume_posting_telling_admins_once(
    feed_server: FeedServer,
    control: EmulatorClient,
    make_settings: Callable[..., Settings],
    start_bot: Callable[[Settings], Awaitable[Any]],
) -> None:
    await _start(feed_server, control, make_settings, start_bot)
    # The bot is made an administrator of a channel nobody configured: the admins hear how to use it.
    await control.chat_member_update(CHANNEL, OWNER, "left", "administrator", chat_type="channel")
    hint = (await control.wait_for_messages(OWNER, 2, timeout=10))[-1]["text"]
    assert (
        hint.startswith("📣 I was made an administrator of the channel Daily News")
        and "/channel_add @dailynews" in hint
    )
    refused = await _said(control, OWNER, "/channel_add @dailynews min_interval=0 hashtags=maybe")
    assert refused.startswith("hashtags: must be yes or no\nUsage: /channel_add @name")
    refused = await _said(control, OWNER, "/channel_add @dailynews silent_hours=25:00-07:00")
    assert refused.startswith('silent_hours: must be "HH:MM-HH:MM"')
    refused = await _said(control, OWNER, '/channel_add @dailynews footer="<div>x</div>"')
    assert refused.startswith("footer: tag <div> is not allowed in Telegram HTML")
    await control.add_chat(-1009999, "channel", title="Other", username="othernews")
    await control.chat_member_update(
        -1009999, OWNER, "left", "administrator", chat_type="channel", can_post=False
    )
    refused = await _said(control, OWNER, "/channel_add @othernews")
    assert refused == "I need the right to post messages in @othernews. Make me an administrator with it."
    assert (await _said(control, OWNER, "/channel_add @dailynews min_interval=0")).startswith(
        "Posting to Daily News"
    )
    assert "@dailynews (admin) · ✅ posting" in await _said(control, OWNER, "/channels")

    told = len(await control.messages(OWNER))
    await control.chat_member_update(
        CHANNEL, OWNER, "administrator", "administrator", chat_type="channel", can_post=False
    )
    await control.chat_member_update(
        CHANNEL, OWNER, "administrator", "administrator", chat_type="channel", can_post=False
    )
    await control.wait_for_messages(OWNER, told + 1, timeout=10)
    _rss(feed_server, "/rss.xml", [Story(1, "Held while muted")])
    await _wait_for_poll(feed_server, "/rss.xml", feed_server.hits["/rss.xml"] + 3)
    assert await control.messages(CHANNEL) == []
    notes = [m["text"] for m in (await control.messages(OWNER))[told:]]
    assert notes == [
        "⏸ Posting to Daily News stopped: no right to post. Its stories wait until I may post again."
    ]

    await control.chat_member_update(
        CHANNEL, OWNER, "administrator", "administrator", chat_type="channel", can_post=True
    )
    posts = await _posts(control, 1)
    assert posts[0]["text"].split("\n")[1] == "Held while muted"
    assert (await control.messages(OWNER))[told + 1][
        "text"
    ] == "✅ I can post in Daily News again; posting resumes."

    await control.chat_member_update(CHANNEL, OWNER, "administrator", "left", chat_type="channel")
    await control.wait_for_messages(OWNER, told + 3, timeout=10)
    assert "removed from the channel" in (await control.messages(OWNER))[-1]["text"]
    assert (await _said(control, OWNER, "/channel_remove @dailynews")) == "No longer posting to @dailynews."
    assert await _said(control, OWNER, "/channels") == "No channels. Add one with /channel_add @name"


async def test_source_edit_updates_the_text_post_and_the_photo_caption(
    feed_server: FeedServer,
    control: EmulatorClient,
    make_settings: Callable[..., Settings],
    start_bot: Callable[[Settings], Awaitable[Any]],
) -> None:
    await _start(
        feed_server, control, make_settings, start_bot, ChannelSettings(chat="@dailynews", min_interval=0)
    )
    _rss(
        feed_server,
        "/rss.xml",
        [Story(2, "Photo title", "Lead.", image=True), Story(1, "First title", "Lead.")],
    )
    await _posts(control, 2)
    _rss(
        feed_server,
        "/rss.xml",
        [Story(1, "Corrected title", "Lead."), Story(2, "Photo title", "New lead.", image=True)],
    )

    async def both_edited() -> bool:
        return all(m["edited"] for m in await control.messages(CHANNEL))

    await _until(both_edited)
    posted = await control.messages(CHANNEL)
    text = next(m for m in posted if m["kind"] == "text")
    photo = next(m for m in posted if m["kind"] == "photo")
    assert text["text"].split("\n")[1] == "Corrected title" and text["edited"] == 1
    assert "New lead." in photo["text"] and photo["kind"] == "photo" and photo["edited"] == 1
    methods = {c["method"] for c in await control.transcript()}
    assert {"editMessageText", "editMessageCaption"} <= methods


async def _card(control: EmulatorClient, count: int = 1) -> dict[str, Any]:
    """The ``count``-th review card in the review chat, once it is there."""

    async def cards() -> list[dict[str, Any]]:
        return [m for m in await control.messages(REVIEW_CHAT) if m["text"].startswith("🛡 Review #")]

    async def arrived() -> bool:
        return len(await cards()) >= count

    await _until(arrived)
    return (await cards())[count - 1]


def _button(message: dict[str, Any], label: str) -> str:
    return next(
        b["callback_data"]
        for row in message["reply_markup"]["inline_keyboard"]
        for b in row
        if label in b["text"]
    )


async def test_review_edit_then_approve_posts_the_edited_version_and_reject_posts_nothing(
    feed_server: FeedServer,
    control: EmulatorClient,
    make_settings: Callable[..., Settings],
    start_bot: Callable[[Settings], Awaitable[Any]],
) -> None:
    channel = ChannelSettings(chat="@dailynews", min_interval=0, review=True)
    await _start(
        feed_server, control, make_settings, start_bot, channel, review_chat=REVIEW_CHAT, fast_groups=True
    )
    await _said(control, OWNER, f"/promote {MODERATOR} moderator")
    _rss(feed_server, "/rss.xml", [Story(1, "Needs a look", "Original lead.")])
    card = await _card(control)
    assert card["text"].startswith("🛡 Review #1 · for channel @dailynews · review")

    # A stranger's press changes nothing; a moderator's Edit asks for the new headline.
    await control.press_button(REVIEW_CHAT, 4242, card["message_id"], _button(card, "Approve"))
    await control.press_button(REVIEW_CHAT, MODERATOR, card["message_id"], _button(card, "Edit"))
    prompt = (await control.wait_for_messages(REVIEW_CHAT, 2, timeout=10))[1]
    assert prompt["text"].startswith("✏️ Review #1: reply to this message with the new headline.")
    await control.send_text(
        REVIEW_CHAT, MODERATOR, "Better headline", reply_to_message_id=prompt["message_id"]
    )
    await control.wait_for_messages(REVIEW_CHAT, 3, timeout=10)
    await control.press_button(REVIEW_CHAT, MODERATOR, card["message_id"], _button(card, "Edit"))
    prompt = (await control.wait_for_messages(REVIEW_CHAT, 4, timeout=10))[3]
    await control.send_text(
        REVIEW_CHAT, MODERATOR, "summary: A better lead.", reply_to_message_id=prompt["message_id"]
    )
    await control.wait_for_messages(REVIEW_CHAT, 5, timeout=10)
    card = (await control.messages(REVIEW_CHAT))[0]
    assert "Better headline ✏️" in card["text"] and "A better lead. ✏️" in card["text"]
    assert await control.messages(CHANNEL) == []

    await control.press_button(REVIEW_CHAT, MODERATOR, card["message_id"], _button(card, "Approve"))
    post = (await _posts(control, 1))[0]
    assert post["text"].startswith("World news\nBetter headline\n\nA better lead.")

    async def decided() -> bool:
        return "Approved by" in (await control.messages(REVIEW_CHAT))[0]["text"]

    await _until(decided)
    card = (await control.messages(REVIEW_CHAT))[0]
    assert (
        f"✅ Approved by User {MODERATOR} ({MODERATOR}) at " in card["text"] and card["reply_markup"] is None
    )

    _rss(feed_server, "/rss.xml", [Story(2, "Not for us"), Story(1, "Needs a look", "Original lead.")])
    second = await _card(control, 2)
    assert await _said(control, MODERATOR, "/queue") == (
        "Review queue: 1 item\n#2 · @dailynews · Not for us\n\n/approve ID or /reject ID"
    )
    assert await _said(control, MODERATOR, "/reject 2") == "Review #2 rejected."
    assert (
        await _said(control, MODERATOR, "/approve 2")
        == f"Review #2 was already rejected by User {MODERATOR}."
    )
    await asyncio.sleep(1.5)
    assert len(await control.messages(CHANNEL)) == 1
    assert (
        "❌ Rejected by"
        in next(m for m in await control.messages(REVIEW_CHAT) if m["message_id"] == second["message_id"])[
            "text"
        ]
    )


async def test_two_moderators_approving_at_once_decide_once(
    feed_server: FeedServer,
    control: EmulatorClient,
    make_settings: Callable[..., Settings],
    start_bot: Callable[[Settings], Awaitable[Any]],
) -> None:
    channel = ChannelSettings(chat="@dailynews", min_interval=0, review=True)
    settings = await _start(
        feed_server, control, make_settings, start_bot, channel, review_chat=REVIEW_CHAT, fast_groups=True
    )
    await _said(control, OWNER, f"/promote {MODERATOR} moderator")
    await _said(control, OWNER, f"/promote {MODERATOR_2} moderator")
    _rss(feed_server, "/rss.xml", [Story(1, "Contested")])
    card = await _card(control)
    approve = _button(card, "Approve")
    await asyncio.gather(
        control.press_button(REVIEW_CHAT, MODERATOR, card["message_id"], approve),
        control.press_button(REVIEW_CHAT, MODERATOR_2, card["message_id"], approve),
    )
    await _posts(control, 1)

    async def both_answered() -> bool:
        return all(c["answered"] for c in await control.callbacks())

    await _until(both_answered)
    answers = sorted(c["answer_text"] for c in await control.callbacks())
    assert answers[0] == "Review #1 approved."
    assert answers[1].startswith("Review #1 was already approved by User 900")
    await asyncio.sleep(1.5)
    assert len(await control.messages(CHANNEL)) == 1
    db = await open_database(settings.bot.db)
    try:
        assert await db.scalar("SELECT COUNT(*) FROM audit WHERE action = 'approve'") == 1
    finally:
        await db.close()


async def test_blocklist_holds_a_push_until_a_moderator_approves_it(
    feed_server: FeedServer,
    control: EmulatorClient,
    make_settings: Callable[..., Settings],
    start_bot: Callable[[Settings], Awaitable[Any]],
) -> None:
    await _start(feed_server, control, make_settings, start_bot, review_chat=REVIEW_CHAT, fast_groups=True)
    await _subscribed_reader(control, READER)
    assert await _said(control, OWNER, "/blocklist add Bakı") == "Added “Bakı”."
    assert await _said(control, OWNER, "/blocklist list") == "Blocklist: Bakı"
    _rss(feed_server, "/rss.xml", [Story(1, "News from BAKı today"), Story(2, "News from Baku")])
    await control.wait_for_messages(READER, 3, timeout=10)  # "Baku" is another word: not held
    card = await _card(control)
    assert "for readers' pushes · blocklist: bakı" in card["text"]
    assert [b["text"] for b in card["reply_markup"]["inline_keyboard"][0]] == ["✅ Approve", "❌ Reject"]
    assert [m["text"].split("\n")[0] for m in await control.messages(READER)][2:] == ["News from Baku"]
    assert await _said(control, OWNER, "/approve 1") == "Review #1 approved."
    await control.wait_for_messages(READER, 4, timeout=10)
    assert (await control.messages(READER))[3]["text"].split("\n")[0] == "News from BAKı today"


async def test_takedown_deletes_posts_and_recent_pushes_and_cancels_queued_rows(
    feed_server: FeedServer,
    control: EmulatorClient,
    make_settings: Callable[..., Settings],
    start_bot: Callable[[Settings], Awaitable[Any]],
) -> None:
    channel = ChannelSettings(chat="@dailynews", min_interval=0)
    settings = await _start(feed_server, control, make_settings, start_bot, channel)
    await _subscribed_reader(control, READER)
    await _subscribed_reader(control, READER + 1)
    await _subscribed_reader(control, READER + 2)
    assert (await _said(control, READER + 2, "/digest 23:59", user=READER + 2)).startswith("")
    _rss(feed_server, "/rss.xml", [Story(1, "Wrong story", "Lead.", image=True)])
    await _posts(control, 1)
    await control.wait_for_messages(READER, 3, timeout=10)
    await control.wait_for_messages(READER + 1, 3, timeout=10)
    pushed = (await control.messages(READER + 1))[2]
    await control.backdate(READER + 1, 49 * 3600, message_id=pushed["message_id"])  # too old to delete
    assert "Wrong story" in await _said(control, READER, "/latest")
    assert "Wrong story" in await _said(control, READER, "/search wrong story")

    await _said(control, OWNER, "/promote 9002 moderator")
    report = await _said(control, 9002, "/takedown 1 wrong person named")
    assert report == "Article 1 taken down: deleted 2, too old 1, failed 0, cancelled 1."
    assert (await control.messages(CHANNEL))[0]["deleted"]
    assert [m["deleted"] for m in await control.messages(READER)][2] is True
    assert "Wrong story" not in await _said(control, READER, "/latest")
    assert "Wrong story" not in await _said(control, READER, "/search wrong story")

    # A story still waiting for review is withdrawn: its card says so and loses its buttons.
    await _said(control, OWNER, "/blocklist add scandal")
    _rss(feed_server, "/rss.xml", [Story(2, "A scandal"), Story(1, "Wrong story", "Lead.", image=True)])

    async def card_arrived() -> bool:
        return any(m["text"].startswith("🛡 Review #") for m in await control.messages(OWNER))

    await _until(card_arrived)  # no review chat is configured: cards go to the first owner
    card = next(m for m in await control.messages(OWNER) if m["text"].startswith("🛡 Review #"))
    assert card["reply_markup"] is not None
    # Nothing of it was out yet; what was queued (its channel post, once the job took it) is cancelled.
    assert (await _said(control, 9002, "/takedown 2")).startswith(
        "Article 2 taken down: deleted 0, too old 0"
    )

    async def withdrawn() -> bool:
        return (
            "🗑 Taken down by User 9002 (9002)"
            in next(m for m in await control.messages(OWNER) if m["message_id"] == card["message_id"])["text"]
        )

    await _until(withdrawn)
    db = await open_database(settings.bot.db)
    try:
        assert await db.scalar("SELECT state FROM outbox WHERE chat_id = ?", (READER + 2,)) == "stale"
        assert await db.scalar("SELECT hidden FROM articles WHERE id = 1") == 1
    finally:
        await db.close()


async def test_a_post_refused_for_rights_waits_and_goes_out_when_rights_return(
    feed_server: FeedServer,
    control: EmulatorClient,
    make_settings: Callable[..., Settings],
    start_bot: Callable[[Settings], Awaitable[Any]],
) -> None:
    await _start(
        feed_server, control, make_settings, start_bot, ChannelSettings(chat="@dailynews", min_interval=0)
    )
    await control.set_fault("no_rights", chat_id=CHANNEL)  # rights taken away without a my_chat_member
    _rss(feed_server, "/rss.xml", [Story(1, "Must not be lost")])
    note = (await control.wait_for_messages(OWNER, 2, timeout=10))[1]["text"]
    assert note.startswith("⏸ Telegram refused my post in @dailynews: I may not post there.")
    assert "@dailynews (config) · ⏸ no right to post" in await _said(control, OWNER, "/channels")
    await control.chat_member_update(CHANNEL, OWNER, "administrator", "administrator", chat_type="channel")
    posts = await _posts(control, 1)
    assert posts[0]["text"].split("\n")[1] == "Must not be lost"
    await asyncio.sleep(1)
    assert len(await control.messages(CHANNEL)) == 1


async def test_a_configured_channel_that_cannot_be_reached_is_reported_once(
    feed_server: FeedServer,
    control: EmulatorClient,
    make_settings: Callable[..., Settings],
    start_bot: Callable[[Settings], Awaitable[Any]],
) -> None:
    await _start(feed_server, control, make_settings, start_bot, ChannelSettings(chat="@nosuchchannel"))
    note = (await control.wait_for_messages(OWNER, 2, timeout=10))[1]["text"]
    assert note.startswith("⏸ I cannot reach the channel @nosuchchannel (Chat not found).")
    assert "@nosuchchannel (config) · ⏸ not reachable yet" in await _said(control, OWNER, "/channels")
    await asyncio.sleep(1.5)
    assert len(await control.messages(OWNER)) == 3
