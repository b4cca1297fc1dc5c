"""Inference: models answering. Generation (streamed, batched), a bench per model with its LoRA adapters, the one
answer path every caller uses (``answers``: sides answer conversations, a QLoRA run on its 4-bit base), the
Arena's multi-side chats, and the votes and leaderboard that come out of them.
"""
