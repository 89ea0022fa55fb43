"""End to end: Summary and Related buttons, /summary, /related, /search, inline mode, limits."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import replace
from typing import Any

import pytest

from bot.app import build_application, running
from bot.config import Settings, SourceSettings
from bot.emulator import EmulatorClient
from bot.reading.limits import Rate, ReaderLimits
from bot.render.html import utf16_len
from tests.conftest import FeedItemSpec, FeedServer
from tests.test_e2e_first_push import _wait_for_poll

READER = 7001
OTHER = 7002


def _page(title: str, paragraphs: list[str], read_also: Sequence[tuple[str, str]] = ()) -> str:
    body = "".join(f"<p>{p}</p>" for p in paragraphs)
    links = "".join(f'<li><a href="{url}">{name}</a></li>' for name, url in read_also)
    block = f'<div class="read-also"><h3>Read also</h3><ul>{links}</ul></div>' if links else ""
    head = f"<html><head><title>{title}</title></head>"
    return f"{head}<body><article><h1>{title}</h1>{body}</article>{block}</body></html>"


HARBOUR = [
    "A strong storm reached the harbour on Monday night, cutting power to thousands of homes on the shore.",
    "Rescue teams worked through the night and the harbour is expected to reopen on Wednesday.",
    "Engineers will assess the damage to the piers before ships are allowed back into the harbour.",
    "Subscribe to our Telegram channel for the latest news.",
]


# Distinct enough that no two titles tell "the same story" (those are left out of related reads).
TOPICS = [
    "piers damaged by the storm",
    "ships wait offshore",
    "fishermen count their losses",
    "engineers inspect the cranes",
    "ferry timetable changes",
    "mayor visits the docks",
    "insurers send assessors",
]


async def _reader(control: EmulatorClient, chat_id: int) -> None:
    await control.send_text(chat_id, chat_id, "/start", first_name="Reader")
    await control.send_text(chat_id, chat_id, "/subscribe all")
    await control.wait_for_messages(chat_id, 2, timeout=10)


async def _wait_for(
    control: EmulatorClient, chat_id: int, check: Callable[[dict[str, Any]], bool], timeout: float = 10
) -> dict[str, Any]:
    """The newest message of a chat that passes ``check`` (edits included), once there is one."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        for message in reversed(await control.messages(chat_id)):
            if check(message):
                return message
        if asyncio.get_running_loop().time() > deadline:
            texts = [m["text"][:80] for m in await control.messages(chat_id)]
            raise TimeoutError(f"no such message in {chat_id}: {texts}")
        await asyncio.sleep(0.05)


def _buttons(message: dict[str, Any]) -> list[dict[str, Any]]:
    return [b for row in (message.get("reply_markup") or {}).get("inline_keyboard", []) for b in row]


def _data(message: dict[str, Any], label: str) -> str:
    return next(b["callback_data"] for b in _buttons(message) if label in b["text"] and "callback_data" in b)


async def _ask(control: EmulatorClient, chat_id: int, text: str) -> dict[str, Any]:
    before = len(await control.messages(chat_id))
    await control.send_text(chat_id, chat_id, text)
    return (await control.wait_for_messages(chat_id, before + 1, timeout=10))[-1]


@pytest.fixture
async def site(feed_server: FeedServer, control: EmulatorClient) -> AsyncIterator[FeedServer]:
    """A news site with a backlog of harbour stories and their pages; Telegram's limits lifted for speed."""
    await control.set_limits(global_per_second=None, chat_per_second=None, group_per_minute=None)
    items = []
    for n, topic in enumerate(TOPICS, 1):
        url = feed_server.url(f"/news/{n}")
        items.append(FeedItemSpec(f"h{n}", f"Harbour story {n}: {topic}", url, description="Harbour news"))
        feed_server.set(f"/news/{n}", _page(f"Harbour story {n}", HARBOUR))
    feed_server.set_rss("/rss.xml", items)
    yield feed_server


def _settings(make_settings: Callable[..., Settings], site: FeedServer, **ingest: Any) -> Settings:
    source = SourceSettings(id="site", name="Harbour Times", url=site.url("/rss.xml"), interval=1)
    settings = make_settings(source, chat_per_second=50, global_per_second=100)
    return replace(settings, ingest=replace(settings.ingest, **ingest)) if ingest else settings


async def _push_new(site: FeedServer, control: EmulatorClient, n: int, page: str) -> dict[str, Any]:
    """Publish story n and return the message pushed to READER."""
    url = site.url(f"/news/{n}")
    site.set(f"/news/{n}", page)
    items = [FeedItemSpec(f"h{n}", f"Breaking story {n}", url, description="A lead from the feed.")]
    site.set_rss("/rss.xml", items)
    return await _wait_for(control, READER, lambda m: m["text"].startswith(f"Breaking story {n}"))


async def test_summary_press_expands_in_place_and_second_press_collapses(
    site: FeedServer,
    control: EmulatorClient,
    make_settings: Callable[..., Settings],
    start_bot: Callable[[Settings], Awaitable[Any]],
) -> None:
    await start_bot(_settings(make_settings, site))
    await _reader(control, READER)
    await _wait_for_poll(site, "/rss.xml", 2)
    pushed = await _push_new(site, control, 20, _page("Breaking story 20", HARBOUR))
    labels = [b["text"] for b in _buttons(pushed)]
    assert any("Summary" in t for t in labels) and any("Related" in t for t in labels)
    assert any(b.get("url") == site.url("/news/20") for b in _buttons(pushed))
    collapsed_html = pushed["html"]

    await control.press_button(READER, READER, pushed["message_id"], _data(pushed, "Summary"))
    expanded = await _wait_for(
        control,
        READER,
        lambda m: m["message_id"] == pushed["message_id"] and "<blockquote expandable>" in m["html"],
    )
    assert "A strong storm reached the harbour" in expanded["text"]
    assert "Telegram channel" not in expanded["text"]
    assert any(e["type"] == "expandable_blockquote" for e in expanded["entities"])
    assert len([m for m in await control.messages(READER) if m["text"].startswith("Breaking story 20")]) == 1

    await control.press_button(READER, READER, pushed["message_id"], _data(expanded, "Summary"))
    back = await _wait_for(
        control, READER, lambda m: m["message_id"] == pushed["message_id"] and "blockquote" not in m["html"]
    )
    assert back["html"] == collapsed_html
    assert all(c["answered"] for c in await control.callbacks())


async def test_summary_of_an_unfetched_page_says_fetching_then_expands(
    site: FeedServer,
    control: EmulatorClient,
    make_settings: Callable[..., Settings],
    start_bot: Callable[[Settings], Awaitable[Any]],
) -> None:
    await start_bot(_settings(make_settings, site, fetch_articles=False))
    await _reader(control, READER)
    await _wait_for_poll(site, "/rss.xml", 2)
    pushed = await _push_new(site, control, 21, _page("Breaking story 21", HARBOUR))
    assert site.hits.get("/news/21", 0) == 0
    await control.press_button(READER, READER, pushed["message_id"], _data(pushed, "Summary"))
    await _wait_for(control, READER, lambda m: "<blockquote expandable>" in m["html"])
    assert site.hits["/news/21"] == 1
    assert [c["answer_text"] for c in await control.callbacks()] == ["Fetching the article…"]


async def test_summary_of_an_unfetched_page_reads_it_with_the_sources_preset(
    site: FeedServer,
    control: EmulatorClient,
    make_settings: Callable[..., Settings],
    start_bot: Callable[[Settings], Awaitable[Any]],
) -> None:
    settings = _settings(make_settings, site, fetch_articles=False)
    source = replace(settings.sources[0], preset="caliber", timezone="Asia/Baku")
    await start_bot(replace(settings, sources=(source,)))
    await _reader(control, READER)
    await _wait_for_poll(site, "/rss.xml", 2)
    # Only the preset's selectors know where this outlet prints a story's section.
    body = "".join(f"<p>{p}</p>" for p in HARBOUR[:3])
    page = (
        "<html><head><title>Breaking story 24</title></head><body><div class='post'>"
        "<div class='post_category'>WEATHER DESK</div><h1 class='post_title'>Breaking story 24</h1>"
        f"<div class='post_body'>{body}</div></div></body></html>"
    )
    pushed = await _push_new(site, control, 24, page)
    assert "WEATHER DESK" not in pushed["text"]
    await control.press_button(READER, READER, pushed["message_id"], _data(pushed, "Summary"))
    expanded = await _wait_for(control, READER, lambda m: "<blockquote expandable>" in m["html"])
    assert "WEATHER DESK" in expanded["text"]
    assert "Rescue teams worked through the night" in expanded["text"]


async def test_summary_falls_back_to_the_lead_when_the_page_cannot_be_fetched(
    site: FeedServer,
    control: EmulatorClient,
    make_settings: Callable[..., Settings],
    start_bot: Callable[[Settings], Awaitable[Any]],
) -> None:
    await start_bot(_settings(make_settings, site, fetch_articles=False))
    await _reader(control, READER)
    await _wait_for_poll(site, "/rss.xml", 2)
    pushed = await _push_new(site, control, 23, "gone")
    site.set("/news/23", "gone", status=404)
    await control.press_button(READER, READER, pushed["message_id"], _data(pushed, "Summary"))
    expanded = await _wait_for(control, READER, lambda m: "<blockquote expandable>" in m["html"])
    assert "A lead from the feed." in expanded["text"]
    assert "Summary of the lead; the page could not be fetched." in expanded["text"]
    await control.press_button(READER, READER, pushed["message_id"], _data(expanded, "Summary"))
    await _wait_for(
        control, READER, lambda m: m["message_id"] == pushed["message_id"] and "blockquote" not in m["html"]
    )
    collapsed = await _wait_for(control, READER, lambda m: m["message_id"] == pushed["message_id"])
    await control.press_button(READER, READER, pushed["message_id"], _data(collapsed, "Summary"))
    again = await _wait_for(control, READER, lambda m: "<blockquote expandable>" in m["html"])
    assert "Summary of the lead; the page could not be fetched." in again["text"]
    assert site.hits["/news/23"] == 1  # tried once, not on every press


async def test_related_lists_read_also_first_then_similar_stored_articles(
    site: FeedServer,
    control: EmulatorClient,
    make_settings: Callable[..., Settings],
    start_bot: Callable[[Settings], Awaitable[Any]],
) -> None:
    await start_bot(_settings(make_settings, site))
    await _reader(control, READER)
    await _wait_for_poll(site, "/rss.xml", 2)
    page = _page(
        "Breaking story 22", HARBOUR, [("How harbours prepare for storms", "https://else.example/prep")]
    )
    pushed = await _push_new(site, control, 22, page)
    await _wait_for_poll(site, "/news/22", 1)
    await asyncio.sleep(0.3)  # the page is stored right after it is fetched
    await control.press_button(READER, READER, pushed["message_id"], _data(pushed, "Related"))
    reply = await _wait_for(control, READER, lambda m: m["text"].startswith("Related to"))
    lines = [line for line in reply["text"].split("\n") if line[:2] in {f"{n}." for n in range(1, 6)}]
    assert lines[0] == "1. How harbours prepare for storms"
    assert len(lines) == 5 and all("Harbour story" in line for line in lines[1:])
    assert "Read also" in reply["text"].split("\n\n")[1]
    assert any("Summary 2" in b["text"] for b in _buttons(reply))


async def test_search_is_paged_with_next_and_previous(
    site: FeedServer,
    control: EmulatorClient,
    make_settings: Callable[..., Settings],
    start_bot: Callable[[Settings], Awaitable[Any]],
) -> None:
    await start_bot(_settings(make_settings, site))
    await _ask(control, READER, "/start")
    await _wait_for_poll(site, "/rss.xml", 2)
    first = await _ask(control, READER, "/search harbour STORY")
    assert first["text"].startswith("Search: harbour STORY (page 1)")
    assert first["text"].count("Harbour story") == 5
    await control.press_button(READER, READER, first["message_id"], _data(first, "Next"))
    second = await _wait_for(control, READER, lambda m: "(page 2)" in m["text"])
    assert second["message_id"] == first["message_id"]
    assert second["text"].count("Harbour story") == 2
    assert not any("Next" in b["text"] for b in _buttons(second))
    await control.press_button(READER, READER, first["message_id"], _data(second, "Previous"))
    await _wait_for(control, READER, lambda m: "(page 1)" in m["text"])
    nothing = await _ask(control, READER, '/search "no such words anywhere"')
    assert nothing["text"] == 'Nothing found for “"no such words anywhere"”.'


async def test_inline_query_is_answered_and_empty_on_no_match(
    site: FeedServer,
    control: EmulatorClient,
    make_settings: Callable[..., Settings],
    start_bot: Callable[[Settings], Awaitable[Any]],
) -> None:
    await start_bot(_settings(make_settings, site))
    await _wait_for_poll(site, "/rss.xml", 2)
    await asyncio.sleep(0.3)
    found = await control.wait_for_inline_answer(await control.inline_query(READER, "harbour story 3"))
    assert found["results"][0]["title"] == "Harbour story 3: fishermen count their losses"
    content = found["results"][0]["input_message_content"]["message_text"]
    assert "<blockquote expandable>" in content
    none = await control.wait_for_inline_answer(await control.inline_query(READER, "xylophone"))
    assert none["results"] == []
    newest = await control.wait_for_inline_answer(await control.inline_query(READER, ""))
    assert len(newest["results"]) == 7


async def test_unknown_and_malformed_ids_get_a_clear_answer(
    site: FeedServer,
    control: EmulatorClient,
    make_settings: Callable[..., Settings],
    start_bot: Callable[[Settings], Awaitable[Any]],
) -> None:
    await start_bot(_settings(make_settings, site))
    await _ask(control, READER, "/start")
    await _wait_for_poll(site, "/rss.xml", 2)
    assert (await _ask(control, READER, "/summary 987654"))["text"].startswith("No article with id 987654")
    assert (await _ask(control, READER, "/related abc"))["text"].startswith("That is not an article id")
    assert (await _ask(control, READER, "/summary"))["text"] == "Usage: /summary ID|URL"
    assert (await _ask(control, READER, "/summary ²"))["text"].startswith("That is not an article id")
    listing = await _ask(control, READER, "/latest 1")
    await control.press_button(READER, READER, listing["message_id"], "sm:987654:abcd:r", force=True)
    await control.press_button(READER, READER, listing["message_id"], "sm:nonsense", force=True)
    await control.press_button(READER, READER, listing["message_id"], "sm:²:abcd:x", force=True)
    await asyncio.sleep(0.5)
    answers = [c["answer_text"] for c in await control.callbacks()]
    assert answers == ["This article is no longer stored."] * 3


async def test_private_address_url_is_refused_without_any_request(
    site: FeedServer,
    control: EmulatorClient,
    make_settings: Callable[..., Settings],
    start_bot: Callable[[Settings], Awaitable[Any]],
) -> None:
    await start_bot(_settings(make_settings, site))
    # Its answer awaited: counted late, it would be taken for the next command's (the source's
    # first poll runs at start-up, beside it).
    await _ask(control, READER, "/start")
    reply = await _ask(control, READER, f"/summary {site.url('/secret')}")
    assert reply["text"].startswith("That address is not allowed")
    reply = await _ask(control, READER, "/related http://10.1.2.3/admin")
    assert reply["text"].startswith("That address is not allowed")
    assert "/secret" not in site.hits


async def test_a_link_sent_alone_gets_its_summary_and_a_private_one_is_refused(
    site: FeedServer,
    control: EmulatorClient,
    make_settings: Callable[..., Settings],
    start_bot: Callable[[Settings], Awaitable[Any]],
) -> None:
    await start_bot(_settings(make_settings, site))
    await _ask(control, READER, "/start")
    await _wait_for_poll(site, "/rss.xml", 2)
    stored = await _ask(control, READER, site.url("/news/2"))
    assert stored["text"].startswith("Harbour story 2: ships wait offshore")
    assert "<blockquote expandable>" in stored["html"]
    refused = await _ask(control, READER, "http://192.168.1.1/router")
    assert refused["text"].startswith("That address is not allowed")


async def test_per_reader_limit_answers_politely_and_slows_nobody_else(
    site: FeedServer,
    control: EmulatorClient,
    make_settings: Callable[..., Settings],
    start_bot: Callable[[Settings], Awaitable[Any]],
) -> None:
    app = await start_bot(_settings(make_settings, site))
    app.bot_data.reader_limits = ReaderLimits({"fetch": Rate(1, 0.01), "search": Rate(2, 0.01)})
    await _ask(control, READER, "/start")
    await control.send_text(OTHER, OTHER, "/start")
    await _wait_for_poll(site, "/rss.xml", 2)
    for _ in range(2):
        assert (await _ask(control, READER, "/search harbour"))["text"].startswith("Search:")
    assert (await _ask(control, READER, "/search harbour"))["text"].startswith("You are searching quickly")
    assert (await _ask(control, OTHER, "/search harbour"))["text"].startswith("Search:")


async def test_long_cyrillic_summary_stays_within_telegram_limits(
    site: FeedServer,
    control: EmulatorClient,
    make_settings: Callable[..., Settings],
    start_bot: Callable[[Settings], Awaitable[Any]],
) -> None:
    long_sentences = [
        "Правительство объявило о новой программе поддержки малого и среднего бизнеса в регионах страны "
        + "и о льготных кредитах для фермеров " * 12
        + f"номер {n}."
        for n in range(12)
    ]
    site.set("/news/1", _page("Программа поддержки бизнеса", long_sentences))
    await start_bot(_settings(make_settings, site))
    await _ask(control, READER, "/start")
    await _wait_for_poll(site, "/news/1", 1)
    await asyncio.sleep(0.3)
    latest = await _ask(control, READER, "/latest 7")
    article_id = latest["text"].split("Harbour story 1:")[1].split("ID ")[1].split()[0]
    reply = await _ask(control, READER, f"/summary {article_id}")
    assert "<blockquote expandable>" in reply["html"]
    assert "Правительство объявило" in reply["text"]
    assert utf16_len(reply["text"]) <= 4096


async def test_buttons_on_old_messages_keep_working_after_a_restart(
    site: FeedServer, control: EmulatorClient, make_settings: Callable[..., Settings]
) -> None:
    settings = _settings(make_settings, site)
    await control.send_text(READER, READER, "/start")
    async with running(build_application(settings)):
        await _wait_for_poll(site, "/rss.xml", 2)
        latest = await _ask(control, READER, "/latest 3")
    async with running(build_application(settings)):
        await control.press_button(READER, READER, latest["message_id"], _data(latest, "Summary 1"))
        reply = await _wait_for(control, READER, lambda m: "<blockquote expandable>" in m["html"])
    first_item = latest["text"].split("\n")[2].removeprefix("1. ")
    assert first_item.startswith("Harbour story")
    assert reply["text"].startswith(first_item)
