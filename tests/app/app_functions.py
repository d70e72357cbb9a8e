"""The app's functions as the Functions worker sees them, built once (``app.get_functions()`` may be
called once per app object)."""

from __future__ import annotations

from collections.abc import Callable
from functools import cache
from typing import Any

import azure.functions as func

import function_app


@cache
def indexed_functions() -> dict[str, func.Function]:
    """Function name → what the worker indexes: the user function and its declared bindings."""
    return {function.get_function_name(): function for function in function_app.app.get_functions()}


def user_functions() -> dict[str, Callable[..., Any]]:
    """Function name → the callable the worker invokes (orchestrators: the replay handle)."""
    return {name: function.get_user_function() for name, function in indexed_functions().items()}


def orchestrators() -> dict[str, Callable[[str], str]]:
    functions = user_functions()
    names = ("sync_run", "apply_phase", "apply_batch", "wait_for_slot", "set_deadline")
    return {name: functions[name] for name in names}
