"""The background pipeline end to end: real Redis, a real huey consumer in threads, the fake
OpenAI-compatible server answering as an extraction model."""

from __future__ import annotations

from click.testing import CliRunner
from pipeline_fakes import exchange, wait_for

from tasks import api, queue
from tasks.extract import run_extract


def _memory_hits(store, query):
    return [h for h in store.recall(query, token_budget=None) if h.kind == "memory"]


def test_exchange_becomes_recallable_memory_then_is_superseded(store, llm, consumer):
    conv = store.new_conversation("home")
    u1, a1 = exchange(store, conv.id, "I moved to Lisbon last month", "Lisbon is lovely!")
    assert api.enqueue_after_turn(store, conv.id, a1.id) == "queued"

    lisbon = wait_for(lambda: store.list_memories(section="facts"), timeout=15)[0]
    assert lisbon.content == "The user lives in Lisbon."
    assert lisbon.source_message_ids == [u1.id]  # provenance: the user's own message
    assert lisbon.source_conversation_id == conv.id
    assert store.get_message(lisbon.source_message_ids[0]).content == "I moved to Lisbon last month"
    history = store.memory_history(lisbon.id)
    assert history[0].action == "added" and history[0].actor == "worker:extract"
    assert u1.id in history[0].reason
    hits = _memory_hits(store, "where do I live")
    assert hits and hits[0].id == lisbon.id
    assert hits[0].provenance.message_ids == [u1.id]

    # later: a contradiction supersedes the old fact, which stays in history
    u2, a2 = exchange(store, conv.id, "Actually I live in Porto now", "Porto it is.")
    api.enqueue_after_turn(store, conv.id, a2.id)
    wait_for(lambda: store.get_memory(lisbon.id).superseded_by, timeout=15)
    old = store.get_memory(lisbon.id)
    porto = store.get_memory(old.superseded_by)
    assert porto.content == "The user lives in Porto." and porto.source_message_ids == [u2.id]
    assert old.valid_to is not None and old.status == "active"  # retired, not deleted
    assert [h.action for h in store.memory_history(old.id)] == ["added", "superseded"]
    assert [m.id for m in store.list_memories(section="facts")] == [porto.id]
    hits = _memory_hits(store, "where do I live")
    assert hits[0].id == porto.id
    assert lisbon.id not in [h.id for h in hits]

    # the model saw the existing memory when deciding
    last = llm.last_request()["body"]["messages"][1]["content"]
    assert lisbon.id in last and "Porto" in last


def test_rerunning_extraction_is_idempotent(store, llm):
    queue.bind(store)
    conv = store.new_conversation()
    u, a = exchange(store, conv.id, "I moved to Lisbon last month")
    first = run_extract(store.profile, conv.id, a.id)
    assert first["add"] == 1
    calls = len(llm.chat_requests())
    again = run_extract(store.profile, conv.id, a.id)
    assert again == {"new_turns": 0}
    assert len(llm.chat_requests()) == calls  # nothing new: the model is not even asked
    assert store.count_memories() == 1

    # a new turn that repeats a known fact is a NOOP (recorded, not duplicated)
    exchange(store, conv.id, "As I said, I moved to Lisbon")
    result = run_extract(store.profile, conv.id)
    assert result["noop"] == 1 and result["add"] == 0
    assert store.count_memories() == 1
    m = store.list_memories()[0]
    assert store.memory_history(m.id)[-1].action == "confirmed"


def test_rapid_turns_coalesce_into_one_task(store, llm):
    conv = store.new_conversation()
    _, a1 = exchange(store, conv.id, "I moved to Lisbon last month")
    _, a2 = exchange(store, conv.id, "and I drink black coffee")
    assert api.enqueue_after_turn(store, conv.id, a1.id) == "queued"
    assert api.enqueue_after_turn(store, conv.id, a2.id) == "coalesced"
    assert api.pending_count(store) == 1
    from tasks.consumer import run_once

    result = run_once(store, periodic=False)
    assert result["tasks"] == 1
    assert len(llm.chat_requests()) == 1  # both turns, one extraction
    assert {m.section for m in store.list_memories()} == {"facts", "preferences"}


def test_malformed_output_is_retried_then_parked_and_retryable(store, fake_llm, consumer):
    fake_llm.script("Sure! Here are the memories: {memories: [oops", default=True)
    conv = store.new_conversation()
    _, a = exchange(store, conv.id, "I moved to Lisbon last month")
    api.enqueue_after_turn(store, conv.id, a.id)

    failed = wait_for(lambda: queue.failed_tasks(), timeout=20)
    assert len(fake_llm.chat_requests()) == 3  # first attempt + 2 retries
    assert failed[0]["name"] == "extract" and "MalformedOutput" in failed[0]["error"]
    assert store.count_memories(status=None) == 0  # no partial writes

    from tui.cli import cli

    out = CliRunner().invoke(cli, ["worker", "--status"])
    assert out.exit_code == 0, out.output
    assert "1 failed" in out.output and "FAILED:    extract" in out.output
    assert "MalformedOutput" in out.output and "--retry-failed" in out.output

    from pipeline_fakes import extraction_reply

    fake_llm.script(reply_fn=extraction_reply, default=True)
    out = CliRunner().invoke(cli, ["worker", "--retry-failed"])
    assert out.exit_code == 0 and "re-queued 1" in out.output, out.output
    wait_for(lambda: store.list_memories(section="facts"), timeout=15)
    assert queue.failed_tasks() == []
    assert store.count_memories() == 1


def test_a_parked_task_keeps_no_model_text_nor_secret_in_redis(store, fake_llm, consumer):
    """The failed-task record lives in Redis (and its AOF), where forget does not reach: it
    names the failure, never the model's answer, and never a secret."""
    key = "sk-proj-" + "Qx7" * 10
    fake_llm.script(f"Sorry, Lisbon-zebra-canary! your key is {key}", default=True)
    conv = store.new_conversation()
    _, a = exchange(store, conv.id, "I moved to Lisbon last month")
    api.enqueue_after_turn(store, conv.id, a.id)

    failed = wait_for(lambda: queue.failed_tasks(), timeout=20)
    assert "MalformedOutput" in failed[0]["error"]
    raw = b"".join(queue.redis().hgetall(queue.FAILED).values())
    assert b"zebra-canary" not in raw and b"Qx7Qx7" not in raw


def test_incognito_conversations_are_never_extracted(store, llm):
    from assistant.assistant import Assistant
    from memory.config import load_settings
    from memory.store import MemoryStore

    conv = store.new_conversation(incognito=True)
    _, a = exchange(store, conv.id, "I moved to Lisbon last month")
    assert Assistant(store).finish_turn(conv.id, a).extract_upto is None  # nothing is due
    assert api.pending_count(store) == 0
    # queued anyway: the app's embedded worker (same store) skips it; another process's
    # worker cannot even find it
    queue.bind(store)
    assert run_extract(store.profile, conv.id, a.id) == {"skipped": "incognito"}
    with MemoryStore(load_settings(), start_redis=False) as other:
        queue.bind(other)
        assert run_extract(other.profile, conv.id, a.id) == {"skipped": "conversation deleted"}
    assert store.count_memories(status=None) == 0 and llm.chat_requests() == []


def test_memory_off_conversations_are_never_extracted_nor_caught_up(store, llm, monkeypatch):
    from assistant.assistant import Assistant
    from tasks import maintenance

    monkeypatch.setenv("MEMCHAT_TASKS_IDLE_SECONDS", "0")  # every conversation is idle

    conv = store.new_conversation(memory_off=True)
    _, a = exchange(store, conv.id, "I moved to Lisbon last month")
    assert Assistant(store).finish_turn(conv.id, a).extract_upto is None  # nothing is due
    queue.bind(store)
    assert run_extract(store.profile, conv.id, a.id) == {"skipped": "memory off"}
    assert maintenance.summarize_idle()["extractions_queued"] == 0  # idle catch-up skips it
    # memory on again: the turns said while it was off are marked, never learned
    Assistant(store).set_memory_off(conv.id, False)
    assert api.skip_extraction(store, conv.id) == 2
    assert run_extract(store.profile, conv.id, a.id) == {"new_turns": 0}
    assert store.count_memories(status=None) == 0 and llm.chat_requests() == []


def test_without_a_model_extraction_waits_visibly(store, monkeypatch):
    monkeypatch.setenv("OLLAMA_HOST", "127.0.0.1:9")  # nothing listens there
    conv = store.new_conversation()
    _, a = exchange(store, conv.id, "I moved to Lisbon last month")
    assert api.enqueue_after_turn(store, conv.id, a.id) == "queued"
    from tui.cli import cli

    out = CliRunner().invoke(cli, ["worker", "--once", "--no-periodic"])
    assert out.exit_code == 0, out.output
    out = CliRunner().invoke(cli, ["worker", "--status"])
    assert (
        "extract: waiting:" in out.output
        and "0 failed" in out.output
        and "1 scheduled" in out.output
    )
    assert store.search_messages("Lisbon")  # the turn itself stays recallable
    assert store.count_memories() == 0


def test_the_worker_talks_to_the_model_and_api_base_a_chat_turn_would(store, fake_llm):
    from assistant.assistant import Assistant
    from tasks.extract import llm_for

    chat = Assistant(store)
    for model in (None, "other-model", "anthropic/claude-haiku-4-5", "ollama_chat/llama3.2"):
        conv = store.new_conversation(model=model)
        turn, worker = chat.model_choice(conv.id), llm_for(store, conv.id).choice
        assert (worker.model, worker.api_base) == (turn.model, turn.api_base), model
    conv = store.new_conversation(model="anthropic/claude-haiku-4-5")
    assert llm_for(store, conv.id).choice.api_base is None  # not the configured fake server
