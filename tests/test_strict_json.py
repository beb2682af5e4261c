"""strict_json.loads: JSON from strangers, checked against Python's own json module as the oracle."""

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from audio_tasks.strict_json import MAX_DEPTH, RefusedJson, loads

# JSON values as RFC 8259 means them: finite numbers, text that UTF-8 can encode, unique keys.
text = st.text(st.characters(blacklist_categories=("Cs",)), max_size=20)
values = st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False)
                      | text, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(text, inner, max_size=4),
                      max_leaves=30)


@settings(max_examples=200, deadline=None)
@given(values)
def test_every_json_value_reads_as_python_json_reads_it(value):
    document = json.dumps(value)
    assert loads(document) == json.loads(document)


@settings(max_examples=500, deadline=None)
@given(st.text(alphabet=st.sampled_from('[]{}",:0123456789.eE+-truefalsnN\\u \t'), max_size=60) | st.text(max_size=60))
def test_any_text_is_a_value_or_a_refusal_never_another_exception(document):
    try:
        loads(document)
    except RefusedJson as refusal:
        assert str(refusal)


@pytest.mark.parametrize("document, reason", [
    ("[" * 200_000 + "]" * 200_000, f"nested deeper than {MAX_DEPTH} levels"),  # RecursionError in json.loads
    ("[" * (MAX_DEPTH + 1) + "]" * (MAX_DEPTH + 1), f"nested deeper than {MAX_DEPTH} levels"),
    ('{"a": {"b": ' * 20 + "1" + "}}" * 20, f"nested deeper than {MAX_DEPTH} levels"),
    ('{"task": "a", "task": "b"}', "duplicate key 'task'"),
    ('[{"k": 1, "k": 1}]', "duplicate key 'k'"),
    ("NaN", "NaN is not a JSON number"),
    ('{"a": -Infinity}', "-Infinity is not a JSON number"),
    ("[1e999]", "1e999 is out of the range of a 64-bit float"),
    ('"\\ud800"', "lone UTF-16 surrogate"),
    ('{"\\udfff": 1}', "lone UTF-16 surrogate"),
    ("9" * 5000, "not JSON"),
    ("{not json", "not JSON"),
    ("", "not JSON"),
])
def test_what_json_does_not_promise_is_refused_with_the_reason(document, reason):
    with pytest.raises(RefusedJson, match=reason.replace("[", r"\[").replace("(", r"\(")):
        loads(document)


def test_the_deepest_accepted_value_is_max_depth_levels():
    document = "[" * MAX_DEPTH + "]" * MAX_DEPTH
    assert loads(document) == json.loads(document)


def test_only_text_is_read():
    with pytest.raises(RefusedJson, match="expected text, got bytes"):
        loads(b"{}")
