"""The server's memory after answering in Chat and in the Arena, against its memory after loading the base once.

One answer path (workbench.inference.answers) keeps one copy of each base: the Chat tab and the Arena answer from
the same bench. Run: ``python -m benchmarks.answer_memory [--model default]``; it prints one JSON line.
"""

from __future__ import annotations

import argparse
import json
import platform

import psutil

from workbench.inference.answers import Side, base_model
from workbench.inference.arena import Arena, ArenaChat
from workbench.inference.generation import GenerationSettings
from workbench.ui import chat_tab
from workbench.workspace.learners import single_user

SETTINGS = GenerationSettings(max_new_tokens=24, temperature=0.0)


def rss_mb() -> float:
    return psutil.Process().memory_info().rss / 2**20


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--model", default="default")
    model = parser.parse_args().model
    base_model(model)
    loaded = rss_mb()
    *_, (history, _) = chat_tab.respond(
        None, single_user(), model, "What is the capital of France?", [], 0.0, 1.0, 1.0, 24
    )
    after_chat = rss_mb()
    arena = ArenaChat([Side("base")], system="Be brief.")
    for _ in arena.ask(Arena(model, run_dirs={}), "Name three colours.", SETTINGS):
        pass
    after_arena = rss_mb()
    print(
        json.dumps(
            {
                "machine": platform.processor() or platform.machine(),
                "model": model,
                "rss_after_loading_base_mb": round(loaded),
                "rss_after_chat_mb": round(after_chat),
                "rss_after_chat_and_arena_mb": round(after_arena),
                "ratio_to_loaded": round(after_arena / loaded, 3),
            }
        )
    )


if __name__ == "__main__":
    main()
