"""Compiling parsed clauses into fast match/score closures.

Scoring follows Bluge under Nakama's ``constantSimilarity`` (every term hit
scores its boost, no tf-idf):

* a top-level query is a BooleanQuery: the score is the sum of the ``+`` clause
  scores plus the sum of the matching optional clause scores; a query of only
  ``-`` clauses starts from match-all and scores 1;
* ``field:word^b`` scores ``b*b`` (Bluge boosts the MatchQuery *and* the term
  query inside it); ``word~N`` scores ``b * sum(b * (1 - d/len))`` over the
  matching terms at edit distance ``d``;
* ``field:5^b`` scores ``b * (hits)``, one hit for the term ``"5"`` and one for
  the numeric value 5;
* ``field:>n^b``, wildcards and regexps score ``b`` per distinct index term hit
  (so a wildcard over a multi-valued field adds up, and ``*`` against a numeric
  value hits all 16 of its prefix-coded terms);
* date ranges score 1 per distinct term hit whatever the boost (Bluge passes a
  constant scorer of 1); phrases never match (see ``exact_phrases``).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Mapping
from typing import Any

from ._index import Document, could_be_encoded, encoded_terms, float_key, index_document
from ._syntax import (
    MUST,
    MUST_NOT,
    SHOULD,
    Base,
    Clause,
    DateRange,
    Fuzzy,
    Number,
    NumericRange,
    Phrase,
    QueryError,
    Regexp,
    Term,
    Wildcard,
    parse,
)

__all__ = ["Query", "compile_query"]

MatchFn = Callable[[Document], bool]
ScoreFn = Callable[[Document], "float | None"]

_INT64_MIN = -(1 << 63)
_INT64_MAX = (1 << 63) - 1


def _wrap(value: int) -> int:
    return ((value - _INT64_MIN) & 0xFFFFFFFFFFFFFFFF) + _INT64_MIN


# --- regular expressions (Go RE2 through vellum -> Python re) -------------------

try:  # Python >= 3.11
    from re import _constants as _sre_c  # type: ignore[attr-defined]
    from re import _parser as _sre_parse  # type: ignore[attr-defined]
except ImportError:  # pragma: no cover - older layouts
    _sre_c = _sre_parse = None

if _sre_c is not None:
    _REJECTED = {
        _sre_c.AT: "anchors and word boundaries (zero width assertions) are not allowed",
        _sre_c.MIN_REPEAT: "lazy quantifiers are not allowed",
        _sre_c.POSSESSIVE_REPEAT: "possessive quantifiers are not supported",
        _sre_c.ATOMIC_GROUP: "atomic groups are not supported",
        _sre_c.ASSERT: "lookaround assertions are not supported",
        _sre_c.ASSERT_NOT: "lookaround assertions are not supported",
        _sre_c.GROUPREF: "backreferences are not supported",
        _sre_c.GROUPREF_EXISTS: "conditional groups are not supported",
    }


def _check_regexp(items: Any) -> None:
    """Reject what Go's regexp/syntax or vellum's automaton refuse."""
    for op, arg in items:
        reason = _REJECTED.get(op)
        if reason is not None:
            raise ValueError(reason)
        stack = [arg]
        while stack:
            item = stack.pop()
            if isinstance(item, _sre_parse.SubPattern):
                _check_regexp(item)
            elif isinstance(item, (list, tuple)):
                stack.extend(item)


def go_regexp(pattern: str, query: str) -> re.Pattern[str]:
    """Compile a Bluge RegexpQuery pattern; whole-term matching is up to the caller."""
    try:
        if _sre_parse is not None:
            _check_regexp(_sre_parse.parse(pattern))
        # RE2's \d \w \s are ASCII-only.
        return re.compile(pattern, re.ASCII)
    except (re.error, ValueError, RecursionError, OverflowError) as exc:
        raise QueryError(f"invalid regular expression /{pattern}/: {exc}", query) from None


def wildcard_regexp(pattern: str) -> re.Pattern[str]:
    parts = [".*" if ch == "*" else "." if ch == "?" else re.escape(ch) for ch in pattern]
    return re.compile("".join(parts))


# --- edit distance ----------------------------------------------------------------


def _osa_distance(a: str, b: str, limit: int) -> int | None:
    """Levenshtein distance with adjacent transpositions, None past ``limit``."""
    la, lb = len(a), len(b)
    if abs(la - lb) > limit:
        return None
    before: list[int] = []
    prev = list(range(lb + 1))
    for i in range(1, la + 1):
        cur = [i] + [0] * lb
        best = i
        ai = a[i - 1]
        for j in range(1, lb + 1):
            value = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (ai != b[j - 1]))
            if i > 1 and j > 1 and ai == b[j - 2] and a[i - 2] == b[j - 1]:
                value = min(value, before[j - 2] + 1)
            cur[j] = value
            best = min(best, value)
        if best > limit:
            return None
        before, prev = prev, cur
    return prev[lb] if prev[lb] <= limit else None


# --- per-clause compilers: each returns (match, score) ---------------------------


def _terms_and_numeric(doc: Document, field: str) -> set[str]:
    found: set[str] = set(doc.terms.get(field, ()))
    for key in doc.numbers.get(field, ()):
        found.update(encoded_terms(key))
    return found


def _term_matcher(field: str, term: str) -> MatchFn:
    if not could_be_encoded(term):

        def match(doc: Document) -> bool:
            values = doc.terms.get(field)
            return values is not None and term in values

        return match

    def match_encoded(doc: Document) -> bool:
        values = doc.terms.get(field)
        if values is not None and term in values:
            return True
        return any(term in encoded_terms(key) for key in doc.numbers.get(field, ()))

    return match_encoded


def _constant(match: MatchFn, weight: float) -> ScoreFn:
    def score(doc: Document) -> float | None:
        return weight if match(doc) else None

    return score


def _compile_term(q: Term, boost: float) -> tuple[MatchFn, ScoreFn]:
    match = _term_matcher(q.field, q.term)
    if could_be_encoded(q.term):
        return match, _constant(match, boost * boost)
    field, term, weight = q.field, q.term, boost * boost

    def score(doc: Document) -> float | None:
        values = doc.terms.get(field)
        return weight if values is not None and term in values else None

    return match, score


def _compile_phrase(q: Phrase, exact: bool) -> tuple[MatchFn, ScoreFn]:
    if not exact:
        return _never, _never_score
    match = _term_matcher(q.field, q.text)
    return match, _constant(match, 1.0)


def _never(doc: Document) -> bool:
    return False


def _never_score(doc: Document) -> float | None:
    return None


def _compile_number(q: Number, boost: float) -> tuple[MatchFn, ScoreFn]:
    field, key = q.field, float_key(q.value)
    term_match = _term_matcher(field, q.text)

    def match(doc: Document) -> bool:
        keys = doc.numbers.get(field)
        return (keys is not None and key in keys) or term_match(doc)

    def score(doc: Document) -> float | None:
        keys = doc.numbers.get(field)
        hits = (keys is not None and key in keys) + term_match(doc)
        return boost * hits if hits else None

    return match, score


def _split_int64_range(low: int, high: int) -> list[tuple[int, int, int]]:
    """Bluge's ``splitInt64Range`` (precision step 4) with Go int64 arithmetic.

    Returns ``(first, last, shift)``: the terms ``key >> shift`` in
    ``first..last`` are the index terms a numeric range query enumerates.
    """
    out: list[tuple[int, int, int]] = []
    if low > high:
        return out
    shift = 0
    while True:
        diff = _wrap(1 << (shift + 4)) if shift + 4 < 64 else 0
        mask = _wrap(0xF << shift)
        has_lower = (low & mask) != 0
        has_upper = (high & mask) != mask
        next_low = (_wrap(low + diff) if has_lower else low) & ~mask
        next_high = (_wrap(high - diff) if has_upper else high) & ~mask
        if shift + 4 >= 64 or next_low > next_high or next_low < low or next_high > high:
            out.append((low >> shift, high >> shift, shift))
            return out
        if has_lower:
            out.append((low >> shift, (low | mask) >> shift, shift))
        if has_upper:
            out.append(((high & ~mask) >> shift, high >> shift, shift))
        low, high = next_low, next_high
        shift += 4


def _compile_key_range(field: str, low: int, high: int, weight: float) -> tuple[MatchFn, ScoreFn]:
    blocks: list[tuple[int, int, int]] = []  # filled on first multi-valued score

    def match(doc: Document) -> bool:
        keys = doc.numbers.get(field)
        if keys is not None:
            for key in keys:
                if low <= key <= high:
                    return True
        return False

    def score(doc: Document) -> float | None:
        keys = doc.numbers.get(field)
        if keys is None:
            return None
        if len(keys) == 1:
            return weight if low <= keys[0] <= high else None
        hits = [key for key in keys if low <= key <= high]
        if len(hits) <= 1:
            return weight if hits else None
        if not blocks:
            blocks.extend(_split_int64_range(low, high))
        terms = set()
        for key in hits:
            for first, last, shift in blocks:
                if first <= key >> shift <= last:
                    terms.add((shift, key >> shift))
                    break
        return weight * len(terms)

    return match, score


def _compile_numeric_range(q: NumericRange, boost: float) -> tuple[MatchFn, ScoreFn]:
    low = _INT64_MIN if q.low is None else float_key(q.low)
    high = _INT64_MAX if q.high is None else float_key(q.high)
    if not q.low_inclusive and low != _INT64_MAX:
        low += 1
    if not q.high_inclusive and high != _INT64_MIN:
        high -= 1
    return _compile_key_range(q.field, low, high, boost)


def _compile_date_range(q: DateRange) -> tuple[MatchFn, ScoreFn]:
    low = _INT64_MIN if q.low is None else q.low
    high = _INT64_MAX if q.high is None else q.high
    if not q.low_inclusive and low != _INT64_MAX:
        low += 1
    if not q.high_inclusive and high != _INT64_MIN:
        high -= 1
    return _compile_key_range(q.field, low, high, 1.0)


def _compile_pattern(field: str, regexp: re.Pattern[str], boost: float) -> tuple[MatchFn, ScoreFn]:
    fullmatch = regexp.fullmatch

    def match(doc: Document) -> bool:
        values = doc.terms.get(field)
        if values is not None:
            for value in values:
                if fullmatch(value) is not None:
                    return True
        keys = doc.numbers.get(field)
        if keys is not None:
            for key in keys:
                for value in encoded_terms(key):
                    if fullmatch(value) is not None:
                        return True
        return False

    def score(doc: Document) -> float | None:
        if field not in doc.numbers:
            values = doc.terms.get(field, ())
            hits = sum(1 for value in values if fullmatch(value) is not None)
        else:
            terms = _terms_and_numeric(doc, field)
            hits = sum(1 for value in terms if fullmatch(value) is not None)
        return boost * hits if hits else None

    return match, score


def _compile_fuzzy(q: Fuzzy, boost: float) -> tuple[MatchFn, ScoreFn]:
    field, term, limit = q.field, q.term, q.fuzziness
    term_len = len(term)

    def weights(doc: Document) -> list[float]:
        out = []
        for value in _terms_and_numeric(doc, field):
            if value == term:
                out.append(boost)
                continue
            distance = _osa_distance(term, value, limit)
            if distance is not None:
                shortest = min(term_len, len(value))
                ratio = distance / shortest if shortest else float("inf")
                out.append(boost * (1.0 - ratio))
        return out

    def match(doc: Document) -> bool:
        return bool(weights(doc))

    def score(doc: Document) -> float | None:
        found = weights(doc)
        return boost * sum(found) if found else None

    return match, score


def _compile_clause(q: Base, boost: float | None, exact_phrases: bool, query: str):
    b = 1.0 if boost is None else boost
    if isinstance(q, Term):
        return _compile_term(q, b)
    if isinstance(q, Number):
        return _compile_number(q, b)
    if isinstance(q, NumericRange):
        return _compile_numeric_range(q, b)
    if isinstance(q, DateRange):
        return _compile_date_range(q)
    if isinstance(q, Phrase):
        return _compile_phrase(q, exact_phrases)
    if isinstance(q, Wildcard):
        return _compile_pattern(q.field, wildcard_regexp(q.pattern), b)
    if isinstance(q, Regexp):
        pattern = q.pattern[1:] if q.pattern.startswith("^") else q.pattern
        return _compile_pattern(q.field, go_regexp(pattern, query), b)
    if isinstance(q, Fuzzy):
        return _compile_fuzzy(q, b)
    raise AssertionError(q)  # pragma: no cover


# --- the boolean query --------------------------------------------------------------


@functools.lru_cache(maxsize=256)
def _factory(kind: str, n_musts: int, n_shoulds: int, n_nots: int) -> Callable[..., Any]:
    """Code for one query shape, compiled once and reused for every query of it.

    The generated source names only the clause closures (``m0``, ``s0``,
    ``n0``...), never any query text. It saves the loop and call overhead of a
    generic combinator, which is most of the cost for short queries.
    """
    m = [f"m{i}" for i in range(n_musts)]
    s = [f"s{i}" for i in range(n_shoulds)]
    n = [f"n{i}" for i in range(n_nots)]
    if kind == "match":
        parts = [f"{x}(doc)" for x in m] + [f"not {x}(doc)" for x in n]
        if not m and s:
            parts.append("(" + " or ".join(f"{x}(doc)" for x in s) + ")")
        body = [f"return {' and '.join(parts)}"]
    else:  # Bluge's BooleanSearcher score
        body = [f"if {x}(doc): return None" for x in n]
        body.append("total = 0.0")
        for x in m:
            body += [f"v = {x}(doc)", "if v is None: return None", "total += v"]
        body.append("extra = None")
        for x in s:
            body += [f"v = {x}(doc)", "if v is not None: extra = v if extra is None else extra + v"]
        body.append("if extra is not None: return total + extra")
        # Only prohibitions: Bluge starts from match-all, which scores 1.
        body.append("return total" if m else "return None" if s else "return 1.0")
    source = "def factory({}):\n    def fn(doc):\n{}\n    return fn\n".format(
        ", ".join(m + s + n), "\n".join("        " + line for line in body)
    )
    namespace: dict[str, Any] = {}
    exec(source, namespace)  # generated from identifiers only
    return namespace["factory"]


def _build_match(musts: tuple, shoulds: tuple, nots: tuple) -> MatchFn:
    if not nots and len(musts) + len(shoulds) == 1:
        return (musts or shoulds)[0]
    return _factory("match", len(musts), len(shoulds), len(nots))(*musts, *shoulds, *nots)


def _build_score(musts: tuple, shoulds: tuple, nots: tuple) -> ScoreFn:
    return _factory("score", len(musts), len(shoulds), len(nots))(*musts, *shoulds, *nots)


def _match_all(doc: Document) -> bool:
    return True


def _score_all(doc: Document) -> float | None:
    return 1.0


class Query:
    """A compiled query; build it with :func:`compile_query` and reuse it.

    ``matcher`` and ``scorer`` are the raw closures over :class:`Document` for
    hot loops; :meth:`match`, :meth:`score` and :meth:`evaluate` also accept a
    plain mapping, which they index first (with no field prefix).

    ``required_terms`` lists ``(field, term)`` pairs every matching document
    holds as keyword terms (from ``+field:word`` clauses), so a caller with an
    inverted index can narrow the candidates before calling ``matcher``.
    """

    __slots__ = ("clauses", "matcher", "required_terms", "scorer", "text")

    def __init__(self, text: str, clauses: tuple[Clause, ...], matcher: MatchFn, scorer: ScoreFn):
        self.text = text
        self.clauses = clauses
        self.matcher = matcher
        self.scorer = scorer
        self.required_terms = tuple(
            dict.fromkeys(
                (c.query.field, c.query.term)
                for c in clauses
                if c.occur == MUST and type(c.query) is Term and not could_be_encoded(c.query.term)
            )
        )

    def __repr__(self) -> str:
        return f"Query({self.text!r})"

    def match(self, document: Document | Mapping[str, Any]) -> bool:
        """Whether the document is a hit (Bluge's boolean semantics)."""
        if document.__class__ is not Document:
            document = index_document(document)
        return self.matcher(document)

    def evaluate(self, document: Document | Mapping[str, Any]) -> float | None:
        """The Bluge score of a hit, or None when the document does not match."""
        if document.__class__ is not Document:
            document = index_document(document)
        return self.scorer(document)

    def score(self, document: Document | Mapping[str, Any]) -> float:
        """The Bluge score of a hit, 0.0 when the document does not match."""
        value = self.evaluate(document)
        return 0.0 if value is None else value


@functools.lru_cache(maxsize=4096)
def compile_query(text: str, *, exact_phrases: bool = False) -> Query:
    """Compile a Nakama query string (``ParseQueryString``) once, for reuse.

    ``"*"`` matches everything (score 1) and ``""`` matches nothing, as in
    Nakama's ``ParseQueryString`` (match listing turns an empty query into
    ``*`` before calling it). With ``exact_phrases=True`` a quoted value is an
    exact term (Bluge issue #86's proposed fix) instead of never matching.
    Raises :class:`QueryError` for invalid syntax, numbers, boosts,
    fuzziness, dates and regular expressions.
    """
    if not isinstance(text, str):
        raise TypeError("query must be a str")
    if text == "*":
        return Query(text, (), _match_all, _score_all)
    if text == "":
        return Query(text, (), _never, _never_score)
    clauses = tuple(parse(text))
    groups: dict[str, list[tuple[MatchFn, ScoreFn]]] = {MUST: [], SHOULD: [], MUST_NOT: []}
    for clause in clauses:
        groups[clause.occur].append(
            _compile_clause(clause.query, clause.boost, exact_phrases, text)
        )
    musts = tuple(groups[MUST])
    shoulds = tuple(groups[SHOULD])
    nots = tuple(groups[MUST_NOT])
    matcher = _build_match(
        tuple(m for m, _ in musts), tuple(m for m, _ in shoulds), tuple(m for m, _ in nots)
    )
    scorer = _build_score(
        tuple(s for _, s in musts), tuple(s for _, s in shoulds), tuple(m for m, _ in nots)
    )
    return Query(text, clauses, matcher, scorer)
