"""Wrong answers ("mutants") per lab, which the hidden tests must reject. See CONTRIBUTING.md."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Mutant:
    """One plausible wrong answer to one TODO cell of a lab's solution notebook."""

    name: str
    cell: str
    caught_by: tuple[str, ...] | list[str]
    replace: tuple[tuple[str, str], ...] | list[tuple[str, str]] = field(default_factory=tuple)
    source: str | None = None
    rerun: tuple[str, ...] | list[str] = field(default_factory=tuple)

    def __post_init__(self) -> None:
        if (self.source is None) == (not self.replace):
            raise ValueError(f"mutant {self.name!r}: give exactly one of `replace` or `source`")
        if not self.caught_by:
            raise ValueError(f"mutant {self.name!r}: name the test cells that must catch it")

    def apply(self, original: str) -> str:
        """Return the mutated cell source; fail loudly if an edit no longer matches the reference."""
        if self.source is not None:
            return self.source
        mutated = original
        for old, new in self.replace:
            if old not in mutated:
                raise ValueError(
                    f"mutant {self.name!r}: {old!r} does not occur in cell {self.cell!r}; "
                    "the reference changed, update the mutant"
                )
            mutated = mutated.replace(old, new)
        return mutated
