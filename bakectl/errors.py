"""Errors a user can fix: each one names the file, line and column of the mistake."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Where:
    """A position in a user's file; line and column count from 1 (0: unknown)."""

    path: str
    line: int = 0
    col: int = 0

    def __str__(self) -> str:
        if self.line:
            return f"{self.path}:{self.line}:{self.col or 1}"
        return self.path


class InputError(Exception):
    """One mistake in the user's input, printed as ``path:line:col: message``."""

    def __init__(self, where: Where | str, message: str):
        self.where = where if isinstance(where, Where) else Where(str(where))
        self.message = message
        super().__init__(f"{self.where}: {message}")


class InputErrors(Exception):
    """Every mistake found in the input, so the user can fix them all in one go."""

    def __init__(self, errors: list[InputError]):
        self.errors = list(errors)
        #: what could be read despite the errors (e.g. the valid orders), if anything
        self.partial = None
        #: recipe names that are defined but failed to load (a bad recipe file, a name defined
        #: twice): cross-checks leave them out rather than call them unknown
        self.unresolved: set[str] = set()
        super().__init__("\n".join(str(e) for e in self.errors))


class BakeryError(Exception):
    """A fault while baking (an oven breaks, a recipe step raises); fails one cake."""


class DeadlockError(RuntimeError):
    """Simulated time found a state in which no cake can ever make progress."""


class PluginError(BaseException):
    """A plugin failed and bakectl cannot, or was told not to, go on without it.

    A BaseException, as pytest's outcome exceptions are, so that the kitchen's per-cake
    ``except Exception`` does not turn a plugin author's bug into one failed cake."""
