"""URL builders shared by every Flask app a test process creates.

Each test gets a new app, and each app binds its ~95 URL rules afresh. Binding a rule, Werkzeug writes the Python
code of two functions that build its URL (`Rule._compile_builder`: an AST, then `compile()`), which was nearly all of
`create_app`'s 30-odd ms, in every test. The apps of a run have the same rules, so the code is the same: here it is
generated once per process and the function reused.

Why reusing it is safe (Werkzeug 3.1, werkzeug/routing/rules.py): the generated function is a plain function,
bound to each rule with `__get__`, that reads the rule only through its first argument, at call time (its
converters' `to_url`, its `_encode_query_vars` for the query string). Its code depends on nothing but what the key
below holds: the rule's text (the function's name), its trace (the static and variable parts of the host or
subdomain and of the path, after merge_slashes: what `compile` parsed), the names of its defaults in order, the
defaults that fill a variable of the rule, as that variable's converter writes them (constants in the code), and
whether unknown values go to the query string. Anything else gets other code, and a key of its own.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Mapping
from typing import Any, TypeAlias

from werkzeug.routing import Rule

Builder: TypeAlias = Callable[..., tuple[str, str]]

_original_compile_builder = Rule._compile_builder


def share_compiled_url_builders() -> dict[Hashable, Builder]:
    """Make every URL rule bound from now on in this process reuse the builder code of an identical rule."""
    builders: dict[Hashable, Builder] = {}

    def compile_builder(self: Rule, append_unknown: bool = True) -> Builder:
        key = _builder_key(self, append_unknown)
        builder = builders.get(key)
        if builder is None:
            builder = builders[key] = _original_compile_builder(self, append_unknown)
        return builder

    Rule._compile_builder = compile_builder  # type: ignore[method-assign]
    return builders


def _builder_key(rule: Rule, append_unknown: bool) -> Hashable:
    trace: tuple[tuple[bool, str], ...] = tuple(rule._trace)
    defaults: Mapping[str, Any] = rule.defaults or {}
    filled = tuple(
        (name, rule._converters[name].to_url(value) if (True, name) in trace else None)
        for name, value in defaults.items()
    )
    return rule.rule, trace, filled, append_unknown
