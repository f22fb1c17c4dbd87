"""Correct answers written differently ("alternatives") per lab, which must keep every point. See CONTRIBUTING.md."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Alternative:
    """One correct answer to one TODO cell, written otherwise than the reference; it must pass every test cell."""

    name: str
    cell: str
    why: str
    replace: tuple[tuple[str, str], ...] | list[tuple[str, str]] = field(default_factory=tuple)
    source: str | None = None
    rerun: tuple[str, ...] | list[str] = field(default_factory=tuple)

    def __post_init__(self) -> None:
        if (self.source is None) == (not self.replace):
            raise ValueError(f"alternative {self.name!r}: give exactly one of `replace` or `source`")
        if not self.why:
            raise ValueError(f"alternative {self.name!r}: say in `why` what makes it a different correct answer")

    def apply(self, original: str) -> str:
        """Return the edited cell source; fail loudly if an edit no longer matches the reference."""
        if self.source is not None:
            return self.source
        edited = original
        for old, new in self.replace:
            if old not in edited:
                raise ValueError(
                    f"alternative {self.name!r}: {old!r} does not occur in cell {self.cell!r}; "
                    "the reference changed, update the alternative"
                )
            edited = edited.replace(old, new)
        return edited
