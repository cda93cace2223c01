"""Policy strings: wildcards (`*`, `?`) and policy variables (`${aws:username}`).

A `Pattern` is a string from a policy (an Action, a Resource, a condition value) taken apart once
into tokens, so that `${*}`, `${?}` and `${$}` stay literal characters after substitution and
wildcards never leak out of a variable's value. Matching compiles to an anchored regex.

Variables (policy version 2012-10-17 only) take their value from the request context; a key is
case-insensitive, `${key, 'default'}` falls back to the default (`''` inside it is one quote), and a
key with no value, or with several values, leaves the pattern unresolved: it then matches nothing.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache

Lookup = Callable[[str], tuple[str, ...] | None]
"""Context key (any case) -> its values, or None when the request has no such key."""


@dataclass(frozen=True)
class Literal:
    text: str


@dataclass(frozen=True)
class Star:
    pass


@dataclass(frozen=True)
class Question:
    pass


@dataclass(frozen=True)
class Variable:
    key: str
    default: str | None


Token = Literal | Star | Question | Variable

_ESCAPES = {"*": "*", "?": "?", "$": "$"}
_VARIABLE = re.compile(
    r"\$\{\s*(?P<key>[^,'}\s]+)\s*(?:,\s*'(?P<default>(?:[^']|'')*)'\s*)?\}",
)


def _tokenize(text: str, *, variables: bool) -> tuple[Token, ...]:
    tokens: list[Token] = []
    buf: list[str] = []

    def flush() -> None:
        if buf:
            tokens.append(Literal("".join(buf)))
            buf.clear()

    i = 0
    while i < len(text):
        ch = text[i]
        if ch == "*":
            flush()
            tokens.append(Star())
        elif ch == "?":
            flush()
            tokens.append(Question())
        elif ch == "$" and variables and text.startswith("${", i):
            match = _VARIABLE.match(text, i)
            if match is None:
                buf.append(ch)
            else:
                key, default = match.group("key"), match.group("default")
                if key in _ESCAPES and default is None:
                    buf.append(_ESCAPES[key])
                else:
                    flush()
                    text_default = None if default is None else default.replace("''", "'")
                    tokens.append(Variable(key.lower(), text_default))
                i = match.end()
                continue
        else:
            buf.append(ch)
        i += 1
    flush()
    return tuple(tokens)


@dataclass(frozen=True)
class Pattern:
    """One policy string, tokenized. Build with `Pattern.parse`."""

    source: str
    tokens: tuple[Token, ...]

    @classmethod
    def parse(cls, text: str, *, variables: bool = False) -> Pattern:
        return _parse_cached(text, variables)

    @property
    def has_variables(self) -> bool:
        return any(isinstance(t, Variable) for t in self.tokens)

    @property
    def is_any(self) -> bool:
        """True for the bare `*`, which matches every string."""
        return self.tokens == (Star(),)

    def substitute(self, lookup: Lookup | None) -> tuple[Token, ...] | None:
        """Tokens with variables replaced by literals; None when a variable has no value."""
        if not self.has_variables:
            return self.tokens
        out: list[Token] = []
        for token in self.tokens:
            if isinstance(token, Variable):
                value = _variable_value(token, lookup)
                if value is None:
                    return None
                out.append(Literal(value))
            else:
                out.append(token)
        return tuple(out)

    def literal(self, lookup: Lookup | None = None) -> str | None:
        """The string with variables substituted and `*`/`?` kept as plain characters."""
        tokens = self.substitute(lookup)
        if tokens is None:
            return None
        return "".join(_token_text(t) for t in tokens)

    def regex(
        self, lookup: Lookup | None = None, *, ignore_case: bool = False, arn: bool = False
    ) -> re.Pattern[str] | None:
        """An anchored regex for glob matching; None when a variable has no value.

        With `arn`, wildcards in the first five colon-separated ARN nodes stay inside their
        node (ArnLike compares node by node); in the resource node they may span `:` and `/`.
        """
        tokens = self.substitute(lookup)
        if tokens is None:
            return None
        return _compile(tokens, ignore_case, arn)

    def matches(
        self,
        value: str,
        lookup: Lookup | None = None,
        *,
        ignore_case: bool = False,
        arn: bool = False,
    ) -> bool:
        if self.is_any and not arn:
            return True
        rx = self.regex(lookup, ignore_case=ignore_case, arn=arn)
        return rx is not None and rx.fullmatch(value) is not None


@lru_cache(maxsize=4096)
def _parse_cached(text: str, variables: bool) -> Pattern:
    return Pattern(text, _tokenize(text, variables=variables))


def _token_text(token: Token) -> str:
    if isinstance(token, Literal):
        return token.text
    if isinstance(token, Star):
        return "*"
    if isinstance(token, Question):
        return "?"
    raise TypeError(f"unresolved variable {token.key!r}")


def _variable_value(token: Variable, lookup: Lookup | None) -> str | None:
    values = lookup(token.key) if lookup is not None else None
    if values is not None and len(values) == 1:
        return values[0]
    return token.default


@lru_cache(maxsize=4096)
def _compile(tokens: tuple[Token, ...], ignore_case: bool, arn: bool) -> re.Pattern[str]:
    colons = sum(t.text.count(":") for t in tokens if isinstance(t, Literal))
    segmented = arn and colons >= 5
    parts: list[str] = []
    seen = 0
    for token in tokens:
        in_resource = not segmented or seen >= 5
        if isinstance(token, Literal):
            parts.append(re.escape(token.text))
            seen += token.text.count(":")
        elif isinstance(token, Star):
            parts.append(".*" if in_resource else "[^:]*")
        elif isinstance(token, Question):
            parts.append("." if in_resource else "[^:]")
        else:
            raise TypeError(f"unresolved variable {token.key!r}")
    flags = re.DOTALL | (re.IGNORECASE if ignore_case else 0)
    return re.compile("".join(parts), flags)
