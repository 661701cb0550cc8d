"""The one error type for bad input: it names the file, the place in it and the problem."""

from __future__ import annotations

from pathlib import Path


class InputError(ValueError):
    """Bad input (a log, a road, a dataset, a checkpoint) with a one-line explanation.

    The message reads ``FILE[:LINE][, field FIELD]: PROBLEM`` and is what the command
    line prints, without a traceback.
    """

    def __init__(
        self,
        source: str | Path,
        problem: str,
        *,
        line: int | None = None,
        field: str | None = None,
    ) -> None:
        self.source = str(source)
        self.problem = problem
        self.line = line
        self.field = field
        where = self.source if line is None else f"{self.source}:{line}"
        if field is not None:
            where += f", field {field}"
        super().__init__(f"{where}: {problem}")
