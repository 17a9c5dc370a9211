"""The Podcasting 2.0 person taxonomy: role → group, as `podcast:person` expects them.

Kept as data in code (roles and groups are the namespace's vocabulary, needed to interoperate);
a test checks it against the published taxonomy.json when the reference copy is present.
"""

from __future__ import annotations

_GROUPS = {
    "creative direction": ("director", "assistant director", "executive producer",
                           "senior producer", "producer", "associate producer",
                           "development producer", "creative director"),
    "cast": ("host", "co-host", "guest host", "guest", "voice actor", "narrator", "announcer",
             "reporter"),
    "writing": ("author", "editorial director", "co-writer", "writer", "songwriter",
                "guest writer", "story editor", "managing editor", "script editor",
                "script coordinator", "researcher", "editor", "fact checker", "translator",
                "transcriber", "logger"),
    "audio production": ("studio coordinator", "technical director", "technical manager",
                         "audio engineer", "remote recording engineer",
                         "post production engineer"),
    "audio post-production": ("audio editor", "sound designer", "foley artist", "composer",
                              "theme music", "music production", "music contributor"),
    "administration": ("production coordinator", "booking coordinator", "production assistant",
                       "content manager", "marketing manager", "sales representative",
                       "sales manager"),
    "visuals": ("graphic designer", "cover art designer"),
    "community": ("social media manager",),
    "misc.": ("consultant", "intern"),
    "video production": ("camera operator", "lighting designer", "camera grip",
                         "assistant camera"),
    "video post-production": ("editor", "assistant editor"),
}

# "editor" appears in two groups; for a podcast's credits it is the writing editor.
GROUP_OF: dict[str, str] = {}
for _group, _roles in reversed(_GROUPS.items()):
    for _role in _roles:
        GROUP_OF[_role] = _group

ROLES: frozenset[str] = frozenset(GROUP_OF)


def group_of(role: str) -> str:
    return GROUP_OF[role.lower()]
