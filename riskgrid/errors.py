"""Errors a user can cause: one sentence naming the file, row, column or setting."""

from __future__ import annotations


class InputError(Exception):
    """Bad input: a file, row, column, field or setting that the user must fix.

    The message is a single sentence that says where the problem is and how to fix it.
    The command line prints it without a traceback.
    """
