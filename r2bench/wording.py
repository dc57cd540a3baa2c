"""Small helpers for the words of messages."""

from __future__ import annotations


def plural(n: int, noun: str, plural_form: str | None = None) -> str:
    """``"1 problem"``, ``"2 problems"``; ``plural_form`` for nouns that add more than -s."""
    return f"{n} {noun if n == 1 else plural_form or noun + 's'}"
