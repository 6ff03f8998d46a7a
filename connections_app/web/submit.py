"""The one POST / validate / call / show-errors step every writing page shares."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ..errors import Conflict, ConnectionsError, NotFound, ValidationFailed


@dataclass
class Submission:
    """What became of a form: ``done`` with the step's ``result``, or the status to render."""

    done: bool = False
    result: Any = None
    status: int = 200


def form_submit(request, form, step: Callable[[], Any], *, catch: tuple[type[ConnectionsError], ...] = (ValidationFailed, Conflict, NotFound)) -> Submission:
    """On POST, validate ``form`` (anything with ``is_valid`` and ``add_domain_error``) and
    call ``step``; a domain error goes back onto the form's fields.

    A GET, an invalid form or a refused step is not done: render the form with the
    returned status (200 for a GET, 400 when it shows errors).
    """
    if request.method != "POST":
        return Submission()
    if not form.is_valid():
        return Submission(status=400)
    try:
        result = step()
    except catch as exc:
        form.add_domain_error(exc)
        return Submission(status=400)
    return Submission(done=True, result=result)
