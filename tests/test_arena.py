"""The arena's core on a tiny model: sides (adapters, scales, full runs) in one turn, own histories, votes,
leaderboard."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest
import torch
from conftest import build_tiny_model

from workbench import WorkbenchError
from workbench.inference import answers
from workbench.inference.arena import Arena, ArenaChat, Side, blind_pair
from workbench.inference.generation import GenerationSettings
from workbench.inference.votes import read_pairs, read_votes

SAMPLED = GenerationSettings(max_new_tokens=8, temperature=1.0, top_p=0.95, seed=7)


def make_full_run(run_dir: Path, tokenizer, base: Path, seed: int) -> Path:
    """A run folder like a full fine-tuning writes: a whole model in model/, the base named in config.yaml."""
    build_tiny_model(run_dir / "model", tokenizer, seed=seed)
    (run_dir / "config.yaml").write_text(f"model: {base}\nadaptation: full\n")
    return run_dir


@pytest.fixture(scope="module")
def runs_root(tmp_path_factory, tiny_model_dir, tokenizer, make_adapter_run) -> Path:
    root = tmp_path_factory.mktemp("arena-runs")
    make_adapter_run(root / "run.a", tiny_model_dir, seed=1, lora_alpha=64)  # a dot: PEFT names cannot hold one
    make_adapter_run(root / "run-b", tiny_model_dir, seed=2, lora_alpha=64)
    make_full_run(root / "full", tokenizer, tiny_model_dir, seed=9)
    return root


@pytest.fixture(scope="module")
def arena(tiny_model_dir, runs_root) -> Arena:
    return Arena(str(tiny_model_dir), runs_root)


def alone(arena: Arena, side: Side, history: list[str], settings=SAMPLED, system: str = "Be brief.") -> ArenaChat:
    chat = ArenaChat([side], system=system)
    for message in history:
        for _ in chat.ask(arena, message, settings):
            pass
    return chat


def test_one_adapter_at_several_scales_shares_a_batch_as_peft_scales_it(arena):
    from peft.helpers import rescale_adapter_scale

    from workbench.inference.adapter_batch import per_row_adapters

    seat = answers.seat(Side("run.a"), arena.model, arena.run_dirs)
    bench, name = seat.bench, seat.bench._peft[seat.name]
    inputs = bench.tokenizer(["Name a color"] * 3, return_tensors="pt")
    scales = [0.5, 1.0, 2.0]
    with torch.inference_mode():
        with per_row_adapters(bench.model, [name] * 3, scales):
            got = bench.model(**inputs).logits
        bench.model.set_adapter(name)
        for row, scale in enumerate(scales):
            with rescale_adapter_scale(bench.model, scale):  # PEFT's own scaling, one scale at a time
                expected = bench.model(**inputs).logits[row]
            assert (got[row] - expected).abs().max() < 1e-3 * expected.abs().max(), scale
    assert (got[0] - got[2]).abs().max() > 0.01, "the scale must change the output"


def test_a_turn_of_four_sides_matches_each_side_alone_over_three_turns(arena):
    sides = [Side("base"), Side("run.a"), Side("run.a", 0.0), Side("full")]
    chat = ArenaChat(sides, system="Be brief.")
    messages = ["hello", "tell me more", "and then?"]
    for message in messages:
        updates = list(chat.ask(arena, message, SAMPLED))
        assert len(updates) > 1 and all(len(u) == 4 for u in updates)
    answers = [[turn.answers[i] for turn in chat.turns] for i in range(4)]
    for i, side in enumerate(sides):
        single = alone(arena, side, messages)
        assert [t.answers[0] for t in single.turns] == answers[i], side
    assert answers[2] == answers[0], "an adapter at scale 0 is the base"
    assert answers[1] != answers[0] and answers[3] != answers[0]
    # Each side reads its own earlier answers, not the others'.
    second = chat.conversation(1, 2)
    assert [m["role"] for m in second] == ["system", "user", "assistant", "user"]
    assert second[2]["content"] == answers[1][0] and second[3]["content"] == "tell me more"


def test_regenerate_uses_the_next_seed_for_every_side(arena):
    chat = ArenaChat([Side("base"), Side("run-b")])
    for _ in chat.ask(arena, "hello", SAMPLED):
        pass
    first = list(chat.turns[-1].answers)
    for _ in chat.regenerate(arena):
        pass
    assert len(chat.turns) == 1 and chat.turns[-1].settings.seed == SAMPLED.seed + 1
    assert chat.turns[-1].answers != first
    again = alone(arena, Side("run-b"), ["hello"], GenerationSettings(**(SAMPLED.as_dict() | {"seed": 8})), system="")
    assert chat.turns[-1].answers[1] == again.turns[-1].answers[0]


def test_runs_of_another_base_are_refused_naming_both_bases(
    tiny_model_dir, runs_root, tmp_path, tokenizer, make_adapter_run
):
    other = build_tiny_model(tmp_path / "other-base", tokenizer, head_dim=16)
    make_adapter_run(runs_root / "foreign", other, seed=3)
    make_full_run(runs_root / "foreign-full", tokenizer, other, seed=4)
    arena = Arena(str(tiny_model_dir), runs_root)
    for run in ("foreign", "foreign-full"):
        with pytest.raises(WorkbenchError) as error:
            answers.seat(Side(run), arena.model, arena.run_dirs)
        assert str(other) in str(error.value) and str(tiny_model_dir) in str(error.value), error.value
    with pytest.raises(WorkbenchError, match="no run"):
        answers.seat(Side("../run.a"), arena.model, arena.run_dirs)
    with pytest.raises(WorkbenchError, match="outside 0 to 2"):
        Side("run.a", 2.5)
    assert Side.parse("run.a@0.5") == Side("run.a", 0.5) and Side("run.a", 0.5).label == "run.a@0.5"


def test_runs_given_by_folder_keep_two_learners_runs_of_one_name_apart(tiny_model_dir, tmp_path, make_adapter_run):
    """A workshop arena gets each page's runs as name -> folder: the same name in two folders is two adapters, and a
    name outside the page's list is refused, even one that exists under the arena's runs root."""
    make_adapter_run(tmp_path / "ana" / "mine", tiny_model_dir, seed=1, lora_alpha=64)
    make_adapter_run(tmp_path / "ben" / "mine", tiny_model_dir, seed=2, lora_alpha=64)
    make_adapter_run(tmp_path / "root-run", tiny_model_dir, seed=3)
    ask = [[{"role": "user", "content": "Name a color"}]]
    greedy = GenerationSettings(max_new_tokens=6, temperature=0.0)
    texts = {
        who: list(
            Arena(str(tiny_model_dir), run_dirs={"mine": tmp_path / who / "mine"}).stream([Side("mine")], ask, greedy)
        )[-1][0]
        for who in ("ana", "ben")
    }
    attached = [f for f in answers.bench(str(tiny_model_dir)).adapters.values() if tmp_path in f.parents]
    assert len(attached) == 2 and texts["ana"] != texts["ben"]
    for name in ("root-run", "../ana/mine", "ana/mine"):
        with pytest.raises(WorkbenchError, match="no run"):
            list(
                Arena(str(tiny_model_dir), run_dirs={"mine": tmp_path / "ben" / "mine"}).stream(
                    [Side(name)], ask, greedy
                )
            )


def test_a_vote_records_the_servers_conversation_and_a_multi_turn_pair(arena, tmp_path):
    chat = ArenaChat([Side("base"), Side("run.a", 0.5)], system="Be brief.")
    with pytest.raises(WorkbenchError, match="before voting"):
        chat.vote("a", tmp_path)
    for message in ("hello", "say more"):
        for _ in chat.ask(arena, message, SAMPLED):
            pass
    pair = chat.vote("b", tmp_path, base="tiny")
    with pytest.raises(WorkbenchError, match="has its vote"):
        chat.vote("a", tmp_path)
    (record,) = read_votes(tmp_path)
    assert record["sides"] == {"a": "base", "b": "run.a@0.5"} and record["choice"] == "b"
    assert record["session"] == chat.session and record["turn"] == 2 and record["mode"] == "named"
    assert record["settings"]["seed"] == SAMPLED.seed and record["scales"] == {"a": 1.0, "b": 0.5}
    assert record["conversations"]["b"] == chat.conversation(1)
    assert record["conversations"]["a"][-1]["content"] == chat.turns[-1].answers[0]
    # The pair: the chosen side's conversation (its own first answer included) up to the last user message.
    assert pair == read_pairs(tmp_path)[0]
    assert pair["prompt"] == chat.conversation(1, 2) and [m["role"] for m in pair["prompt"]] == [
        "system",
        "user",
        "assistant",
        "user",
    ]
    assert (
        pair["chosen"][0]["content"] == chat.turns[-1].answers[1]
        and pair["rejected"][0]["content"] == chat.turns[-1].answers[0]
    )

    three = ArenaChat([Side("base"), Side("run.a"), Side("run-b")])
    assert "two sides" in three.can_vote()


def test_a_blind_round_hides_names_until_the_vote(arena, tmp_path):
    pool = ["base", "run.a", "run-b", "run.a@0.5"]
    drawn = {tuple(s.label for s in blind_pair(pool, random.Random(seed))) for seed in range(30)}
    assert all(len(set(p)) == 2 and set(p) <= set(pool) for p in drawn) and len(drawn) > 4
    chat = ArenaChat(blind_pair(pool, random.Random(1)), blind=True)
    for _ in chat.ask(arena, "hello", SAMPLED):
        pass
    assert chat.names() == ["Model A", "Model B"]
    chat.vote("tie", tmp_path)
    assert chat.names() == [f"A: {chat.sides[0].label}", f"B: {chat.sides[1].label}"]
    assert read_votes(tmp_path)[0]["mode"] == "blind" and read_pairs(tmp_path) == []


def test_bounds_on_messages_turns_and_system(arena, monkeypatch):
    with pytest.raises(WorkbenchError, match="characters long"):
        ArenaChat([Side("base")], system="x" * 2001)
    chat = ArenaChat([Side("base")])
    with pytest.raises(WorkbenchError, match="characters long"):
        next(chat.ask(arena, "x" * 4001))
    monkeypatch.setattr("workbench.inference.arena.MAX_TURNS", 1)
    for _ in chat.ask(arena, "hi", GenerationSettings(max_new_tokens=2)):
        pass
    with pytest.raises(WorkbenchError, match="turns"):
        next(chat.ask(arena, "again"))


# --- leaderboard ---------------------------------------------------------------------------------------------

STRENGTHS = {"strong": 4.0, "good": 2.0, "base": 1.0, "weak": 0.4}


def synthetic_votes(n: int, seed: int = 0) -> list[dict]:
    """``n`` votes between random pairs, won with Bradley-Terry probabilities; one in ten a tie or both bad."""
    rng = random.Random(seed)
    votes = []
    for _ in range(n):
        a, b = rng.sample(list(STRENGTHS), 2)
        roll = rng.random()
        if roll < 0.1:
            choice = rng.choice(["tie", "both_bad"])
        else:
            choice = "a" if rng.random() < STRENGTHS[a] / (STRENGTHS[a] + STRENGTHS[b]) else "b"
        votes.append({"sides": {"a": a, "b": b}, "choice": choice, "mode": "blind"})
    return votes


def write_log(path: Path, votes: list[dict]) -> Path:
    path.write_text("".join(json.dumps(v) + "\n" for v in votes) + "{torn line\n")
    return path


def test_leaderboard_finds_the_strength_order_and_intervals_shrink_with_votes(tmp_path, capsys):
    from workbench.cli import main

    widths = {}
    for n in (100, 1600):
        assert (
            main(["arena", "leaderboard", str(write_log(tmp_path / f"{n}.jsonl", synthetic_votes(n))), "--json"]) == 0
        )
        board = json.loads(capsys.readouterr().out)
        assert [row["side"] for row in board["sides"]] == list(STRENGTHS), board
        assert board["votes"] == n and sum(board["choices"].values()) == n
        for row in board["sides"]:
            assert row["low"] <= row["rating"] <= row["high"]
        widths[n] = [row["high"] - row["low"] for row in board["sides"]]
        assert 0 <= board["win_rate"]["strong"]["weak"] <= 1 and board["win_rate"]["strong"]["strong"] is None
    assert all(big < small / 2 for small, big in zip(widths[100], widths[1600])), widths

    assert main(["arena", "leaderboard", str(tmp_path / "1600.jsonl"), "--plot", str(tmp_path / "heat.png")]) == 0
    table = capsys.readouterr().out
    assert [line.split("|")[2].strip() for line in table.splitlines()[2:6]] == list(STRENGTHS)
    assert (tmp_path / "heat.png").stat().st_size > 1000


def test_leaderboard_without_votes_is_a_clear_error(tmp_path, capsys):
    from workbench.cli import main

    assert main(["arena", "leaderboard", str(tmp_path / "none.jsonl")]) == 2
    assert "no votes log" in capsys.readouterr().err
    write_log(tmp_path / "ties.jsonl", [{"sides": {"a": "x", "b": "x"}, "choice": "a", "mode": "blind"}])
    assert main(["arena", "leaderboard", str(tmp_path / "ties.jsonl")]) == 2
    assert "no blind votes yet" in capsys.readouterr().err
    write_log(tmp_path / "named.jsonl", [{"sides": {"a": "x", "b": "y"}, "choice": "a", "mode": "named"}])
    assert main(["arena", "leaderboard", str(tmp_path / "named.jsonl")]) == 2
    assert "no blind votes yet (1 named): only blind rounds rank the sides" in capsys.readouterr().err


def test_only_blind_votes_rank_and_neighbours_too_close_to_call_are_named(tmp_path):
    from workbench.inference.votes import vote_log

    log = tmp_path / "votes.jsonl"
    named = [{"sides": {"a": "weak", "b": "strong"}, "choice": "a", "mode": "named"}] * 50
    blind = synthetic_votes(60, seed=3)
    write_log(log, named + blind)
    votes = vote_log(tmp_path)
    board = votes.leaderboard()
    assert sum(board.choices.values()) == 60 and sum(votes.named.values()) == 50, "named votes are counted apart"
    assert board.sides[0] == "strong", "50 named votes for weak do not move the ranking"
    notes = board.too_close()
    overlapping = [i for i in range(len(board.sides) - 1) if board.low[i] <= board.high[i + 1]]
    assert len(notes) == len(overlapping) > 0, "60 votes leave some neighbours too close to call"
    assert all("too few votes to tell" in note and "more votes" in note for note in notes)
    assert notes[0] in board.table()
    (tmp_path / "big").mkdir()
    big = vote_log(write_log(tmp_path / "big" / "votes.jsonl", synthetic_votes(4000, seed=4)).parent).leaderboard()
    assert len(big.too_close()) < len(notes), "more votes separate more neighbours"


def test_a_blind_round_draws_its_own_seed_and_shows_the_sides_together(arena, tmp_path):
    """A named round at the page's seed must not reveal a blind round's sides, and neither may the order in which
    the sides finish (a full run answers after the adapters)."""
    chat = ArenaChat([Side("full"), Side("run-b")], blind=True)
    updates = list(chat.ask(arena, "hello", SAMPLED))
    assert len(updates) == 1 and all(updates[0]), "one update, every side's whole answer"
    assert chat.turns[-1].settings.seed != SAMPLED.seed
    named = ArenaChat([Side("full"), Side("run-b")])
    assert len(list(named.ask(arena, "hello", SAMPLED))) > 1, "named rounds stream token by token"
    assert named.turns[-1].settings.seed == SAMPLED.seed


def test_a_vote_after_the_names_are_shown_is_not_blind(arena, tmp_path):
    chat = ArenaChat([Side("base"), Side("run-b")], blind=True)
    for _ in chat.ask(arena, "hello", SAMPLED):
        pass
    chat.vote("a", tmp_path)
    for _ in chat.regenerate(arena):
        pass
    chat.vote("b", tmp_path)
    assert [r["mode"] for r in read_votes(tmp_path)] == ["blind", "named"]
