"""Inference: models answering. Generation (streamed, batched), one bench per base with its LoRA adapters,
the Arena's multi-side chats, and the votes and leaderboard that come out of them.
"""
