"""Untrusted text made safe to print: no control characters that could drive a terminal.

A commit subject, PR title or ticket summary may hold terminal escape sequences (``ESC c`` resets the
screen, ``ESC [2J`` clears it, ``ESC ]0;…BEL`` sets the window title). :func:`terminal_text` removes the
C0 controls except tab and newline, DEL, and the C1 controls from everything printed to standard output
or standard error, and from the formats that cannot carry them safely wherever they go: Markdown (read
in terminals: the report and the brag document), HTML (where they are not allowed) and the evidence
table. Files whose format carries them keep every character: JSON escapes them
(:func:`escape_json_controls`), CSV files quote them, DOCX drops only what XML cannot hold.
"""

from __future__ import annotations

import re

# C0 (U+0000–U+001F) without tab and newline, DEL (U+007F) and C1 (U+0080–U+009F).
CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f]")
# What json.dumps(ensure_ascii=False) leaves raw: DEL and C1 (it escapes the C0 controls itself).
_JSON_RAW = {code: f"\\u{code:04x}" for code in range(0x7F, 0xA0)}


def terminal_text(text: str) -> str:
    """``text`` without the control characters a terminal would act on (tab and newline are kept)."""
    return CONTROL.sub("", text)


def escape_json_controls(document: str) -> str:
    """A ``json.dumps(..., ensure_ascii=False)`` document with DEL and C1 escaped as ``\\u007f``…``\\u009f``.

    Those characters can only occur inside JSON strings, where the escape means the same character:
    the document is unchanged for a parser and safe to print.
    """
    return document.translate(_JSON_RAW)
