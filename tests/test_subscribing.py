"""Parsing /subscribe arguments, and the callback data its buttons carry."""

from __future__ import annotations

import pytest

from bot.models import Subscription
from bot.render import callbacks
from bot.render.keyboards import remove_buttons, subscribe_menu
from bot.subscribing import NothingLeft, UnknownChoice, UsageError, Wanted, parse_wanted, resolve


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


# --- unknown names, hostile button data (issue 7) -------------------------------------------------


def test_misspelled_category_is_refused_with_the_closest_and_the_choices() -> None:
    with pytest.raises(UnknownChoice) as caught:
        resolve(parse_wanted(["category", "Sprot"]), categories=["Sport", "Politics"], sources=[])
    assert caught.value.closest == "Sport"
    assert caught.value.choices == ("Politics", "Sport")


def test_category_is_accepted_in_any_case_and_stored_with_its_canonical_spelling() -> None:
    wanted = resolve(parse_wanted(["category", "SPORT"]), categories=["Sport"], sources=[])
    assert (wanted.value, wanted.label) == ("sport", "Sport")


def test_unknown_source_is_refused_and_a_source_may_be_named_by_its_name() -> None:
    known = [("ledger", "Caspian Ledger"), ("bbc", "BBC News")]
    with pytest.raises(UnknownChoice) as caught:
        resolve(parse_wanted(["source", "nosuch"]), categories=[], sources=known)
    assert caught.value.choices == ("ledger (Caspian Ledger)", "bbc (BBC News)")
    assert caught.value.closest is None
    with pytest.raises(UnknownChoice) as near:
        resolve(parse_wanted(["source", "ledgr"]), categories=[], sources=known)
    assert near.value.closest == "ledger"
    by_name = resolve(parse_wanted(["source", "caspian", "ledger"]), categories=[], sources=known)
    assert (by_name.value, by_name.label) == ("ledger", "Caspian Ledger")


def test_subscribe_not_all_is_its_own_clear_error() -> None:
    with pytest.raises(NothingLeft):
        parse_wanted(["not", "all"])


@pytest.mark.parametrize(
    "args", [["keyword", "a\x00b"], ["category", "\u202eSport"], ["keyword"] + ["x"] * 600]
)
def test_parse_wanted_refuses_control_characters_and_huge_arguments(args: list[str]) -> None:
    with pytest.raises(UsageError):
        parse_wanted(args)


@pytest.mark.parametrize(
    "data",
    [
        "unsub:99999999999999999999",
        "unsub:9223372036854775808",
        "unsub:-1",
        "unsub:0",
        "unsub:²",
        "unsub:٣",
        "unsub:",
        "unsub:1e5",
        "sub:",
        "sub:category:",
        "sub:weather:x",
        "sub:category:a\x00b",
        "sub:" + "x" * 61,
        "\ud800:1",
        "unsub:\ud800",
    ],
)
def test_forged_callback_data_is_refused_by_the_codec(data: str) -> None:
    with pytest.raises(callbacks.CallbackDataError):
        action = callbacks.decode(data)
        if action.prefix == callbacks.REMOVE:
            callbacks.removal_target(action)
        else:
            callbacks.subscription_choice(action)


def test_callback_codec_reads_back_what_it_writes() -> None:
    assert callbacks.removal_target(callbacks.decode(callbacks.encode(callbacks.REMOVE, "42"))) == 42
    assert (
        callbacks.removal_target(callbacks.decode(callbacks.encode(callbacks.REMOVE, callbacks.ALL))) is None
    )
    choice = callbacks.subscription_choice(callbacks.decode("sub:source:bbc"))
    assert choice == ("source", "bbc")


@pytest.mark.parametrize(
    "data",
    [
        "srcadd:ok:",
        "srcadd:yes:1",
        "srcadd:ok:0",
        "srcadd:no:-3",
        "srcadd:ok:²",
        "srcadd:ok:9223372036854775808",
    ],
)
def test_forged_source_confirm_button_is_refused_by_the_codec(data: str) -> None:
    with pytest.raises(callbacks.CallbackDataError):
        callbacks.pending_source_choice(callbacks.decode(data))


def test_source_confirm_button_reads_back_what_it_writes() -> None:
    assert callbacks.pending_source_choice(
        callbacks.decode(callbacks.encode(callbacks.SOURCE_ADD, "ok:7"))
    ) == (True, 7)
    assert callbacks.pending_source_choice(
        callbacks.decode(callbacks.encode(callbacks.SOURCE_ADD, "no:7"))
    ) == (False, 7)


def test_settings_buttons_name_the_value_they_set_and_refuse_anything_else() -> None:
    data = callbacks.encode(callbacks.OPTION, "silent:1")
    assert callbacks.option_choice(callbacks.decode(data)) == ("silent", True)
    assert callbacks.option_choice(callbacks.decode("opt:short:0")) == ("short", False)
    for forged in ("opt:silent:2", "opt:volume:1", "opt:silent", "sub:silent:1"):
        with pytest.raises(callbacks.CallbackDataError):
            callbacks.option_choice(callbacks.decode(forged))
