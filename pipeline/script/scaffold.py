"""A new episode's script, laid out from the show's format with "Fill me in" where words go."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from pipeline.errors import PodforgeError
from pipeline.files import SLUG_HINT, is_slug, write_text
from pipeline.show import Show
from pipeline.script.text import render_template
from pipeline.script.validate import PLACEHOLDER

_WORDS = "One Two Three Four Five Six Seven Eight Nine Ten".split()


def scaffold(show: Show, slug: str, today: dt.date) -> str:
    """Every segment the format asks for, in order; the show's own lines already filled in."""
    fmt, fill = show.format, PLACEHOLDER
    who = {"network": show.network, "host": show.host, "show": show.title,
           "date": f"{fill} (the event's date)", "title": f"{fill} (the title)"}
    parts = [f"---\nslug: {slug}\n---", f"{today:%B} {today.day}, {today.year}",
             f"{fill}: the episode title",
             f"{fill}: the event's date, then one sentence on what happened."]
    for rule in fmt.segments:
        if rule.kind == "cold_open":
            parts += ["Cold Open", f"{fill}: drop the listener into the moment."]
        elif rule.kind == "intro":
            parts += [f"{fill}: the show's opening lines." if line == "..." else
                      render_template(line, **who) for line in fmt.intro]
        elif rule.kind == "act":
            for n in range(max(3, int(fmt.acts.min)) if fmt.acts.max >= 3 else int(fmt.acts.max)):
                name = _WORDS[n] if n < len(_WORDS) else str(n + 1)
                parts += [f"Act {name}: {fill}", f"{fill}: the story of act {n + 1}."]
        elif rule.kind == "teaser":
            parts.append(render_template(fmt.teaser, **who).rstrip(".") +
                         f". {fill}: tomorrow's date and story.")
        elif rule.kind == "credits":
            parts += [render_template(fmt.credits, **who) + f", hosted by me, {show.host}.",
                      f"{fill}: Audio editing by …"]
    return "\n\n".join(parts) + "\n"


def create_episode(show: Show, slug: str, today: dt.date) -> Path:
    """episodes/<slug>/script.txt, never over an existing one."""
    if not is_slug(slug):
        raise PodforgeError(f"{slug!r} is not a slug: {SLUG_HINT}")
    path = show.resolve("episodes") / slug / "script.txt"
    if path.exists():
        raise PodforgeError(f"{path}: already exists; pick another slug or edit that script")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        write_text(path, scaffold(show, slug, today))  # whole, or not at all
    except OSError as err:
        raise PodforgeError(f"{path}: cannot create it ({err.strerror}); check that "
                            f"{path.parent.parent} is a folder you can write to") from None
    return path
