"""The embedded database's copy of PostgreSQL's ``jsonb`` text, checked against PostgreSQL.

A storage object's value reads back as PostgreSQL writes ``jsonb`` (Nakama's column);
on SQLite, :func:`nakama_rt.storage.jsonb.object_value` writes that text itself. Here
the same values, hand-picked edge cases and thousands generated from a fixed seed, go
through both, and every text (and every refusal) must be PostgreSQL's.
"""

from __future__ import annotations

import json
import random

import psycopg
import pytest
from storage_fixtures import POSTGRES_URL, require_postgres

from nakama_rt.storage.jsonb import InvalidValue, object_value

EDGES = [
    "{}",
    "{ }",
    '{"a":1}',
    '{"b":1,"a":2,"aa":3,"ab":4,"B":5,"é":6,"z":7}',
    '{"a":1,"a":2,"a":{"x":1}}',
    '{"n":[0,-0,0.0,-0.0,1e2,1E2,1e+2,1.5e-3,2.50,0.1000,-12.3e4,1e-7,123e-2]}',
    '{"n":12345678901234567890123456789012345678901234567890}',
    '{"n":0.000000000000000000000000000001}',
    '{"s":"a\\"b\\\\c\\/d\\n\\t\\r\\b\\f\\u0001\\u001f"}',
    '{"s":"\\u00e9\\u4e2d\\ud83d\\ude00 \\u007f"}',
    '{"s":"é中😀"}',
    '{"x":null,"y":true,"z":false,"w":[]}',
    '{"nested":{"b":[{"d":1,"c":2}],"a":{}}}',
    '  {"padded" : [ 1 , 2 ] }  ',
    '{"":1,"a":""}',
]


def _number(rng: random.Random) -> str:
    sign = rng.choice(["", "-"])
    whole = rng.choice(
        ["0", str(rng.randint(1, 9)) + "".join(rng.choices("0123456789", k=rng.randint(0, 25)))]
    )
    fraction = rng.choice(["", "." + "".join(rng.choices("0123456789", k=rng.randint(1, 20)))])
    exponent = rng.choice(
        ["", "", f"{rng.choice('eE')}{rng.choice(['', '+', '-'])}{rng.randint(0, 40)}"]
    )
    return sign + whole + fraction + exponent


def _string(rng: random.Random) -> str:
    pieces = []
    for _ in range(rng.randint(0, 6)):
        kind = rng.random()
        if kind < 0.4:
            pieces.append(rng.choice("abcXYZ _-/"))
        elif kind < 0.6:
            pieces.append(rng.choice(['\\"', "\\\\", "\\/", "\\n", "\\t", "\\b", "\\f", "\\r"]))
        elif kind < 0.8:
            pieces.append(f"\\u{rng.choice([0x1, 0x1F, 0x7F, 0xE9, 0x4E2D, 0x20AC]):04x}")
        else:
            pieces.append(rng.choice(["é", "中", "😀", "\u2028"]))
    return '"' + "".join(pieces) + '"'


def _value(rng: random.Random, depth: int) -> str:
    kind = rng.random()
    if depth > 2 or kind < 0.3:
        return _number(rng)
    if kind < 0.5:
        return _string(rng)
    if kind < 0.6:
        return rng.choice(["true", "false", "null"])
    if kind < 0.8:
        return "[" + ",".join(_value(rng, depth + 1) for _ in range(rng.randint(0, 4))) + "]"
    return _object(rng, depth + 1)


def _object(rng: random.Random, depth: int) -> str:
    keys = [_string(rng) for _ in range(rng.randint(0, 5))]
    if keys and rng.random() < 0.2:
        keys.append(rng.choice(keys))  # a repeated key
    return "{" + ",".join(f"{k}:{_value(rng, depth)}" for k in keys) + "}"


def generated(count: int, seed: int = 16) -> list[str]:
    rng = random.Random(seed)
    return [_object(rng, 0) for _ in range(count)]


def postgres_texts(values: list[str]) -> list[str | None]:
    """PostgreSQL's ``jsonb`` text of each value; None where it refuses it."""
    texts: list[str | None] = []
    with psycopg.connect(POSTGRES_URL, autocommit=True) as connection:
        for value in values:
            try:
                row = connection.execute("SELECT %s::jsonb::text", (value,)).fetchone()
                texts.append(row[0] if row else None)
            except psycopg.DataError:
                texts.append(None)
    return texts


def ours(value: str) -> str | None:
    try:
        return object_value(value).text
    except InvalidValue:
        return None


@pytest.mark.parametrize("corpus", ["edges", "generated"])
def test_the_embedded_text_of_a_value_is_postgresqls(corpus) -> None:
    require_postgres()
    values = EDGES if corpus == "edges" else generated(3000)
    # Only objects are values Nakama takes; PostgreSQL is asked about exactly those.
    assert all(isinstance(json.loads(v, parse_constant=str), dict) for v in values[:50])
    expected = postgres_texts(values)
    # Most are taken: the comparison is of texts, not of refusals.
    assert sum(text is not None for text in expected) > len(values) * 0.9
    mismatches = [
        (value, theirs, ours(value))
        for value, theirs in zip(values, expected, strict=True)
        if ours(value) != theirs
    ]
    assert mismatches == [], f"{len(mismatches)} of {len(values)} differ, first: {mismatches[:3]}"
