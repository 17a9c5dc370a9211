"""Errors a user can act on.

Every failure caused by input (a file, a setting, a cue) is raised as a PodforgeError whose
message names the file, line or cue and says what to do; the CLI prints it and exits 2.
Anything else escaping is a bug in podforge.
"""


class PodforgeError(Exception):
    """Bad input: printed as-is by the CLI, exit status 2."""


class ShowError(PodforgeError):
    """show.yaml cannot be used."""


class ScriptError(PodforgeError):
    """A script cannot be read or its front matter is broken."""


class AudioError(PodforgeError):
    """A take or asset cannot serve: corrupt, truncated, empty, not audio or silent."""


class EncoderError(PodforgeError):
    """ffmpeg is missing or failed."""


class PublishError(PodforgeError):
    """The feed or site cannot be published as asked."""
