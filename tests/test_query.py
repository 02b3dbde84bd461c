"""Nakama/Bluge query strings: parsing, indexing, matching and scoring."""

from __future__ import annotations

import datetime
import json
import math
import random

import pytest

from nakama_rt.query import (
    Document,
    Query,
    QueryError,
    benchmark,
    compile_query,
    index_document,
)
from nakama_rt.query._engine import _split_int64_range
from nakama_rt.query._index import encoded_terms, float_key, index_date_nanos
from nakama_rt.query._syntax import (
    BOOST,
    COLON,
    EOF,
    MINUS,
    NUMBER,
    PHRASE,
    PLUS,
    STRING,
    TILDE,
    Number,
    Term,
    parse,
    tokenize,
)

LABEL = {
    "mode": "ranked",
    "level": 7,
    "skill": 60.5,
    "region": "eu-west",
    "tags": {"x": True, "y": False},
    "maps": ["map1", "map2"],
    "levels": [3, 10],
    "name": "Big Room",
    "created": "2021-12-25T10:00:00Z",
    "day": "2022-01-02",
    "empty": "",
    "nothing": None,
    "neg": -5,
    "zero": 0,
    "ver": "1.2.3",
    "five": "5",
    "mixed": ["5", 5],
    "unicode": "héllo wörld ✓",
    "path": "a:b",
    "a:b": 1,
    "Case": "MiXed",
    "deep": {"er": {"est": "yes"}},
    "objs": [{"k": "one"}, {"k": "two"}],
}
DOC = index_document(
    LABEL,
    "label",
    keywords={"node": "node1", "label_string": "2021-01-01"},
    numbers={"tick_rate": 10},
)

MATCH_CASES = [
    # required / optional / prohibited
    ("+label.mode:ranked", True),
    ("label.mode:ranked", True),
    ("label.mode:casual", False),  # optional-only: one must hit
    ("label.mode:casual label.level:7", True),
    ("+label.mode:ranked label.mode:casual", True),
    ("+label.mode:ranked +label.level:8", False),
    ("+label.mode:ranked -label.level:7", False),
    ("+label.mode:ranked -label.level:8", True),
    ("-label.mode:casual", True),  # negation only: starts from match-all
    ("-label.mode:ranked", False),
    ("-label.missing:1", True),
    ("-label.level:7 -label.mode:x", False),
    # exact, case-sensitive keyword terms
    ("+label.mode:Ranked", False),
    ("+label.mode:rank", False),
    ("+label.Case:MiXed", True),
    ("+label.ver:1.2.3", True),
    ("+label.missing:x", False),
    # numbers: the term "5" OR the value 5
    ("+label.level:7", True),
    ("+label.level:7.0", True),
    ("+label.level:07", True),
    ("+label.level:7.", True),
    ("+label.level:8", False),
    ("+label.level:seven", False),
    ("+label.five:5", True),  # string "5" matches as a term
    ("+label.mixed:5", True),
    ("+label.neg:-5", True),
    ("+label.zero:0", True),
    ("+label.skill:60.5", True),
    # comparisons
    ("+label.level:>=7", True),
    ("+label.level:>7", False),
    ("+label.level:<7", False),
    ("+label.level:<=7", True),
    ("+label.level:>6.5", True),
    ("+label.level:> 6", True),
    ("+label.level:<-1", False),
    ("+label.neg:<0", True),
    ("+label.neg:>-6", True),
    ("+label.skill:>60", True),
    ("+label.five:>4", False),  # numeric query on a string
    ("+label.mode:>1", False),
    ("+label.missing:>1", False),
    # arrays: any element; each clause on its own
    ("+label.maps:map2", True),
    ("+label.levels:10", True),
    ("+label.levels:>=5 +label.levels:<=4", True),
    ("+label.objs.k:two", True),
    # nested objects, booleans as T/F
    ("+label.deep.er.est:yes", True),
    ("+label.tags.x:T", True),
    ("+label.tags.x:true", False),
    ("+label.tags.y:F", True),
    # escapes and unicode
    ("+label.name:Big\\ Room", True),
    ("+label.name:Big Room", False),  # Room goes to the empty _all field
    ("label.name:Big Room", False),
    ("+label.path:a\\:b", True),
    ("+label.a\\:b:1", True),
    ("+label.unicode:héllo\\ wörld\\ ✓", True),
    # phrases never match (no term positions in Nakama's index)
    ('+label.name:"Big Room"', False),
    ('label.mode:"ranked"', False),
    ('+label.empty:""', False),
    # wildcards
    ("+label.region:eu*", True),
    ("+label.region:eu-?est", True),
    ("+label.region:*west", True),
    ("+label.region:EU*", False),
    ("+label.mode:r?nked", True),
    ("+label.mode:r?ked", False),
    ("+label.maps:map*", True),
    ("+label.level:*", True),  # matches the prefix-coded numeric terms
    ("+label.missing:*", False),
    ("+label.empty:*", True),
    # regular expressions: whole-term, leading ^ dropped
    ("+label.maps:/map[0-9]/", True),
    ("+label.mode:/rank/", False),
    ("+label.mode:/.*ank.*/", True),
    ("+label.mode:/\\^ranked/", True),  # '^' must be escaped; a leading one is dropped
    ("+label.mode:/(?i)RANKED/", True),
    ("+label.region:/eu\\-(west|east)/", True),
    ("-label.maps:/.*map2.*/", False),
    # fuzzy (optimal string alignment distance)
    ("+label.mode:rankd~1", True),
    ("+label.mode:rnaked~1", True),  # transposition
    ("+label.mode:xxnked~1", False),
    ("+label.mode:xxnked~2", True),
    ("+label.mode:rankd~", True),  # bare ~ is 1
    ("+label.mode:rankd~0", False),  # 0 is an exact term
    ("+label.mode:rankd~1.9", True),  # truncated to 1
    # dates: date-like strings are datetime fields, not terms
    ('+label.created:>"2021-12-25T00:00:00Z"', True),
    ('+label.created:<"2021-12-25T10:00:00Z"', False),
    ('+label.created:<="2021-12-25T10:00:00Z"', True),
    ('+label.created:>="2021-12-25T11:00:00+01:00"', True),
    ('+label.created:>"2021-12-25T11:00:00+01:00"', False),
    ('+label.created:>"2021-12-25T09:59:59.999999999Z"', True),
    ('+label.day:>"2022-01-01T00:00:00Z"', True),
    ("+label.day:2022-01-02", False),
    ('+label.day:"2022-01-02"', False),
    # Bluge compares int64 keys: dates are nanoseconds, numbers their sort key
    ("+label.created:<5", True),
    ("+label.created:>5", False),
    ('+label.level:>"1970-01-01T00:00:00Z"', True),
    # top-level fields Nakama adds beside the label (no date detection there)
    ("+node:node1 +tick_rate:10", True),
    ("+label_string:2021-01-01", True),
    ("+tick_rate:>=11", False),
    # unfielded words search _all, which Nakama never fills
    ("ranked", False),
    ("+ranked label.mode:ranked", False),
    ("-ranked", True),
    ("7", False),
    ('"ranked"', False),
    # boosts never change matching
    ("+label.level:7^0", True),
    ("-label.mode:x^5", True),
    ("label.mode:ranked^-1", True),
    # match all / match none
    ("*", True),
    ("", False),
    ("*^2", False),  # only the exact query "*" is match-all
]


@pytest.mark.parametrize(("query", "expected"), MATCH_CASES)
def test_match(query: str, expected: bool) -> None:
    compiled = compile_query(query)
    assert compiled.match(DOC) is expected
    assert (compiled.evaluate(DOC) is not None) is expected


def test_exact_phrases_option() -> None:
    assert compile_query('+label.name:"Big Room"', exact_phrases=True).match(DOC)
    assert compile_query('label.mode:"ranked"^5', exact_phrases=True).score(DOC) == 1.0
    assert compile_query('+label.empty:""', exact_phrases=True).match(DOC)
    assert not compile_query('+label.mode:"rank"', exact_phrases=True).match(DOC)


def test_star_matches_empty_document() -> None:
    empty = index_document({}, "label")
    assert compile_query("*").match(empty)
    assert compile_query("-label.x:1").match(empty)
    assert not compile_query("label.x:1").match(empty)


def test_plain_mappings_are_indexed_on_the_fly() -> None:
    query = compile_query("+label.mode:ranked +label.level:>=5")
    assert query.match({"label": {"mode": "ranked", "level": 7}})
    assert query.match({"label.mode": "ranked", "label.level": 5})
    assert not query.match({"mode": "ranked", "level": 7})
    assert query.score({"label": {"mode": "ranked", "level": 9}}) == 2.0
    assert query.score({}) == 0.0


def test_matchmaker_properties() -> None:
    ticket = index_document(
        {"region": "europe", "rank": 6, "blocked": "u1 u2"},
        "properties",
        keywords={"ticket": "t1", "party_id": ""},
        numbers={"min_count": 2, "max_count": 4},
    )
    assert compile_query("+properties.region:europe properties.rank:>=5").match(ticket)
    assert compile_query("+properties.region:europe -properties.blocked:/.*u3.*/").match(ticket)
    assert not compile_query("+properties.region:europe -properties.blocked:/.*u2.*/").match(ticket)
    assert compile_query("+min_count:<=2 +max_count:>=4 +ticket:t1").match(ticket)
    # From Nakama's tests: an optional-only query needs a hit.
    assert not compile_query("properties.region:asia").match(ticket)


# --- scoring ----------------------------------------------------------------------

SCORE_CASES = [
    ("+label.mode:ranked", 1.0),
    ("label.mode:ranked^2", 4.0),  # MatchQuery and its term query both boosted
    ("label.mode:ranked^0.5", 0.25),
    ("label.level:7^3", 3.0),  # numeric hit only
    ("label.five:5^3", 3.0),  # term hit only
    ("label.mixed:5", 2.0),  # term and numeric hits
    ("label.mixed:5^3", 6.0),
    ("label.level:>=5^2", 2.0),
    ("label.levels:>=1", 1.0),  # 3 and 10 share one coarse range term
    ("label.levels:>=3", 2.0),  # ... but not here
    ("label.levels:>=3^2", 4.0),
    ('label.created:>"2021-01-01T00:00:00Z"^5', 1.0),  # date ranges ignore boosts
    ("label.maps:map*", 2.0),
    ("label.maps:map*^3", 6.0),
    ("label.level:*", 16.0),  # all 16 prefix-coded terms of one number
    ("label.maps:/map[12]/^2", 4.0),
    ("label.mode:rankd~1", 0.8),  # 1 - distance/min_length
    ("label.mode:rankd~1 ^2", 3.2),  # a fuzziness runs to the next space
    ("label.mode:ranked~1 ^2", 4.0),  # exact term inside a fuzzy query
    ("-label.mode:x", 1.0),
    ("-label.mode:x^5", 1.0),
    ("*", 1.0),
    ("+label.mode:ranked +label.level:7 label.skill:>60^10 label.region:x^3", 12.0),
    ("label.mode:ranked label.level:7 label.region:x", 2.0),
    ("+label.level:7^0", 0.0),
    ("label.mode:ranked^-1", 1.0),
]


@pytest.mark.parametrize(("query", "expected"), SCORE_CASES)
def test_score(query: str, expected: float) -> None:
    assert compile_query(query).score(DOC) == pytest.approx(expected)


def test_score_of_miss_is_zero_and_evaluate_none() -> None:
    query = compile_query("+label.mode:casual")
    assert query.score(DOC) == 0.0
    assert query.evaluate(DOC) is None


def _order(query: str, labels: list[str]) -> list[str]:
    compiled = compile_query(query)
    hits = [
        (compiled.score(index_document(json.loads(text), "label")), -i, text)
        for i, text in enumerate(labels)
        if compiled.match(index_document(json.loads(text), "label"))
    ]
    return [text for _, _, text in sorted(hits, reverse=True)]


NAKAMA_LABELS = [
    '{"foo": 5, "bar": 1, "option": "a", "baz": 4}',
    '{"foo": 5, "bar": 1, "option": "b", "baz": 4}',
    '{"foo": 5, "bar": 1, "option": "a", "baz": 3}',
    '{"foo": 5, "bar": 1, "option": "b", "baz": 3}',
    '{"foo": 5, "bar": 1, "option": "a", "baz": 2}',
    '{"foo": 5, "bar": 1, "option": "b", "baz": 2}',
    '{"foo": 5, "bar": 1, "option": "a", "baz": 1}',
    '{"foo": 5, "bar": 1, "option": "b", "baz": 1}',
    '{"foo": 5, "bar": 1, "option": "a", "baz": 0}',
    '{"foo": 5, "bar": 1, "option": "b", "baz": 0}',
]


def test_boost_order_from_nakama_match_registry_tests() -> None:
    # TestMatchRegistryAuthoritativeMatchAndListMatchesWithQueryingAndBoost
    ranked = _order("+label.foo:5 +label.bar:1 label.baz:4^10 label.baz:2^5", NAKAMA_LABELS)
    assert len(ranked) == 10
    assert [('"baz": 4' in t, '"baz": 2' in t) for t in ranked[:4]] == [
        (True, False),
        (True, False),
        (False, True),
        (False, True),
    ]
    ranked = _order(
        "+label.foo:5 +label.bar:1 +label.option:a label.baz:4^10 label.baz:2^5", NAKAMA_LABELS
    )
    assert len(ranked) == 5
    assert ranked[:2] == [NAKAMA_LABELS[0], NAKAMA_LABELS[4]]
    ranked = _order(
        "+label.foo:5 +label.bar:1 label.option:a label.baz:4^10 label.baz:2^5", NAKAMA_LABELS
    )
    assert len(ranked) == 10
    assert ranked[:4] == [NAKAMA_LABELS[i] for i in (0, 1, 4, 5)]


def test_boost_from_nakama_matchmaker_tests() -> None:
    query = compile_query("properties.n1:<10^10 properties.a6:bar +properties.id:abc")
    ticket = index_document({"id": "abc", "a6": "bar", "n1": 5}, "properties")
    assert query.score(ticket) == 12.0
    other = index_document({"id": "abc", "a6": "bar", "n1": 15}, "properties")
    assert query.score(other) == 2.0


# --- syntax ----------------------------------------------------------------------


def _kinds(query: str) -> list[tuple[str, str]]:
    return [(t.kind, t.text) for t in tokenize(query)]


def test_tokenize() -> None:
    assert _kinds("+label.mode:ranked^2") == [
        (PLUS, "+"),
        (STRING, "label.mode"),
        (COLON, ":"),
        (STRING, "ranked"),
        (BOOST, "2"),
        (EOF, ""),
    ]
    assert _kinds("-a:-5 b~ 7") == [
        (MINUS, "-"),
        (STRING, "a"),
        (COLON, ":"),
        (MINUS, "-"),
        (NUMBER, "5"),
        (STRING, "b"),
        (TILDE, "1"),
        (NUMBER, "7"),
        (EOF, ""),
    ]
    assert _kinds('x:"a \\"b\\" c"') == [
        (STRING, "x"),
        (COLON, ":"),
        (PHRASE, 'a "b" c'),
        (EOF, ""),
    ]
    assert _kinds("x:10.5.1 y:1a")[2] == (STRING, "10.5.1")
    assert _kinds("x:10.5.1 y:1a")[5] == (STRING, "1a")


@pytest.mark.parametrize(
    ("query", "base"),
    [
        ("x:foo-bar", Term("x", "foo-bar")),  # '-' only special at a token start
        ("x:a\\b", Term("x", "a\\b")),  # backslash kept before ordinary characters
        ("x:a\\-b", Term("x", "a-b")),  # escaped reserved character
        ("x:a\\", Term("x", "a")),  # trailing backslash dropped
        ("a\tb", Term("_all", "a\tb")),  # only an ASCII space ends a word
        ("x:(a", Term("x", "(a")),  # no grouping
        ("x:[1", Term("x", "[1")),  # no [a TO b] ranges
        ("x:AND", Term("x", "AND")),
        ("x:-5", Number("x", "-5", -5.0)),
        ("x:5.", Number("x", "5.", 5.0)),
        ("x:07", Number("x", "07", 7.0)),
    ],
)
def test_parse_bases(query: str, base: object) -> None:
    (clause,) = parse(query)
    assert clause.query == base


def test_parse_occurrence_and_boost() -> None:
    clauses = parse("+a:1 -b:2 c:3^2.5 d:x ^3")
    assert [c.occur for c in clauses] == ["must", "must_not", "should", "should"]
    assert [c.boost for c in clauses] == [None, None, 2.5, 3.0]


def test_escaped_wildcard_is_still_a_wildcard() -> None:
    # Bluge unescapes \* to * and then sees a wildcard.
    assert compile_query("+label.mode:rank\\*").match(DOC)


def test_required_terms() -> None:
    query = compile_query("+label.mode:ranked +label.level:7 label.x:y +node:a -label.z:w +node:a")
    assert query.required_terms == (("label.mode", "ranked"), ("node", "a"))
    assert compile_query("*").required_terms == ()


def test_compile_is_cached() -> None:
    assert compile_query("+label.mode:ranked") is compile_query("+label.mode:ranked")
    assert isinstance(compile_query("*"), Query)


@pytest.mark.parametrize(
    "query",
    [
        "   ",
        "+",
        "-",
        "+ -a",
        "^2",
        "label.mode:",
        ":foo",
        "label.a:b:c",
        '"unterminated',
        'label.x:"open',
        "label.x:-abc",
        "label.x:=5",
        "label.x:>abc",
        "label.x:>=",
        "label.x:>-",
        "123:foo",
        "label.x:5~",
        '"foo"~2',
        "a^x",
        "a^2b",
        "a~x",
        "a~3",
        "a~-1",
        "a~1^2",  # the fuzziness token runs to the next space
        "label.x:/",
        "label.mode:/^ranked/",  # an unescaped ^ starts a boost: the word is "/"
        "label.x:/(/",
        "label.x:/a$/",
        "label.x:/\\bword/",
        "label.x:/a*?/",
        "label.x:/(?=a)b/",
        "label.x:/(a)\\1/",
        'label.d:>"2021-12-25"',  # Bluge wants RFC 3339
        'label.d:>"2021-13-25T00:00:00Z"',
        'label.d:>"2300-01-01T00:00:00Z"',  # past int64 nanoseconds
        "label.x:" + "9" * 400,
        "label.x:٣",  # a non-ASCII digit: Go's ParseFloat refuses it
    ],
)
def test_errors(query: str) -> None:
    with pytest.raises(QueryError) as info:
        compile_query(query)
    assert isinstance(info.value, ValueError)
    assert info.value.query == query
    assert str(info.value).startswith("invalid query")


def test_error_position_and_reason() -> None:
    with pytest.raises(QueryError) as info:
        compile_query("+label.mode:ranked label.a:b:c")
    assert info.value.position == 28
    assert "syntax error" in info.value.reason
    with pytest.raises(TypeError):
        compile_query(None)  # type: ignore[arg-type]


def test_zero_time_bound_is_open() -> None:
    # Go's zero time.Time means "no bound" in a Bluge date range.
    assert compile_query('+label.created:>"0001-01-01T00:00:00Z"').match(DOC)
    assert compile_query('+label.level:>"0001-01-01T00:00:00Z"').match(DOC)


# --- indexing --------------------------------------------------------------------


def test_index_document_fields() -> None:
    doc = index_document(
        {"s": "x", "b": True, "n": 7, "f": 7.0, "none": None, "l": [["a"], ["b", None]], 3: "k"},
        "p",
    )
    assert doc.terms == {"p.s": ("x",), "p.b": ("T",), "p.l": frozenset({"a", "b"})}
    assert doc.numbers == {"p.n": (float_key(7.0),), "p.f": (float_key(7.0),)}
    assert index_document({"a": {"b": 1}}, "p") == index_document({"a.b": 1}, "p")
    assert index_document({"x": 1}) == Document({}, {"x": (float_key(1.0),)})


def test_index_keywords_and_numbers_extras() -> None:
    doc = index_document(None, "label", keywords={"k": ["a", "b"]}, numbers={"n": [1, 2.5]})
    assert doc.terms == {"k": frozenset({"a", "b"})}
    assert doc.numbers == {"n": (float_key(1.0), float_key(2.5))}


@pytest.mark.parametrize(
    ("text", "nanos"),
    [
        ("1970-01-01T00:00:01Z", 1_000_000_000),
        ("1970-01-01T01:00:00+01:00", 0),
        ("1970-01-01T00:00:00.5Z", 500_000_000),
        ("1970-01-01T00:00:00,25Z", 250_000_000),
        ("1970-01-01T00:00:00.1234567891Z", 123_456_789),
        ("1970-01-01T00:00:00", 0),
        ("1970-01-01 00:00:00.000000001", 1),
        ("1970-01-02", 86_400_000_000_000),
        ("1970-01-01T1:00:00Z", 3_600_000_000_000),  # Go's "15" takes 1 or 2 digits
        ("1969-12-31T23:59:59Z", -1_000_000_000),
        ("2020-02-29", 1_582_934_400_000_000_000),
        ("2021-12-25T10:00:00Z", 1_640_426_400_000_000_000),
        ("1970-01-01 00:00:00Z", None),  # no zone in the space layout
        ("2021-02-29", None),
        ("2021-13-01", None),
        ("2021-12-25T24:00:00Z", None),
        ("2021-12-25T10:00Z", None),
        ("2021-1-01", None),
        ("２０２１-01-01", None),
        ("2021-12-25x", None),
        ("hello", None),
    ],
)
def test_index_dates(text: str, nanos: int | None) -> None:
    assert index_date_nanos(text) == nanos
    doc = index_document({"d": text})
    if nanos is None:
        assert doc.terms == {"d": (text,)}
    else:
        assert doc.numbers == {"d": (nanos,)}


def test_index_datetime_objects() -> None:
    moment = datetime.datetime(2021, 12, 25, 10, 0, tzinfo=datetime.UTC)
    assert index_document({"d": moment}).numbers == {"d": (1_640_426_400_000_000_000,)}


def test_float_key_orders_like_floats() -> None:
    values = [-math.inf, -1e300, -2.5, -1.0, -0.0, 0.0, 5e-324, 1.0, 2.5, 1e300, math.inf]
    keys = [float_key(v) for v in values]
    assert keys == sorted(keys)
    assert len(set(keys)) == len(keys)  # -0.0 and 0.0 differ, as in Bluge


def test_encoded_terms() -> None:
    terms = encoded_terms(0)
    assert len(terms) == 16
    assert terms[0] == " \x01" + "\x00" * 9  # shift 0, 10 chars of 7 bits
    assert terms[-1] == "\\\x08"  # shift 60: one char
    assert all(t.isascii() for t in terms)


def test_split_int64_range_covers_exactly() -> None:
    rng = random.Random(7)
    bounds = [-(1 << 63), (1 << 63) - 1, 0, -1, 1, float_key(1.0), float_key(10.0)]
    pairs = [(a, b) for a in bounds for b in bounds if a <= b]
    pairs += [
        tuple(sorted(rng.randrange(-(1 << 63), 1 << 63) for _ in range(2))) for _ in range(50)
    ]
    pairs += [(x, x + rng.randrange(1 << 20)) for x in (rng.randrange(-(1 << 40), 1 << 40),)]
    for low, high in pairs:
        spans = sorted(
            (first << shift, ((last + 1) << shift) - 1)
            for first, last, shift in _split_int64_range(low, high)
        )
        assert spans[0][0] == low and spans[-1][1] == high
        for (_, end), (start, _) in zip(spans, spans[1:], strict=False):
            assert start == end + 1
    assert _split_int64_range(5, 4) == []


def test_benchmark_smoke() -> None:
    rates = benchmark(count=200, repeat=1)
    assert rates and all(rate > 0 for rate in rates.values())
