"""Nakama's query language for match listing and the matchmaker.

Nakama indexes match labels and matchmaker tickets with Bluge and filters them
with Bluge's query-string syntax (``+label.mode:ranked label.level:>=5^2``).
This package reproduces that as one engine: compile a query string once with
:func:`compile_query`, index each label or ticket once with
:func:`index_document`, then ask the compiled :class:`Query` whether a document
matches and with what score, as Bluge would under Nakama's settings (keyword
analyzer, constant similarity)::

    q = compile_query("+label.mode:ranked label.level:>=5^2")
    doc = index_document({"mode": "ranked", "level": 7}, "label")
    q.match(doc)   # True
    q.score(doc)   # 3.0: 1 for the required term + 2 for the boosted range

Parser decision: ``luqum`` (a Lucene parser) was evaluated and not used. It
parses a different language: it accepts grouping, ``AND``/``OR``/``NOT`` and
``[a TO b]``, which Bluge treats as plain characters; it reads ``field:-5`` as a
negation where Bluge reads the number -5; it accepts ``a:b:c``, which Bluge
rejects; and it has no notion of Bluge's number tokens (``field:5`` means the
term "5" *or* the value 5) nor of Bluge's tokenizing rules (only an ASCII space
ends a token; a boost runs to the next space). Those rules decide what matches,
so ``_syntax`` ports Bluge's lexer state machine and yacc grammar directly
(no dependency; no dependency line was added to ``setup.cfg``).

Supported, with Bluge's meaning (see ``_syntax`` and ``_engine`` for details):
``+``/``-``/optional clauses, ``field:word`` (exact, case-sensitive keyword
term), ``field:5`` and ``field:-5``, ``field:>n`` ``>=`` ``<`` ``<=``,
``field:>"2021-12-25T00:00:00Z"`` date ranges (RFC 3339), ``a*b?`` wildcards,
``/regexp/``, ``word~N`` fuzzy terms (N <= 2), ``^boost``, backslash escapes,
the ``*`` query, and unfielded words (they search Bluge's default field
``_all``, which Nakama never fills, so they match nothing).

Nakama's quirks kept on purpose: ``true``/``false`` are indexed as the terms
``T``/``F`` (query ``label.open:T``); strings that look like dates are indexed
as dates, so only date ranges find them; quoted phrases never match, because
Nakama's keyword fields carry no term positions (Bluge issue #86) unless
``compile_query(..., exact_phrases=True)``.

Differences from Nakama: errors Bluge only reports when searching (bad
regexps, fuzziness over 2, out-of-range dates) are raised by
:func:`compile_query`; regexps run on Python's ``re`` (ASCII classes, RE2-only
syntax such as ``\\pL`` or ``[[:alpha:]]`` is refused or read differently);
fuzzy matching uses the optimal-string-alignment distance; a date bound of
Go's zero time (year 1) is open here, where Nakama's matchmaker rejects the
query (its ``Validate``) and match listing treats it as open too.

Compiled queries expose ``matcher``/``scorer`` closures for hot loops and
``required_terms`` for inverted-index pre-filtering; ``python -m
nakama_rt.query`` prints evaluations per second over 10,000 tickets.
"""

from ._bench import run
from ._engine import Query, compile_query
from ._index import Document, index_document
from ._syntax import QueryError

__all__ = ["Document", "Query", "QueryError", "benchmark", "compile_query", "index_document"]


def benchmark(count: int = 10_000, repeat: int = 5) -> dict[str, float]:
    """Evaluations per second of typical queries over ``count`` ticket documents."""
    return run(count, repeat)
