"""The parser: the seed transcript read unedited, the author's extras, and never a crash."""

from __future__ import annotations

import datetime as dt
import textwrap
from pathlib import Path

import pytest
from hypothesis import given, settings, strategies as st

from pipeline.script.credits import read_sentence, role_of
from pipeline.errors import ScriptError
from pipeline.model import SEGMENT_KINDS
from pipeline.script.parse import parse, read_script
from pipeline.script.taxonomy import ROLES

from conftest import MINIMAL, ROOT, STANDIN, shared

OPENER = "From {network}, this is {show}"


@pytest.fixture(scope="module")
def standin():
    return read_script(STANDIN)


def test_standin_header(standin):
    m = standin.metadata
    assert m.date == dt.date(2024, 12, 6)
    assert m.title == "The Halifax Harbour Explodes"
    assert (m.date_line, m.title_line, m.summary_line) == (1, 3, 7)  # the repeated title skipped
    assert m.summary.startswith("December 6, 1917. In the narrow channel of Halifax Harbour,")
    assert m.event_date == dt.date(1917, 12, 6)
    assert standin.stray == ()


def test_standin_segments(standin):
    spans = [(s.kind, s.number, s.title, s.start_line, s.end_line) for s in standin.segments]
    assert spans == [
        ("cold_open", None, None, 9, 27),
        ("intro", None, None, 29, 33),
        ("act", 1, "The Narrows", 35, 55),
        ("act", 2, "Nine Oh Four", 57, 81),
        ("act", 3, "The Relief Train", 83, 95),
        ("teaser", None, None, 97, 97),
        ("credits", None, None, 99, 111),
    ]
    assert [s.heading_line for s in standin.segments] == [9, None, 35, 57, 83, None, None]
    assert [(c.kind, c.name, c.line) for s in standin.segments for c in s.cues] == [
        ("sfx", "rumble", 21), ("sfx", "rumble", 71)]
    # `wc -w` of lines 9-111 without headings and cues says 1,904; "9:04" is spoken as two words.
    assert standin.words == 1905


def test_standin_identity_is_inferred_from_the_intro(standin):
    assert (standin.identity.network, standin.identity.host, standin.identity.show) == (
        "Fernhill and Copperline", "Marisol Quint", "Almanac Hour")


def test_standin_credits(standin):
    got = [(c.name, c.roles, c.organization, c.line) for c in standin.credits]
    assert got == [
        ("Marisol Quint", ("host", "editor", "executive producer", "composer"), None, 99),
        ("Teodor Vasko", ("audio editor",), None, 101),
        ("Odile Farrant", ("sound designer",), None, 103),
        ("Elias Brandvold", ("writer", "researcher"), None, 107),
        ("Hannah Osei-Kamara", ("producer",), None, 109),
        ("Rufus Delacroix", ("executive producer",), "Fernhill", 111),
        ("Ines Abernathy", ("executive producer",), "Copperline", 111),
    ]
    assert [n for n in standin.notes if n.code == "C001"] == []  # every sentence understood


def test_standin_glued_teaser_is_noted_with_its_column(standin):
    (glued,) = [n for n in standin.notes if n.code == "G001"]
    assert (glued.line, glued.column) == (97, 8)
    assert STANDIN.read_text(encoding="utf-8").splitlines()[96][glued.column - 3:][:9] == \
        "onAlmanac"


# The seed transcript itself, when ../shared is next to the checkout: extra checks on real text.

@pytest.fixture(scope="module")
def seed():
    return read_script(shared("seeds/history-daily-trotsky-exile.txt"))


def test_seed_header(seed):
    m = seed.metadata
    assert m.date == dt.date(2023, 1, 31)
    assert m.title == "Leon Trotsky is Forced Into Exile"
    assert m.summary.startswith("January 31, 1928. Leon Trotsky, one of the architects")
    assert m.event_date == dt.date(1928, 1, 31)


def test_seed_segments(seed):
    spans = [(s.kind, s.number, s.title, s.start_line, s.end_line) for s in seed.segments]
    assert spans == [
        ("cold_open", None, None, 10, 34),
        ("intro", None, None, 37, 41),
        ("act", 1, "Power Struggle", 43, 71),
        ("act", 2, "Exile in Kazakhstan", 73, 95),
        ("act", 3, "Assassination", 97, 117),
        ("teaser", None, None, 120, 120),
        ("credits", None, None, 122, 134),
    ]
    assert seed.segments[1].heading_line is None  # the intro is found by its shape


def test_seed_identity_is_inferred_from_the_intro(seed):
    assert (seed.identity.network, seed.identity.host, seed.identity.show) == (
        "Noiser and Airship", "Lindsay Graham", "History Daily")


def test_seed_credits(seed):
    got = {c.name: (c.roles, c.organization) for c in seed.credits}
    assert got == {
        "Lindsay Graham": (("host", "editor", "executive producer", "composer"), None),
        "Mollie Baack": (("audio editor",), None),
        "Mischa Stanton": (("sound designer",), None),
        "Joe Viner": (("writer", "researcher"), None),
        "Alexandra Currie-Buckner": (("producer",), None),
        "Steven Walters": (("executive producer",), "Airship"),
        "Pascal Hughes": (("executive producer",), "Noiser"),
    }
    assert [c.name for c in seed.credits][0] == "Lindsay Graham"


def test_seed_glued_teaser_is_noted_with_its_column(seed):
    (glued,) = [n for n in seed.notes if n.code == "G001"]
    assert (glued.line, glued.column) == (120, 8)


def test_every_role_the_grammar_produces_is_in_the_taxonomy():
    from pipeline.script.credits import _PHRASES
    assert set(_PHRASES.values()) <= ROLES


def test_taxonomy_matches_the_published_one():
    import json
    published = json.loads(shared("reference/podcastindex-taxonomy.json").read_text())
    pairs = {(e["group"].lower(), e["role"].lower()) for e in published}
    from pipeline.script.taxonomy import _GROUPS
    ours = {(g, r) for g, roles in _GROUPS.items() for r in roles}
    assert ours == pairs


@pytest.mark.parametrize("sentence, expected", [
    ("Produced by Ana Paz, Bo Li and Cy Dee.",
     [(("producer",), [("Ana Paz", None), ("Bo Li", None), ("Cy Dee", None)])]),
    ("From Net, this is Show, hosted and produced by me, Kim Ode.",
     [(("host", "producer"), [("Kim Ode", None)])]),
    ("Executive Producers are Al One for Acme and Bea Two for Zeta Media.",
     [(("executive producer",), [("Al One", "Acme"), ("Bea Two", "Zeta Media")])]),
    ("Dee Ray is our senior editor.", [(("editor",), [("Dee Ray", None)])]),
    ("Our story editor is Wen Liu.", [(("story editor",), [("Wen Liu", None)])]),
    ("Fact checking: Jo Lee & Max Moe.",
     [(("fact checker",), [("Jo Lee", None), ("Max Moe", None)])]),
    ("Original music by Dov Kessler.", [(("composer",), [("Dov Kessler", None)])]),
    ("This episode is written by Ada Okafor and researched by Felix Brandt.",
     [(("writer",), [("Ada Okafor", None)]), (("researcher",), [("Felix Brandt", None)])]),
    ("Mixed and mastered by Ray de la Cruz.", [(("audio engineer",), [("Ray de la Cruz", None)])]),
])
def test_credit_grammar(sentence, expected):
    assert read_sentence(sentence, None, OPENER) == expected


@pytest.mark.parametrize("sentence", ["Catering by Joe Bloggs.", "The weather was fine.",
                                      "Thanks for listening to the show."])
def test_credit_grammar_refuses_to_guess(sentence):
    assert read_sentence(sentence, None, OPENER) is None


def test_role_phrases():
    assert role_of("Executive Producers") == "executive producer"
    assert role_of("audio editing") == "audio editor"
    assert role_of("additional research") == "researcher"


def test_one_person_many_sentences_merges_roles():
    script = parse(MINIMAL + "\nProduced by Bo Editor.\n")
    (bo,) = [c for c in script.credits if c.name == "Bo Editor"]
    assert bo.roles == ("audio editor", "producer")


def test_author_extras_front_matter_markdown_digits_and_cues():
    text = textwrap.dedent("""\
        ---
        slug: the-test
        season: 2
        episode: 7
        explicit: false
        keywords: [one, two]
        sources: ["A Book - Someone (1999)"]
        ---
        2026-01-15

        The Test

        January 15, 1919. It happened.

        ## Cold Open

        [SFX: train whistle]

        A scene.

        [PAUSE 1.5s]

        ## Act 1: Start

        [BED: tension]

        Words.

        ## Act 2 - End

        [MUSIC: theme]

        More words.
        """)
    script = parse(text)
    m = script.metadata
    assert (m.slug, m.season, m.episode, m.explicit, m.keywords) == (
        "the-test", 2, 7, False, ("one", "two"))
    assert m.sources == ("A Book - Someone (1999)",) and m.date == dt.date(2026, 1, 15)
    assert m.title_line == 11 and script.body_start == 9
    assert [(s.kind, s.number, s.title) for s in script.segments] == [
        ("cold_open", None, None), ("act", 1, "Start"), ("act", 2, "End")]
    cues = [(c.kind, c.name, c.seconds, c.line) for s in script.segments for c in s.cues]
    assert cues == [("sfx", "train-whistle", None, 17), ("pause", "", 1.5, 21),
                    ("bed", "tension", None, 25), ("music", "theme", None, 31)]
    assert [type(item).__name__ for item in script.segments[0].body()] == ["Cue", "Paragraph",
                                                                          "Cue"]


def test_a_partial_script_is_exactly_what_is_there():
    script = parse("Jan. 15, 2026\n\nA Title\n\nJanuary 1, 1900. Once.\n\nCold Open\n\nA scene.\n")
    assert [s.kind for s in script.segments] == ["cold_open"]
    assert script.credits == () and script.identity.show is None
    assert script.metadata.title == "A Title"


def test_front_matter_yaml_error_names_its_line(tmp_path: Path):
    path = tmp_path / "script.txt"
    path.write_text("---\nslug: ok\nseason: [1\n---\nCold Open\n", encoding="utf-8")
    with pytest.raises(ScriptError, match=r"script.txt:\d+(:\d+)?: front matter YAML error"):
        read_script(path)


@pytest.mark.parametrize("content, message", [
    (b"\xff\xfe\x00bad", "binary"),
    (b"Cold Open\n\ncaf\xe9\n", "not UTF-8"),
    (b"", "empty script"),
    (b"  \n\n", "empty script"),
    (b"x" * 10_000_000, "too large"),
])
def test_unreadable_scripts(tmp_path: Path, content: bytes, message: str):
    path = tmp_path / "script.txt"
    path.write_bytes(content)
    with pytest.raises(ScriptError, match=message):
        read_script(path)


def test_the_example_episodes_parse_whole():
    for path in sorted((ROOT / "episodes").glob("*/script.txt")):
        script = read_script(path)
        assert [s.kind for s in script.segments] == [
            "cold_open", "intro", "act", "act", "act", "teaser", "credits"], path
        assert 1500 <= script.words <= 3000, path


_LINES = st.sampled_from([
    "Cold Open", "## Act Two: A", "Act 3", "Act One:", "# Credits", "[SFX: bell]", "[PAUSE x]",
    "[PAUSE 2s]", "[WHAT]", "Next on Show.", "Next onShow.", "From A, I'm B and this is C.",
    "From A, this is C, hosted by me, B.", "Audio editing by X Y.", "Today is May 1st, 1900: T.",
    "Jan. 1, 2000", "---", "slug: [", "", "", "words words.", "Act Zero: Z", "## Intro"])


@settings(max_examples=300, deadline=None)
@given(st.lists(st.one_of(_LINES, st.text(max_size=40)), max_size=40))
def test_parser_never_crashes_and_spans_are_sane(lines):
    text = "\n".join(lines)
    try:
        script = parse(text)
    except ScriptError:
        assert lines and lines[0].strip() == "---"  # only broken front matter may refuse
        return
    n = max(1, len(text.splitlines()))
    previous = 0
    for segment in script.segments:
        assert segment.kind in SEGMENT_KINDS
        assert 1 <= segment.start_line <= segment.end_line <= n
        assert segment.start_line > previous
        previous = segment.start_line
        for p in segment.paragraphs:
            assert segment.start_line <= p.line <= p.end_line <= segment.end_line
