"""Pilot-driven memory inspector: real keys against the real store, Valkey and Chroma; every
test checks the result through MemoryStore and, where it matters, Chroma and Redis directly."""

from __future__ import annotations

import time

import pytest
from pilot_helpers import wait_for

from memory.errors import NotFound
from memory.store import MemoryStore
from tui.app import MemchatApp
from tui.screens.dialogs import ConfirmDialog, TextDialog
from tui.screens.help import HelpScreen
from tui.screens.inspector import InspectorScreen
from tui.screens.inspector_dialogs import ForgetDialog

SIZE = (140, 40)


@pytest.fixture
def app(redis_url, fake_llm, monkeypatch) -> MemchatApp:
    monkeypatch.setenv("MEMCHAT_WORKER__EMBEDDED", "false")
    return MemchatApp(start="inspector", warm=False, worker=False)


def seed(fn):
    with MemoryStore() as store:
        out = fn(store)
        store.index_pending()
    return out


async def opened(app, pilot, rows: int = 1):
    await wait_for(pilot, lambda: app.store is not None, what="the store")
    await wait_for(pilot, lambda: isinstance(app.screen, InspectorScreen), what="the inspector")
    tab = app.screen.longterm
    await wait_for(pilot, lambda: tab.table.row_count >= rows, what="rows")
    tab.table.focus()
    await pilot.pause()
    return tab


async def settled(pilot, tab, cond, what: str) -> None:
    await wait_for(pilot, lambda: cond() and not tab.table.loading_more, what=what)
    await pilot.pause(0.1)


def chroma_ids(store) -> set[str]:
    return store.vectors.ids(store.profile)


async def test_search_as_you_type_and_filters(app):
    ids = seed(
        lambda s: {
            "miso": s.add_memory(
                "The user's cat is called Miso", section="facts", tags=["pets"]
            ).id,
            "misc": s.add_memory("Miscellaneous notes about the garden", section="events").id,
            "tea": s.add_memory("Prefers green tea in the morning", section="preferences").id,
        }
    )
    async with app.run_test(size=SIZE) as pilot:
        tab = await opened(app, pilot, rows=3)
        assert set(tab.table.ids) == set(ids.values())
        await pilot.press("slash")
        assert tab.search.has_focus
        await pilot.press(*"mis")
        await settled(
            pilot, tab, lambda: set(tab.table.ids) == {ids["miso"], ids["misc"]}, "prefix hits"
        )
        await pilot.press(*"o")
        await settled(pilot, tab, lambda: tab.table.ids == [ids["miso"]], "one hit")
        tab.search.value = "section:events"
        await settled(pilot, tab, lambda: tab.table.ids == [ids["misc"]], "section filter")
        tab.search.value = "#pets"
        await settled(pilot, tab, lambda: tab.table.ids == [ids["miso"]], "tag filter")
        assert str(tab.query_one("#lt-summary").render()).startswith("1 memory ·")
        await pilot.press("enter")
        assert tab.table.has_focus
        await wait_for(pilot, lambda: tab.detail.detail is not None, what="the detail pane")
        assert tab.detail.detail.memory.id == ids["miso"]
        assert [h.action for h in tab.detail.detail.history] == ["added"]


async def test_mark_a_range_delete_with_undo(app):
    def make(s):
        return [s.add_memory(f"memory number {i}", section="facts").id for i in range(6)]

    made = seed(make)
    async with app.run_test(size=SIZE) as pilot:
        tab = await opened(app, pilot, rows=6)
        order = list(tab.table.ids)
        await pilot.press("j")  # start on the second row
        await pilot.press("shift+down", "shift+down")
        assert tab.table.marked == set(order[1:4])
        await pilot.press("d")
        await wait_for(
            pilot, lambda: isinstance(app.screen, ConfirmDialog), what="the confirmation"
        )
        assert "Delete 3 memories?" in str(app.screen.query_one(".dialog-question").render())
        await pilot.press("y")
        gone = set(order[1:4])
        await settled(pilot, tab, lambda: not gone & set(tab.table.ids), "rows to go")
        store = app.store
        for mid in made:
            m = store.get_memory(mid)
            assert m.status == ("deleted" if mid in gone else "active"), mid
        assert store.count_memories() == 3
        assert {f"mem:{i}" for i in gone}.isdisjoint(chroma_ids(store))
        assert {f"mem:{i}" for i in set(made) - gone} <= chroma_ids(store)
        await pilot.press("u")
        await settled(pilot, tab, lambda: gone <= set(tab.table.ids), "rows to come back")
        assert all(store.get_memory(i).status == "active" for i in made)
        assert {f"mem:{i}" for i in made} <= chroma_ids(store)
        assert [h.action for h in store.memory_history(order[1])] == [
            "added",
            "deleted",
            "restored",
        ]


async def test_edit_pin_tags_and_expiry(app):
    mid = seed(lambda s: s.add_memory("The user lives in Paris", section="facts").id)
    async with app.run_test(size=SIZE) as pilot:
        tab = await opened(app, pilot)
        store = app.store
        await pilot.press("e")
        await wait_for(pilot, lambda: isinstance(app.screen, TextDialog), what="the editor")
        app.screen.query_one("#value").text = "The user lives in Berlin"
        await pilot.press("ctrl+s")
        await wait_for(
            pilot, lambda: store.get_memory(mid).content == "The user lives in Berlin", what="edit"
        )
        last = store.memory_history(mid)[-1]
        assert (last.action, last.actor) == ("updated", "user")
        assert last.before["content"] == "The user lives in Paris"
        assert store.search_memories("Paris") == []
        await pilot.press("p")
        await wait_for(pilot, lambda: store.get_memory(mid).pinned, what="pin")
        await pilot.press("t")
        await wait_for(pilot, lambda: isinstance(app.screen, TextDialog), what="the tags dialog")
        app.screen.query_one("#value").value = "home, #City"
        await pilot.press("enter")
        await wait_for(pilot, lambda: store.get_memory(mid).tags == ["city", "home"], what="tags")
        await pilot.press("x")
        await wait_for(pilot, lambda: isinstance(app.screen, TextDialog), what="the expiry dialog")
        app.screen.query_one("#value").value = "7d"
        await pilot.press("enter")
        await wait_for(pilot, lambda: store.get_memory(mid).expires_at is not None, what="expiry")
        assert abs(store.get_memory(mid).expires_at - (time.time() + 7 * 86400)) < 60
        await settled(pilot, tab, lambda: tab.table.memories[mid].pinned, "the row to refresh")
        # Chroma holds the new text's vector (re-embedded when the edit was saved)
        best_id, berlin = store.vectors.query(store.profile, "The user lives in Berlin", 1)[0]
        [(_, paris)] = store.vectors.query(store.profile, "The user lives in Paris", 1)
        assert best_id == f"mem:{mid}" and berlin > 0.9 and berlin > paris + 0.05


async def test_merge_marked_memories(app):
    a, b, c = seed(
        lambda s: [
            s.add_memory("The user has a dog", tags=["pets"]).id,
            s.add_memory("The dog is called Rex", tags=["dog"], importance=0.9).id,
            s.add_memory("Unrelated: likes jazz").id,
        ]
    )
    async with app.run_test(size=SIZE) as pilot:
        tab = await opened(app, pilot, rows=3)
        tab.table.set_marked({a, b})
        await pilot.press("m")
        await wait_for(pilot, lambda: isinstance(app.screen, TextDialog), what="the merge editor")
        app.screen.query_one("#value").text = "The user has a dog called Rex"
        await pilot.press("ctrl+s")
        store = app.store
        await wait_for(pilot, lambda: store.count_memories() == 2, what="the merge")
        live = {m.content: m for m in store.list_memories()}
        new = live["The user has a dog called Rex"]
        assert set(new.tags) == {"pets", "dog"} and new.importance == 0.9
        for old in (a, b):
            m = store.get_memory(old)
            assert m.superseded_by == new.id
            assert store.memory_history(old)[-1].action == "merged"
        assert store.get_memory(c).status == "active"
        ids = chroma_ids(store)
        assert f"mem:{new.id}" in ids and f"mem:{a}" not in ids and f"mem:{b}" not in ids
        await settled(
            pilot, tab, lambda: new.id in tab.table.ids and a not in tab.table.ids, "the table"
        )


async def test_review_accept_and_reject(app, monkeypatch):
    monkeypatch.setenv("MEMCHAT_MEMORY__REVIEW", "true")
    good, bad = seed(
        lambda s: [
            s.add_memory("The user is allergic to peanuts", actor="worker:extract").id,
            s.add_memory("The user maybe likes opera", actor="worker:extract").id,
        ]
    )
    async with app.run_test(size=SIZE) as pilot:
        await opened(app, pilot, rows=0)
        store = app.store
        assert store.get_memory(good).status == "pending"
        await pilot.press("2")
        review = app.screen.review
        await wait_for(pilot, lambda: len(review.items) == 2, what="the review queue")
        assert [it.queue for it in review.items] == ["pending", "pending"]
        assert review.current.memory.id == good
        await pilot.press("y")
        await wait_for(pilot, lambda: len(review.items) == 1, what="accept")
        await pilot.press("n")
        await wait_for(pilot, lambda: len(review.items) == 0, what="reject")
        assert store.get_memory(good).status == "active"
        assert store.get_memory(bad).status == "deleted"
        assert [h.action for h in store.memory_history(good)][-1] == "accepted"
        hits = [h.id for h in store.recall("peanuts allergy", token_budget=None)]
        assert good in hits
        assert f"mem:{good}" in chroma_ids(store) and f"mem:{bad}" not in chroma_ids(store)


def _conversation_with_source(s):
    conv = s.new_conversation("Pets")
    u = s.add_message(conv.id, "user", "My hamster is called Ziggy")
    s.add_message(conv.id, "assistant", "Nice, Ziggy is a good name.")
    other = s.add_message(conv.id, "user", "What's the weather like?")
    m = s.add_memory(
        "The user's hamster is called Ziggy",
        section="facts",
        source_conversation_id=conv.id,
        source_message_ids=[u.id],
    )
    keep = s.add_memory("The user lives in Lyon", section="facts")
    s.set_temporary("pet_name", "Ziggy", 3600)
    s.set_temporary("city", "Lyon", 3600)
    return {"conv": conv.id, "msg": u.id, "other": other.id, "mem": m.id, "keep": keep.id}


async def test_forget_one_memory_everywhere_and_its_source_messages(app):
    ids = seed(_conversation_with_source)
    async with app.run_test(size=SIZE) as pilot:
        tab = await opened(app, pilot, rows=2)
        tab.table.move_cursor(row=tab.table.ids.index(ids["mem"]))
        await pilot.press("F")
        await wait_for(
            pilot, lambda: isinstance(app.screen, ForgetDialog), what="the forget dialog"
        )
        await pilot.press("ctrl+y")
        await wait_for(
            pilot,
            lambda: isinstance(app.screen, ConfirmDialog),
            what="the could-learn-again warning",
        )
        assert "could teach it again" in str(app.screen.query_one(".dialog-question").render())
        await pilot.press("y")
        store = app.store
        await wait_for(
            pilot, lambda: not store.chats.messages_by_ids([ids["msg"]]), what="messages forgotten"
        )
        with pytest.raises(NotFound):
            store.get_memory(ids["mem"])
        assert [h.action for h in store.memories.history(ids["mem"])] == ["forgotten"]
        assert store.get_memory(ids["keep"]).status == "active"
        await wait_for(pilot, lambda: f"msg:{ids['msg']}" not in chroma_ids(store), what="chroma")
        assert f"mem:{ids['mem']}" not in chroma_ids(store)
        assert ids["msg"] not in [
            t["id"] for t in store.short.recent_turns(store.profile, ids["conv"], 100)
        ]
        await settled(pilot, tab, lambda: tab.table.ids == [ids["keep"]], "the table")


async def test_forget_everything_about_x_leaves_nothing_in_any_tier(app):
    ids = seed(_conversation_with_source)
    seed(lambda s: s.add_memory("Ziggy eats sunflower seeds", section="facts"))
    async with app.run_test(size=SIZE) as pilot:
        tab = await opened(app, pilot, rows=3)
        await pilot.press("F")
        await wait_for(
            pilot, lambda: isinstance(app.screen, ForgetDialog), what="the forget dialog"
        )
        app.screen.query_one("#forget-about").value = "ziggy"
        app.screen.query_one("#forget-about").focus()
        await pilot.press("enter")
        await wait_for(
            pilot, lambda: isinstance(app.screen, ConfirmDialog), what="the messages warning"
        )
        await pilot.press("y")
        store = app.store
        await wait_for(
            pilot, lambda: store.search_messages("ziggy") == [], what="messages forgotten"
        )
        await wait_for(
            pilot,
            lambda: (
                not any(
                    "ziggy" in t["content"].lower()
                    for t in store.short.recent_turns(store.profile, ids["conv"], 100)
                )
            ),
            what="redis turns",
        )
        # SQLite (rows and FTS), recall (hybrid: vectors + FTS + episodic), Chroma, Redis
        assert store.search_memories("ziggy") == []
        assert not any(
            "ziggy" in m.content.lower() for m in store.list_memories(status=None, limit=1000)
        )
        hits = store.recall("Ziggy the hamster", token_budget=None, limit=50)
        assert not any("ziggy" in h.text.lower() for h in hits)
        remaining = {f"msg:{m.id}" for m in store.messages(ids["conv"])}
        assert remaining == {f"msg:{ids['other']}"}
        assert chroma_ids(store) == {f"mem:{ids['keep']}"} | remaining
        assert store.get_temporary("pet_name") is None and store.get_temporary("city") == "Lyon"
        assert not any("ziggy" in f"{k} {v}".lower() for k, v, _ in store.temporaries())
        assert store.get_memory(ids["keep"]).status == "active"
        assert store.get_message(ids["other"]).content == "What's the weather like?"
        await settled(pilot, tab, lambda: tab.table.ids == [ids["keep"]], "the table")


async def test_worker_changes_appear_live(app):
    seed(lambda s: s.add_memory("first memory"))
    async with app.run_test(size=SIZE) as pilot:
        tab = await opened(app, pilot)
        await pilot.pause(1.2)  # the poll has read its first marker
        with MemoryStore(start_redis=False) as other:  # another process's connection
            new = other.add_memory("learned in the background", actor="worker:extract")
        await settled(pilot, tab, lambda: new.id in tab.table.ids, "the live row")
        assert tab.table.row_count == 2


async def test_keymap_applies_and_help_lists_inspector_keys(app, monkeypatch):
    monkeypatch.setenv("MEMCHAT_UI__KEYMAP", '{"inspector_pin": "P"}')
    mid = seed(lambda s: s.add_memory("Rebind me").id)
    async with app.run_test(size=SIZE) as pilot:
        await opened(app, pilot)
        await wait_for(pilot, lambda: app.settings is not None, what="settings")
        await pilot.press("p")
        await pilot.pause(0.3)
        assert not app.store.get_memory(mid).pinned
        await pilot.press("P")
        await wait_for(pilot, lambda: app.store.get_memory(mid).pinned, what="pin by the new key")
        await pilot.press("f1")
        await wait_for(pilot, lambda: isinstance(app.screen, HelpScreen), what="help")
        ids = [b.id for _, bindings in app.screen.sections for b in bindings]
        for needed in (
            "inspector_mark",
            "inspector_mark_down",
            "inspector_mark_all",
            "inspector_delete",
            "inspector_undo",
            "inspector_edit",
            "inspector_pin",
            "inspector_merge",
            "inspector_tags",
            "inspector_expiry",
            "inspector_forget",
            "inspector_search",
            "review_accept",
            "review_reject",
            "review_edit",
            "vectors_reindex",
            "pipeline_retry",
            "send",
        ):
            assert needed in ids


async def test_open_source_conversation_at_the_message(app):
    ids = seed(_conversation_with_source)
    async with app.run_test(size=SIZE) as pilot:
        tab = await opened(app, pilot, rows=2)
        tab.table.move_cursor(row=tab.table.ids.index(ids["mem"]))
        await wait_for(
            pilot,
            lambda: tab.detail.detail is not None and tab.detail.detail.memory.id == ids["mem"],
            what="detail",
        )
        assert [m.id for m in tab.detail.detail.sources] == [ids["msg"]]
        await pilot.press("o")
        await wait_for(
            pilot, lambda: app.chat.conversation_id == ids["conv"], what="the conversation"
        )
        await wait_for(
            pilot, lambda: getattr(app.focused, "message_id", None) == ids["msg"], what="focus"
        )


def test_cli_review_tag_and_expire(redis_url, monkeypatch):
    import json

    from click.testing import CliRunner

    from tui.cli import cli

    monkeypatch.setenv("MEMCHAT_MEMORY__REVIEW", "true")
    pend = seed(lambda s: s.add_memory("The user maybe likes opera", actor="worker:extract").id)
    run = CliRunner().invoke
    r = run(cli, ["memory", "review", "--json"])
    assert r.exit_code == 0, r.output
    assert [(i["queue"], i["memory"]["id"]) for i in json.loads(r.output)] == [("pending", pend)]
    r = run(cli, ["memory", "review", "--accept", pend[:8]])
    assert r.exit_code == 0 and "accepted" in r.output
    assert run(cli, ["memory", "tag", pend[:8], "music", "#Opera"]).exit_code == 0
    assert run(cli, ["memory", "expire", pend[:8], "someday"]).exit_code != 0
    assert run(cli, ["memory", "expire", pend[:8], "3d"]).exit_code == 0
    with MemoryStore() as s:
        m = s.get_memory(pend)
        assert (
            m.status == "active"
            and m.tags == ["music", "opera"]
            and m.expires_at > time.time() + 2 * 86400
        )
    assert "nothing to review" in run(cli, ["memory", "review", "--queue", "pending"]).output
