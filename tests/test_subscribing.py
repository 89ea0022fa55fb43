"""Parsing /subscribe arguments, and the callback data its buttons carry."""

from __future__ import annotations

import pytest

from bot.models import Subscription
from bot.render import callbacks
from bot.render.keyboards import remove_buttons, subscribe_menu
from bot.subscribing import UsageError, Wanted, parse_wanted


@pytest.mark.parametrize(
    ("args", "wanted"),
    [
        (["all"], Wanted("all", "", "")),
        (["Everything"], Wanted("all", "", "")),
        (["category", "Sport"], Wanted("category", "sport", "Sport")),
        (["cat", "World", "News"], Wanted("category", "world news", "World News")),
        (["source", "BBC"], Wanted("source", "bbc", "BBC")),
        (["keyword", "İstanbul"], Wanted("keyword", "istanbul", "İstanbul")),
        (["kw", '"climate', 'change"'], Wanted("keyword", "climate change", "climate change")),
        (["not", "category", "Sport"], Wanted("category", "sport", "Sport", exclude=True)),
        (["not", "keyword", "war"], Wanted("keyword", "war", "war", exclude=True)),
    ],
)
def test_parse_wanted(args: list[str], wanted: Wanted) -> None:
    assert parse_wanted(args) == wanted


@pytest.mark.parametrize(
    "args",
    [["not"], ["weather", "x"], ["all", "extra"], ["not", "all"], ["keyword"], ["keyword", "x" * 65]],
)
def test_parse_wanted_refuses(args: list[str]) -> None:
    with pytest.raises(UsageError):
        parse_wanted(args)


def test_callback_data_round_trips_and_refuses_what_does_not_fit() -> None:
    data = callbacks.encode(callbacks.SUBSCRIBE, "category:Спорт")
    assert callbacks.decode(data) == callbacks.Callback("sub", "category:Спорт")
    with pytest.raises(callbacks.CallbackDataError):
        callbacks.encode(callbacks.SUBSCRIBE, "category:" + "Ж" * 30)  # 60 characters, 69 bytes
    with pytest.raises(callbacks.CallbackDataError):
        callbacks.encode("other", "x")
    for foreign in [None, "", "nocolon", "zzz:1", "sub:" + "x" * 70]:
        with pytest.raises(callbacks.CallbackDataError):
            callbacks.decode(foreign)


def test_subscribe_menu_leaves_out_names_too_long_for_a_button() -> None:
    menu = subscribe_menu(["Sport", "Ж" * 40], [("bbc", "BBC News")], everything="Everything")
    datas = [b.callback_data for row in menu.inline_keyboard for b in row]
    assert datas == ["sub:all", "sub:category:Sport", "sub:source:bbc"]
    assert all(len(str(d).encode()) <= 64 for d in datas)


def test_remove_buttons_name_subscriptions_by_id() -> None:
    subs = [
        Subscription(7, 1, 0, "all", "", "", False),
        Subscription(9, 1, 0, "keyword", "war", "war", True),
    ]
    markup = remove_buttons(subs)
    assert markup is not None
    assert [(b.text, b.callback_data) for row in markup.inline_keyboard for b in row] == [
        ("✖ everything", "unsub:7"),
        ("✖ not keyword: war", "unsub:9"),
    ]
    assert remove_buttons([]) is None
