"""Instructions (様式第1号) and the documents around them: register, report, public notice."""

from services.instructions.described import (
    DESCRIBED,
    DESCRIBED_CALLS,
    PROTECTING,
    candidates,
    closest_first,
    protecting,
)
from services.instructions.store import (
    MEDIA,
    OPEN_STATES,
    PURPOSES,
    Criteria,
    Instruction,
    Instructions,
    Kind,
    State,
)

__all__ = [
    "DESCRIBED",
    "DESCRIBED_CALLS",
    "MEDIA",
    "OPEN_STATES",
    "PROTECTING",
    "PURPOSES",
    "Criteria",
    "Instruction",
    "Instructions",
    "Kind",
    "State",
    "candidates",
    "closest_first",
    "protecting",
]
