"""Role checks for views: ``@requires("delete")`` or ``@role_required("admin")`` (403 otherwise)."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from flask import abort, g


def requires(permission: str) -> Callable:
    """View decorator: 403 unless the user's role grants ``permission`` (see ``accounts.PERMISSIONS``)."""
    def wrap(view: Callable) -> Callable:
        @functools.wraps(view)
        def inner(*args: Any, **kwargs: Any) -> Any:
            user = g.get("user")
            if user is None or not user.can(permission):
                abort(403)
            return view(*args, **kwargs)
        inner.permission = permission  # type: ignore[attr-defined]
        return inner
    return wrap


def role_required(role: str) -> Callable:
    """View decorator by role: ``admin`` needs the admin-only permissions, anything else reading."""
    return requires("users" if role == "admin" else "read")
