"""Editing text in the user's editor (``$VISUAL``, else ``$EDITOR``, else click's choice), for
``mine journal edit``."""

from __future__ import annotations

import os
import shlex
import shutil
from collections.abc import Mapping

import click

from impact_miner.errors import UsageError


def edit_in_editor(text: str, statement_id: str, env: Mapping[str, str] | None = None) -> str | None:
    """``text`` as edited in ``$VISUAL``/``$EDITOR`` (click's choice when neither is set); None when the
    editor saved nothing.

    An editor that is missing, fails or exits non-zero, or saves text that is not UTF-8, is a
    UsageError (exit 2): nothing is saved and the statement stays as it was.
    """
    env = os.environ if env is None else env
    unchanged = f"statement {statement_id} is unchanged"
    editor = env.get("VISUAL") or env.get("EDITOR") or None
    if editor is not None:
        try:
            program = shlex.split(editor)[0]
        except (ValueError, IndexError):
            program = ""
        if not program or shutil.which(program) is None:
            raise UsageError(
                f"the editor {editor!r} (from $VISUAL or $EDITOR) is not installed; {unchanged}. Set "
                "EDITOR to an editor you have, e.g. EDITOR=nano"
            )
    try:
        return click.edit(text, editor=editor, extension=".md", require_save=False)
    except click.ClickException as exc:
        raise UsageError(
            f"the editor {editor or '(click default)'!r} exited with an error or could not start "
            f"({exc.format_message()}); {unchanged}. Fix $EDITOR or run again"
        ) from None
    except UnicodeDecodeError as exc:
        raise UsageError(
            f"the edited text is not UTF-8 (byte {exc.object[exc.start]:#04x} at offset {exc.start}); "
            f"{unchanged}. Save the file as UTF-8"
        ) from None
