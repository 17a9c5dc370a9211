"""One test per validator rule, each with the smallest script that breaks it."""

from __future__ import annotations

import dataclasses
import datetime as dt

import pytest

from pipeline.script.parse import parse, read_script
from pipeline.show import Bounds, EpisodeFormat, Show
from pipeline.script.validate import validate

from conftest import DATA, MINIMAL, ROOT, STANDIN, shared

SHOW = Show(title="Test Show", host="Ann Host", network="Test Network", description="d",
            format=EpisodeFormat(minutes=Bounds(0, 90)))
ASSETS = frozenset({"bell", "theme"})


def codes(text: str, show: Show | None = SHOW, assets=ASSETS) -> list[str]:
    return sorted(d.code for d in validate(parse(text), "s.txt", show, assets))


def broken(old: str, new: str) -> str:
    assert old in MINIMAL
    return MINIMAL.replace(old, new, 1)


def test_the_minimal_script_is_clean():
    assert codes(MINIMAL) == []


def test_s001_missing_segment():
    assert codes(broken("Cold Open\n\nA scene opens.\n\n", "")) == ["S001"]


INTRO = ("From Test Network, I'm Ann Host and this is Test Show.\n\nA tagline for the show.\n\n"
         "Today is January 15th, 1919: The Test Event.\n\n")


def test_s002_segment_out_of_order():
    text = broken(INTRO, "").replace("The story starts.\n\n", "The story starts.\n\n" + INTRO)
    assert codes(text) == ["S002"]


def test_s003_duplicate_segment():
    assert codes(broken("Act One: Start", "Cold Open\n\nAgain.\n\nAct One: Start")) == [
        "S002", "S003"]


def test_s004_empty_segment():
    assert codes(broken("The story starts.\n\n", "")) == ["S004"]


def test_s005_stray_text_in_the_header():
    assert codes(broken("Cold Open", "A stray line.\n\nCold Open")) == ["S005"]


def test_s005_the_article_is_not_a_script():
    diagnostics = validate(read_script(DATA / "scripts" / "article-sable-island.txt"), "a.txt",
                           None, None)
    assert [(d.code, d.line, d.severity) for d in diagnostics] == [
        ("S001", 1, "error")] * 5 + [("S005", 1, "error")]
    missing = [d.message.split(":")[0] for d in diagnostics if d.code == "S001"]
    assert missing == ["missing cold open", "missing intro", "missing acts", "missing teaser",
                       "missing credits"]


def test_s005_the_seed_article_is_not_a_script():
    diagnostics = validate(read_script(shared(
        "seeds/article-trotsky-struggle-against-stalinism.txt")), "a.txt", None, None)
    found = {d.code for d in diagnostics}
    assert "S005" in found
    missing = " ".join(d.message for d in diagnostics if d.code == "S001")
    for segment in ("cold open", "intro", "acts", "credits"):
        assert f"missing {segment}" in missing
    assert all(d.severity == "error" for d in diagnostics)


def test_s006_unknown_heading():
    assert codes(broken("Act Two: End", "## Interlude\n\nAct Two: End")) == ["S006"]


def test_a001_acts_out_of_sequence():
    assert codes(broken("Act Two: End", "Act Three: End")) == ["A001"]


def test_a002_untitled_act():
    assert codes(broken("Act Two: End", "Act Two")) == ["A002"]


def test_a003_too_many_acts():
    show = dataclasses.replace(SHOW, format=dataclasses.replace(SHOW.format, acts=Bounds(3, 5)))
    assert codes(MINIMAL, show) == ["A003"]


def test_h001_no_date_line():
    assert codes(broken("Jan. 15, 2026\n\n", "")) == ["H001"]


def test_h002_no_title():
    assert codes("Jan. 15, 2026\n\n" + MINIMAL[MINIMAL.index("Cold Open"):]) == ["H002"]


def test_h003_no_summary():
    assert codes(broken("January 15, 1919. Something happened in a test.\n\n", "")) == ["H003"]


def test_h004_summary_without_the_event_date():
    assert codes(broken("January 15, 1919. Something", "Something")) == ["H004"]


def test_i001_intro_line_off_the_template():
    assert codes(broken("A tagline for the show.\n\nToday is January 15th, 1919: The Test Event.",
                        "A tagline for the show.")) == ["I001"]


def test_i001_intro_names_another_show():
    assert codes(broken("I'm Ann Host", "I'm Zed Other")) == ["I001"]


def test_i001_teaser_names_another_show():
    assert codes(broken("Next on Test Show.", "Next on Other Show.")) == ["I001"]


def test_i002_today_is_date_disagrees_with_the_header():
    assert codes(broken("Today is January 15th", "Today is January 16th")) == ["I002"]


def test_i003_today_is_title_disagrees_with_the_header():
    assert codes(broken("1919: The Test Event.", "1919: Another Event.")) == ["I003"]


def test_c001_unknown_credit_phrasing_is_a_warning_quoting_it():
    (d,) = validate(parse(MINIMAL + "\nCatering by Joe Bloggs.\n"), "s.txt", SHOW, ASSETS)
    assert (d.code, d.severity) == ("C001", "warning")
    assert '"Catering by Joe Bloggs."' in d.message


def test_c002_credits_that_name_no_one():
    text = broken("From Test Network, this is Test Show, hosted by me, Ann Host.\n\n"
                  "Audio editing by Bo Editor.", "## Credits\n\nThanks to everyone.")
    assert codes(text) == ["C001", "C002", "I001"]  # I001: no "From …, this is …" opener


def test_q001_cue_names_an_unknown_asset():
    assert codes(broken("A scene opens.", "A scene opens.\n\n[SFX: doorbell]")) == ["Q001"]


def test_q002_malformed_cue():
    assert codes(broken("A scene opens.", "A scene opens.\n\n[PAUSE forever]")) == ["Q002"]


def test_q003_cue_inside_the_credits():
    assert codes(MINIMAL + "\n[SFX: bell]\n") == ["Q003"]
    assert codes(MINIMAL + "\n[PAUSE 1s]\n") == ["Q003"]  # the build would play it too


def test_q004_cue_inside_narration():
    assert codes(broken("A scene opens.", "A scene [SFX: bell] opens.")) == ["Q004"]


def test_l001_spoken_length_outside_the_bounds():
    assert codes(MINIMAL, dataclasses.replace(SHOW, format=EpisodeFormat())) == ["L001"]


def test_g001_words_glued_to_a_marker_with_the_column():
    (d,) = validate(parse(broken("Next on Test", "Next onTest")), "s.txt", SHOW, ASSETS)
    assert (d.code, d.severity, d.line, d.column) == ("G001", "warning", 25, 8)


def test_g002_words_glued_in_narration():
    (d,) = validate(parse(broken("The story starts.", "The story starts inMoscow.")), "s.txt",
                    SHOW, ASSETS)
    assert (d.code, d.column) == ("G002", 18)


def test_m001_unknown_front_matter_key():
    assert codes("---\nsluggo: x\n---\n" + MINIMAL) == ["M001"]


def test_m002_front_matter_of_the_wrong_type():
    assert codes("---\nseason: first\n---\n" + MINIMAL) == ["M002"]


def test_m003_a_slug_that_is_not_a_plain_name():
    assert codes("---\nslug: ../../escape\n---\n" + MINIMAL) == ["M003"]
    assert codes("---\nslug: Fine Name\n---\n" + MINIMAL) == ["M003"]
    assert codes("---\nslug: fine-name-2\n---\n" + MINIMAL) == []


def test_m003_an_episode_folder_that_is_not_a_plain_name(tmp_path):
    from pipeline.project import check_scripts, open_project
    folder = tmp_path / "episodes" / "Bad Name"
    folder.mkdir(parents=True)
    (folder / "script.txt").write_text(MINIMAL, encoding="utf-8")
    check = check_scripts([], open_project(tmp_path))
    assert "M003" in [d.code for d in check.diagnostics]


@pytest.mark.parametrize("old, new, line", [
    ("Jan. 15, 2026", "Feb. 30, 2026", 1),
    ("Jan. 15, 2026", "2026-02-30", 1),
    ("January 15, 1919. Something", "February 30, 1919. Something", 5),
    ("Today is January 15th, 1919", "Today is February 30th, 1919", 15),
    ("Jan. 15, 2026", "---\ndate: 2026-02-30\n---\nJan. 15, 2026", 2),
    ("Jan. 15, 2026", "---\ndate: Feb 30, 2026\n---\nJan. 15, 2026", 2),
])
def test_h005_a_date_not_on_the_calendar(old, new, line):
    found = [(d.code, d.line, d.severity) for d in
             validate(parse(broken(old, new)), "s.txt", SHOW, ASSETS)]
    assert found == [("H005", line, "error")]


def test_h005_a_datetime_in_front_matter_is_its_day():
    script = parse("---\ndate: 2026-01-15 10:30:00\n---\n" + MINIMAL)
    assert script.metadata.date == dt.date(2026, 1, 15)
    assert codes("---\ndate: 2026-01-15 10:30:00\n---\n" + MINIMAL) == []


def test_x001_control_characters_are_removed_with_a_warning():
    script = parse(broken("The Test Event\n", "The Test\x07 Ev\x1bent\n"))
    assert script.metadata.title == "The Test Event"
    found = validate(script, "s.txt", SHOW, ASSETS)
    assert [(d.code, d.line, d.column, d.severity) for d in found] == [
        ("X001", 3, 9, "warning")]


def test_e001_an_unreadable_file_is_an_error_finding(tmp_path):
    from pipeline.project import check_scripts, open_project
    path = tmp_path / "script.txt"
    path.write_bytes(b"\x00\x01\x02binary")
    check = check_scripts([path], open_project(tmp_path))
    (d,) = check.diagnostics
    assert (d.code, d.severity, d.line) == ("E001", "error", 1)
    assert "binary" in d.message and len(check.unreadable) == 1


def test_p001_fill_me_in():
    assert codes(broken("The story ends.", "Fill me in: the ending.")) == ["P001"]


def test_without_a_show_the_identity_is_the_intros_own():
    assert codes(broken("Next on Test Show.", "Next on Other Show."), None) == ["I001", "L001"]


def test_the_standin_transcript_has_only_its_glitches():
    found = [(d.code, d.line, d.column, d.severity)
             for d in validate(read_script(STANDIN), "t", None, None)]
    assert found == [("G002", 39, 379, "warning"), ("G001", 97, 8, "warning")]
    lines = STANDIN.read_text(encoding="utf-8").splitlines()
    assert lines[38][378:].startswith("inHalifax") and lines[96][7:].startswith("Almanac")


def test_the_standin_is_checked_against_its_own_show():
    from pipeline.manifest import load_manifest
    from pipeline.show import load_show
    show = load_show(DATA / "show.yaml")
    assets = frozenset(load_manifest(show.resolve(show.sound.manifest)))
    found = [(d.code, d.line) for d in validate(read_script(STANDIN), "t", show, assets)]
    assert found == [("G002", 39), ("G001", 97)]


@pytest.mark.parametrize("low, high, expected", [
    (8, 30, []),  # 1,905 words at 150 a minute: 12.7 minutes, a real episode's length
    (15, 30, ["1905 words is about 12.7 minutes at 150 words a minute; the show runs 15 to 30"]),
    (3, 12, ["1905 words is about 12.7 minutes at 150 words a minute; the show runs 3 to 12"]),
])
def test_l001_on_an_episode_of_real_length(low, high, expected):
    show = dataclasses.replace(SHOW, format=EpisodeFormat(minutes=Bounds(low, high)))
    found = [d for d in validate(read_script(STANDIN), "t", show, None) if d.code == "L001"]
    assert [d.message for d in found] == expected
    assert [d.line for d in found] == [9] * len(expected)  # where the episode starts


def test_the_seed_transcript_has_only_its_glitches():
    path = shared("seeds/history-daily-trotsky-exile.txt")
    found = [(d.code, d.line, d.column) for d in validate(read_script(path), "t", None, None)]
    assert found == [("G002", 69, 175), ("G001", 120, 8)]


def test_the_example_episodes_are_clean():
    from pipeline.project import check_scripts, open_project
    check = check_scripts([], open_project(ROOT))
    assert check.files == len(list((ROOT / "episodes").glob("*/script.txt"))) == 2
    assert check.unreadable == ()
    assert [d.as_text() for d in check.diagnostics] == []


@pytest.mark.parametrize("code", ["S001", "S002", "S003", "S004", "S005", "S006", "A001", "A002",
                                  "A003", "H001", "H002", "H003", "H004", "I001", "I002", "I003",
                                  "C001", "C002", "Q001", "Q002", "Q003", "Q004", "L001", "G001",
                                  "G002", "M001", "M002", "M003", "H005", "X001", "E001",
                                  "P001"])
def test_every_code_is_documented_and_tested(code):
    import pipeline.script.validate as v
    assert code in v.__doc__
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert code in readme or any(code[0] == row[2] and row[3:6] <= code[1:] <= row[8:11]
                                 for row in readme.splitlines() if row.startswith("| ") and
                                 "–" in row[:13]), f"{code} is not in README's table"
    assert f"test_{code.lower()}_" in open(__file__, encoding="utf-8").read()
