"""The Bluge query-string language: lexer and parser.

A port of ``github.com/blugelabs/query_string`` (the lexer state machine of
``query_string_lex.go`` and the grammar of ``query_string.y``), which Nakama
calls through ``ParseQueryString``. The language is flat: a query is a list of
clauses, each ``[+|-] base [^boost]``, where base is one of::

    word            word~N          field:word      field:word~N
    number          "phrase"        field:number    field:"phrase"
    field:>n  field:>=n  field:<n  field:<=n        (n may be negative)
    field:>"RFC3339"  field:>="..."  field:<"..."  field:<="..."

There is no grouping, no ``AND``/``OR``/``NOT``, no ``[a TO b]`` ranges: those
characters are ordinary word characters. Tokens end only at an ASCII space (or
``:``, ``^``, ``~`` for words and numbers); a backslash escapes any character
of ``+-=&|><!(){}[]^"~*?:\\/`` and space, and is kept before any other.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from ._index import fits_int64, is_zero_time, query_date_nanos

__all__ = ["Clause", "QueryError", "parse"]


class QueryError(ValueError):
    """The query string is not valid Bluge/Nakama query syntax.

    ``reason`` is the message alone, ``query`` the offending input and
    ``position`` the character offset of the problem when known.
    """

    def __init__(self, reason: str, query: str, position: int | None = None) -> None:
        where = "" if position is None else f" at position {position}"
        super().__init__(f"invalid query{where}: {reason}")
        self.reason = reason
        self.query = query
        self.position = position


# Token kinds.
STRING, PHRASE, NUMBER = "word", "phrase", "number"
PLUS, MINUS, COLON, GREATER, LESS, EQUAL = "'+'", "'-'", "':'", "'>'", "'<'", "'='"
BOOST, TILDE, EOF = "boost", "fuzziness", "end of query"

_OPS = {"+": PLUS, "-": MINUS, ":": COLON, ">": GREATER, "<": LESS, "=": EQUAL}
_RESERVED = frozenset('+-=&|><!(){}[]^"~*?:\\/ ')
# Go's unicode.IsSpace (the White_Space property); Python's isspace() differs.
_GO_SPACE = frozenset(
    "\t\n\v\f\r \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006"
    "\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000"
)
_WORD_END = frozenset(" :^~")
_FAST = {
    "str": re.compile(r"[^\\ :^~]+").match,
    "phrase": re.compile(r'[^"\\]+').match,
    "boost": re.compile(r"[^\\ ]+").match,
    "tilde": re.compile(r"[^\\ ]+").match,
}


@dataclass(frozen=True, slots=True)
class Token:
    kind: str
    text: str
    pos: int


def _unescape(ch: str) -> str:
    return ch if ch in _RESERVED else "\\" + ch


def tokenize(query: str) -> list[Token]:
    """``queryStringLex``: the same states, transitions and token texts."""
    tokens: list[Token] = []
    buf: list[str] = []
    state = "start"
    in_escape = seen_dot = False
    start = 0
    i, n = 0, len(query)
    while True:
        eof = i >= n
        if not eof and not in_escape and state in _FAST:
            # Fast path: a run of characters that cannot change the state.
            run = _FAST[state](query, i)
            if run is not None:
                buf.append(run.group())
                i = run.end()
                continue
        ch = "" if eof else query[i]
        advance = True
        if state == "start":
            if eof:
                break
            start = i
            if in_escape:
                in_escape = False
                buf.append(_unescape(ch))
                state = "str"
            elif ch == '"':
                state = "phrase"
            elif ch in _OPS:
                tokens.append(Token(_OPS[ch], ch, i))
            elif ch == "^":
                state = "boost"
            elif ch == "~":
                state = "tilde"
            elif ch == "\\":
                in_escape = True
            elif ch.isdecimal():  # Go's unicode.IsDigit
                buf.append(ch)
                state = "num"
            elif ch not in _GO_SPACE:
                buf.append(ch)
                state = "str"
        elif state == "phrase":
            if eof:
                raise QueryError("unterminated quote", query, start)
            if not in_escape and ch == '"':
                tokens.append(Token(PHRASE, "".join(buf), start))
                buf, state, in_escape = [], "start", False
            elif not in_escape and ch == "\\":
                in_escape = True
            elif in_escape:
                in_escape = False
                buf.append(_unescape(ch))
            else:
                buf.append(ch)
        elif state in ("boost", "tilde"):
            if eof or (not in_escape and ch == " "):
                kind = BOOST if state == "boost" else TILDE
                tokens.append(Token(kind, "".join(buf) or "1", start))
                buf, state, in_escape = [], "start", False
            elif not in_escape and ch == "\\":
                in_escape = True
            elif in_escape:
                in_escape = False
                buf.append(_unescape(ch))
            else:
                buf.append(ch)
        else:  # "num" or "str"
            if eof or (not in_escape and ch in _WORD_END):
                kind = NUMBER if state == "num" else STRING
                tokens.append(Token(kind, "".join(buf), start))
                advance = eof or ch == " "
                buf, state, in_escape, seen_dot = [], "start", False, False
            elif not in_escape and ch == "\\":
                in_escape = True
            elif in_escape:
                in_escape = False
                buf.append(_unescape(ch))
                state = "str"
            elif state == "num" and not seen_dot and ch == ".":
                seen_dot = True
                buf.append(ch)
            elif state == "num" and ch.isdecimal():
                buf.append(ch)
            else:
                buf.append(ch)
                state = "str"
        if advance and not eof:
            i += 1
    tokens.append(Token(EOF, "", n))
    return tokens


# --- AST -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Term:
    """``field:word``: Bluge MatchQuery through the keyword analyzer."""

    field: str
    term: str


@dataclass(frozen=True, slots=True)
class Fuzzy:
    """``field:word~N``: MatchQuery with fuzziness ``N`` (edit distance)."""

    field: str
    term: str
    fuzziness: int


@dataclass(frozen=True, slots=True)
class Wildcard:
    """``field:a*b?``: WildcardQuery (any word containing ``*`` or ``?``)."""

    field: str
    pattern: str


@dataclass(frozen=True, slots=True)
class Regexp:
    """``field:/re/``: RegexpQuery, Go RE2 syntax matched against whole terms."""

    field: str
    pattern: str


@dataclass(frozen=True, slots=True)
class Number:
    """``field:5``: the term ``"5"`` OR the numeric value 5."""

    field: str
    text: str
    value: float


@dataclass(frozen=True, slots=True)
class Phrase:
    """``field:"text"``: MatchPhraseQuery."""

    field: str
    text: str


@dataclass(frozen=True, slots=True)
class NumericRange:
    """``field:>n`` and friends. ``None`` is an open end."""

    field: str
    low: float | None
    high: float | None
    low_inclusive: bool
    high_inclusive: bool


@dataclass(frozen=True, slots=True)
class DateRange:
    """``field:>"RFC3339"`` and friends, bounds in exact Unix nanoseconds."""

    field: str
    low: int | None
    high: int | None
    low_inclusive: bool
    high_inclusive: bool


Base = Term | Fuzzy | Wildcard | Regexp | Number | Phrase | NumericRange | DateRange

SHOULD, MUST, MUST_NOT = "should", "must", "must_not"


@dataclass(frozen=True, slots=True)
class Clause:
    occur: str  # SHOULD, MUST or MUST_NOT
    query: Base
    boost: float | None


# --- parser ----------------------------------------------------------------------

_GO_FLOAT = re.compile(
    r"[+-]?(?:(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?"
    r"|0[xX](?:[0-9a-fA-F]+\.?[0-9a-fA-F]*|\.[0-9a-fA-F]+)[pP][+-]?[0-9]+"
    r"|inf|infinity|nan)",
    re.IGNORECASE,
)


def go_parse_float(text: str) -> float | None:
    """``strconv.ParseFloat(text, 64)``; None where Go returns an error."""
    if not _GO_FLOAT.fullmatch(text):
        return None
    body = text.lstrip("+-")
    if body != text and body.lower() == "nan":
        return None  # Go takes a sign before "inf" but not before "nan"
    if body[:2].lower() == "0x":
        value = float.fromhex(text)
    else:
        value = float(text)
    if math.isinf(value) and body.lower() not in ("inf", "infinity"):
        return None  # out of range: Go returns ±Inf with ErrRange
    return value


class _Parser:
    def __init__(self, query: str) -> None:
        self.query = query
        self.tokens = tokenize(query)
        self.i = 0

    def peek(self, ahead: int = 0) -> Token:
        return self.tokens[min(self.i + ahead, len(self.tokens) - 1)]

    def take(self) -> Token:
        token = self.tokens[self.i]
        self.i += 1
        return token

    def error(self, reason: str, token: Token | None = None) -> QueryError:
        return QueryError(reason, self.query, None if token is None else token.pos)

    def unexpected(self, token: Token, wanted: str) -> QueryError:
        got = token.kind if token.kind == EOF else f"{token.kind} {token.text!r}"
        return self.error(f"syntax error: expected {wanted}, found {got}", token)

    def parse(self) -> list[Clause]:
        clauses: list[Clause] = []
        while True:
            token = self.peek()
            if token.kind == EOF:
                if not clauses:
                    raise self.unexpected(token, "a search term")
                return clauses
            occur = SHOULD
            if token.kind == PLUS:
                occur = MUST
                self.take()
            elif token.kind == MINUS:
                occur = MUST_NOT
                self.take()
            base = self.base()
            boost = None
            if self.peek().kind == BOOST:
                token = self.take()
                boost = go_parse_float(token.text)
                if boost is None:
                    raise self.error(f"invalid boost value {token.text!r}", token)
            clauses.append(Clause(occur, base, boost))

    def base(self) -> Base:
        token = self.take()
        if token.kind == NUMBER:
            return self.number("", token.text, token)
        if token.kind == PHRASE:
            return Phrase("_all", token.text)
        if token.kind != STRING:
            raise self.unexpected(token, "a search term")
        if self.peek().kind == TILDE:
            return self.fuzzy("_all", token.text, self.take())
        if self.peek().kind != COLON:
            return self.word("_all", token.text, token)
        self.take()
        field = token.text
        token = self.take()
        if token.kind == STRING:
            if self.peek().kind == TILDE:
                return self.fuzzy(field, token.text, self.take())
            return self.word(field, token.text, token)
        if token.kind == PHRASE:
            return Phrase(field, token.text)
        if token.kind in (NUMBER, MINUS):
            return self.number(field, self.signed_number(token), token)
        if token.kind not in (GREATER, LESS):
            raise self.unexpected(token, "a value after ':'")
        op = token
        inclusive = self.peek().kind == EQUAL
        if inclusive:
            self.take()
        token = self.take()
        if token.kind == PHRASE:
            nanos = self.date(token)
            if op.kind == GREATER:
                return DateRange(field, nanos, None, inclusive, True)
            return DateRange(field, None, nanos, True, inclusive)
        if token.kind not in (NUMBER, MINUS):
            raise self.unexpected(token, f"a number or a quoted date after {op.kind}")
        text = self.signed_number(token)
        value = go_parse_float(text) if text.isascii() else None
        if value is None:
            raise self.error(f"error parsing number {text!r}", token)
        if op.kind == GREATER:
            return NumericRange(field, value, None, inclusive, True)
        return NumericRange(field, None, value, True, inclusive)

    def signed_number(self, token: Token) -> str:
        if token.kind == MINUS:
            following = self.take()
            if following.kind != NUMBER:
                raise self.unexpected(following, "a number after '-'")
            return "-" + following.text
        return token.text

    def number(self, field: str, text: str, token: Token) -> Number:
        value = go_parse_float(text) if text.isascii() else None
        if value is None:
            raise self.error(f"error parsing number {text!r}", token)
        return Number(field or "_all", text, value)

    def word(self, field: str, text: str, token: Token) -> Term | Wildcard | Regexp:
        if text.startswith("/") and text.endswith("/"):
            if len(text) == 1:
                raise self.error("a regular expression needs a closing '/'", token)
            return Regexp(field, text[1:-1])
        if "*" in text or "?" in text:
            return Wildcard(field, text)
        return Term(field, text)

    def fuzzy(self, field: str, text: str, tilde: Token) -> Term | Fuzzy:
        value = go_parse_float(tilde.text)
        if value is None:
            raise self.error(f"invalid fuzziness value {tilde.text!r}", tilde)
        if math.isnan(value) or math.isinf(value) or not -(2**63) <= value < 2**63:
            raise self.error(f"invalid fuzziness value {tilde.text!r}", tilde)
        fuzziness = int(value)  # Go's int() truncates toward zero
        if fuzziness == 0:
            return Term(field, text)
        if fuzziness < 0:
            raise self.error("invalid fuzziness, negative", tilde)
        if fuzziness > 2:
            raise self.error("fuzziness exceeds max (2)", tilde)
        return Fuzzy(field, text, fuzziness)

    def date(self, token: Token) -> int | None:
        nanos = query_date_nanos(token.text)
        if nanos is None:
            raise self.error(f"invalid time {token.text!r}: expected RFC 3339", token)
        if is_zero_time(nanos):
            return None  # Go's zero time.Time means "unbounded"
        if not fits_int64(nanos):
            raise self.error(f"invalid/unsupported date range {token.text!r}", token)
        return nanos


def parse(query: str) -> list[Clause]:
    """Parse a non-empty query string into clauses, or raise :class:`QueryError`."""
    return _Parser(query).parse()
