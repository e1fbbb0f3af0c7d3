"""Compiled templates shared by every Flask app a test process creates.

Each test gets a new app (its own settings), and each app its own Jinja environment, which compiled every template
it rendered afresh: parsing, generating Python and compiling it took 30-60 ms for a page's first render, in every
test. Jinja's bytecode cache keeps the compiled code under the template's name and file, checked against a
checksum of its source (an edited template is compiled again), so apps after the first load it instead.
"""

from __future__ import annotations

from flask import Flask
from jinja2 import BytecodeCache
from jinja2.bccache import Bucket


class SharedBytecode(BytecodeCache):
    """Jinja's bytecode, kept in this process's memory."""

    def __init__(self) -> None:
        self._code: dict[str, bytes] = {}

    def load_bytecode(self, bucket: Bucket) -> None:
        code = self._code.get(bucket.key)
        if code is not None:
            bucket.bytecode_from_string(code)  # ignored (compiled again) if the source's checksum differs

    def dump_bytecode(self, bucket: Bucket) -> None:
        self._code[bucket.key] = bucket.bytecode_to_string()

    def clear(self) -> None:
        self._code.clear()


def share_compiled_templates() -> SharedBytecode:
    """Make every Flask app created from now on in this process use one shared bytecode cache."""
    cache = SharedBytecode()
    Flask.jinja_options = {**Flask.jinja_options, "bytecode_cache": cache}
    return cache
