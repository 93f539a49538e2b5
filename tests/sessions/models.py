"""Models of the session and transaction tests (ODMantic's documentation shapes)."""

from __future__ import annotations

from anyodm import Model


class Player(Model):
    name: str
    game: str


class Ledger(Model):
    trial: int
    step: int
