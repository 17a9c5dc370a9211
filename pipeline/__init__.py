"""podforge: narrative podcast scripts in, finished and published episodes out."""

__version__ = "0.1.0"
