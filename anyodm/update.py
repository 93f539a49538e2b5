"""Update operators: ``from anyodm import update; update.inc(Order.attempts, 1)``.

Pass one of them, or a list, as ``update=`` of ``update_one``, ``update_many`` and
``find_one_and_update``.  Each takes a field proxy first (embedded paths too:
``update.set(Order.address.city, "Paris")``); values are validated and encoded through
the field's type, as ``save`` stores them, before anything is sent.
"""

from anyodm.model.update import (
    UpdateOperation,
    add_to_set,
    current_date,
    inc,
    max,
    min,
    mul,
    pull,
    push,
    set,
    unset,
)

__all__ = [
    "UpdateOperation",
    "add_to_set",
    "current_date",
    "inc",
    "max",
    "min",
    "mul",
    "pull",
    "push",
    "set",
    "unset",
]
