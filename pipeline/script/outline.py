"""Script → outline: the episode's structure at a glance, and the JSON contract tools read."""

from __future__ import annotations

from pipeline.model import Script
from pipeline.timefmt import minutes
from pipeline.show import EpisodeFormat, Show


def outline(script: Script, show: Show | None = None) -> dict:
    """The `podforge outline --json` contract: metadata, show, segments, credits."""
    fmt = show.format if show else EpisodeFormat()
    m, who = script.metadata, script.identity
    return {
        "metadata": {"title": m.title, "date": _iso(m.date), "summary": m.summary,
                     "event_date": _iso(m.event_date)},
        "show": {"name": who.show or (show.title if show else None),
                 "host": who.host or (show.host if show else None),
                 "network": who.network or (show.network if show else None)},
        "segments": [{"kind": s.kind, "number": s.number, "title": s.title,
                      "start_line": s.start_line, "end_line": s.end_line, "words": s.words,
                      "estimated_seconds": round(s.words / fmt.words_per_minute * 60, 1)}
                     for s in script.segments],
        "credits": [{"name": c.name, "roles": list(c.roles), "organization": c.organization}
                    for c in script.credits],
    }


def _iso(day) -> str | None:
    return day.isoformat() if day else None


def render(data: dict) -> str:
    """The outline as a person reads it in a terminal."""
    m, show = data["metadata"], data["show"]
    lines = [m["title"] or "(untitled)"]
    dates = [f"published {m['date']}" if m["date"] else None,
             f"about {m['event_date']}" if m["event_date"] else None,
             f"{show['name']} with {show['host']}" if show["name"] and show["host"] else None]
    lines.append(" · ".join(d for d in dates if d))
    lines.append("")
    total_words = total_seconds = 0
    for s in data["segments"]:
        name = s["kind"].replace("_", " ")
        if s["kind"] == "act":
            name = f"act {s['number'] if s['number'] is not None else '?'}" + (
                f": {s['title']}" if s["title"] else "")
        span = f"{s['start_line']}–{s['end_line']}"
        lines.append(f"  {name:<40.40} lines {span:<9} {s['words']:>6} words "
                     f"{minutes(s['estimated_seconds']):>7}")
        total_words += s["words"]
        total_seconds += s["estimated_seconds"]
    if data["segments"]:
        lines.append(f"  {'total':<40} {'':15} {total_words:>6} words {minutes(total_seconds):>7}")
    else:
        lines.append("  (no segments)")
    if data["credits"]:
        lines += ["", "Credits"]
        for c in data["credits"]:
            org = f" ({c['organization']})" if c["organization"] else ""
            lines.append(f"  {c['name']}{org}: {', '.join(c['roles'])}")
    return "\n".join(lines)
