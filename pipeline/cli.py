"""The `podforge` command: a thin click shell over the pipeline's stages.

Commands parse options, call one function and print its result. Bad input anywhere surfaces as
a PodforgeError, printed with what to do and exit status 2; never a traceback.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import sys
from pathlib import Path

import click

# numpy's and scipy's OpenBLAS each start a thread per core that spins while they load (and
# after each call). podforge does no linear algebra and keeps every core busy with audio:
# one thread each, set before either loads (a build's import takes 0.25 CPU-s less).
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

from pipeline import __version__, interrupts
from pipeline.errors import PodforgeError
from pipeline.script.outline import outline as outline_of, render as render_outline
from pipeline.project import check_scripts, open_project, script_paths
from pipeline.script.scaffold import create_episode
from pipeline.script.validate import summary

SHOW = click.option("--show", "show_file", type=click.Path(dir_okay=False, path_type=Path),
                    help="show.yaml to use (default: the nearest one above the current folder).")


class Podforge(click.Group):
    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except PodforgeError as err:
            click.echo(f"podforge: {err}", err=True)
            ctx.exit(2)
        except (click.ClickException, click.exceptions.Exit, click.Abort):
            raise  # usage errors and exits: click reports them
        except KeyboardInterrupt:  # temporary files are removed by the `finally`s on the way out
            click.echo("podforge: interrupted", err=True)
            ctx.exit(130)
        except RecursionError:
            click.echo("podforge: input nested too deeply to read; simplify it", err=True)
            ctx.exit(2)
        except Exception as err:  # a bug: one line, unless PODFORGE_DEBUG asks for the trace
            if os.environ.get("PODFORGE_DEBUG"):
                raise
            click.echo(f"podforge: internal error, a bug in podforge ({type(err).__name__}: "
                       f"{err}); please report it with the input (PODFORGE_DEBUG=1 shows "
                       "where)", err=True)
            ctx.exit(70)


@click.group(cls=Podforge, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="podforge")
def main() -> None:
    """Turn narrative podcast scripts into finished, published episodes."""


@main.command()
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text",
              show_default=True, help="Report as linter lines or as a JSON list.")
@click.option("--takes", is_flag=True,
              help="Also hear each recorded take against its script (T001, T002).")
@SHOW
@click.argument("paths", nargs=-1, type=click.Path(path_type=Path))
def validate(fmt: str, takes: bool, show_file: Path | None, paths: tuple[Path, ...]) -> None:
    """Check scripts against the show's format (every episode when no PATH is given).

    Exit status: 0 clean, 1 problems found, 2 unreadable input or bad usage.
    """
    project = open_project(paths[0] if paths else None, show_file)
    check = check_scripts(list(paths), project, with_takes=takes)
    if fmt == "json":
        click.echo(json.dumps([d.as_dict() for d in check.diagnostics], indent=2,
                              ensure_ascii=False))
    else:
        for d in check.diagnostics:
            click.echo(d.as_text())
    for problem in check.unreadable:  # also among the diagnostics, as E001
        click.echo(f"podforge: {problem}", err=True)
    click.echo(summary(list(check.diagnostics), check.files), err=True)
    sys.exit(2 if check.unreadable else 1 if check.diagnostics else 0)


@main.command()
@click.option("--json", "as_json", is_flag=True, help="Print the outline as JSON.")
@SHOW
@click.argument("script", type=click.Path(path_type=Path))
def outline(as_json: bool, show_file: Path | None, script: Path) -> None:
    """Show a script's segments (lines, words, spoken length) and credits."""
    project = open_project(script, show_file)
    data = outline_of(project.read(script), project.show)
    click.echo(json.dumps(data, indent=2, ensure_ascii=False) if as_json else
               render_outline(data))


@main.command()
@SHOW
@click.option("--date", "day", type=click.DateTime(["%Y-%m-%d"]),
              help="Publication date for the header (default: today).")
@click.argument("slug")
def new(show_file: Path | None, day: dt.datetime | None, slug: str) -> None:
    """Start episodes/SLUG/script.txt from the show's format."""
    project = open_project(show_file=show_file)
    if project.show is None:
        raise PodforgeError("no show.yaml here or above: `new` lays out a script from the "
                            "show's format; create show.yaml or pass --show FILE")
    path = create_episode(project.show, slug, (day or dt.datetime.now()).date())
    click.echo(f"created {path}: fill it in, then `podforge validate {path}`")


@main.command()
@click.option("--title", default="Untitled Show", show_default=True, help="The show's name.")
@click.option("--host", default="Your Name", show_default=True, help="Who narrates it.")
@click.option("--network", default="Your Network", show_default=True, help="Who makes it.")
@click.argument("folder", type=click.Path(file_okay=False, path_type=Path), default=Path("."))
def init(title: str, host: str, network: str, folder: Path) -> None:
    """Lay out a new show in FOLDER (default: here): show.yaml, assets/, episodes/."""
    from pipeline.init_show import init_show

    made = init_show(folder, title, host, network)
    click.echo("created " + ", ".join(str(p) for p in made))
    click.echo(f"next: fill in the lines marked \"fill in\" in {made[0]}, then "
               "`podforge new SLUG` to start an episode; it builds voice-only until you add "
               f"sounds to {made[1]} and place them under `sound:` in show.yaml")


@main.command()
@click.option("--plan", "show_plan", is_flag=True,
              help="Print the timeline of clips for review; touch no audio.")
@click.option("--force", is_flag=True, help="Rebuild everything, ignoring the cache.")
@click.option("--takes-only", is_flag=True,
              help="Fail on a segment without a recorded take instead of drafting its voice.")
@click.option("--quiet", "-q", is_flag=True, help="Print only warnings and errors.")
@click.option("--no-validate", "skip_validation", is_flag=True,
              help="Build despite validation errors (a cue naming no sound still stops it).")
@SHOW
@click.argument("paths", nargs=-1, type=click.Path(path_type=Path))
def build(show_plan: bool, force: bool, takes_only: bool, quiet: bool, skip_validation: bool,
          show_file: Path | None, paths: tuple[Path, ...]) -> None:
    """Build episodes into build/<slug>/: MP3, chapters, transcripts, report (all when no PATH)."""
    from pipeline.build.inputs import Options
    from pipeline.build.run import build as build_episodes
    from pipeline.progress import Progress

    project = open_project(paths[0] if paths else None, show_file)
    scripts = script_paths(list(paths), project)
    if show_plan:
        with interrupts.held():  # probes takes: the audio stack
            from pipeline.build.episode import plan_only

        say = lambda line: click.echo(line, err=True)  # noqa: E731
        plans = [plan_only(project, path, not skip_validation, say) for path in scripts]
        click.echo("\n\n".join(plans))
        return
    build_episodes(project, scripts, Options(force, takes_only, not skip_validation),
                   Progress(quiet=quiet))


@main.command()
@click.option("--dry-run", is_flag=True, help="Print what would be removed; remove nothing.")
@click.option("--all", "everything", is_flag=True, help="Empty the cache.")
@SHOW
def clean(dry_run: bool, everything: bool, show_file: Path | None) -> None:
    """Remove build cache entries no build uses, and the least recently used beyond
    show.yaml's cache.max_mb (all of them with --all); prints each with its size."""
    import time

    from pipeline.build import cache as build_cache

    project = open_project(None, show_file)
    folder = project.root / ".podforge-cache"
    found = build_cache.entries(folder)
    max_mb = project.show.cache.max_mb if project.show else 2048.0
    gone = found if everything else build_cache.to_remove(
        found, build_cache.used_entries(project.root), max_mb * 1e6, time.time(), grace=60.0)
    for e in gone:
        click.echo(f"{_size(e.size):>9}  {e.name}")
    total = sum(e.size for e in gone)
    kept = sum(e.size for e in found) - total
    verb = "would remove" if dry_run else "removed"
    if not dry_run:
        build_cache.remove(gone)
    click.echo(f"{verb} {len(gone)} entries, {_size(total)}; {_size(kept)} kept in {folder}")


def _size(n: float) -> str:
    for unit in ("B", "kB", "MB", "GB"):
        if n < 1000 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000


@main.command()
@click.option("--base-url", help="Public URL the feed is served from (overrides show.yaml).")
@click.option("--include-scheduled", is_flag=True,
              help="Also publish episodes dated in the future.")
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path),
              default=Path("feed"), show_default=True, help="Where to write the feed and site.")
@click.option("--to", "to", metavar="s3://BUCKET[/PREFIX]",
              help="Then upload the folder to S3-compatible storage (credentials and endpoint "
                   "from AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_ENDPOINT_URL).")
@click.option("--prune", is_flag=True,
              help="With --to: delete objects unreferenced for longer than --grace-days.")
@click.option("--grace-days", type=click.FloatRange(0), default=7.0, show_default=True,
              help="With --to: how long an unreferenced object is kept.")
@click.option("--verify", is_flag=True,
              help="With --to: list the bucket instead of trusting its state object.")
@click.option("--allow-removal", is_flag=True,
              help="Let episodes of the previous feed disappear from it (on purpose).")
@SHOW
def publish(base_url: str | None, include_scheduled: bool, out_dir: Path, to: str | None,
            prune: bool, grace_days: float, verify: bool, allow_removal: bool,
            show_file: Path | None) -> None:
    """Write feed.xml, show notes, media and the site for every built episode."""
    from pipeline.publish.run import publish as publish_feed

    target = None
    if to:
        from pipeline.publish.s3 import parse_target

        target = parse_target(to)  # a bad target fails before anything is written
    project = open_project(show_file=show_file)
    if project.show is None:
        raise PodforgeError("no show.yaml here or above: publishing needs the show's identity")
    previous = None
    if target is not None:
        from pipeline.publish.s3 import previous_feed

        def previous() -> bytes | None:  # the live feed is the bucket's: guard against it
            return previous_feed(target)
    result = publish_feed(project.show, project.root, out_dir, base_url, include_scheduled,
                          allow_removal=allow_removal, previous_feed=previous)
    click.echo(result.summary())
    if target is not None:
        from pipeline.progress import Progress
        from pipeline.publish.s3 import sync

        synced = sync(result.feed.parent, target, prune=prune, verify=verify,
                      grace=dt.timedelta(days=grace_days), progress=Progress())
        click.echo(synced.summary())


@main.command(name="import")
@click.option("--download", is_flag=True,
              help="Also download each episode's audio and the cover art.")
@click.option("--force", is_flag=True, help="Overwrite an existing show.yaml and episodes.")
@click.option("--into", "root", type=click.Path(file_okay=False, path_type=Path),
              default=Path("."), show_default=True, help="Folder to write the show into.")
@click.argument("feed")
def import_(download: bool, force: bool, root: Path, feed: str) -> None:
    """Bring an existing show in from its RSS feed (a file, or an http(s) URL)."""
    from pipeline.publish.importer import import_feed

    click.echo(import_feed(feed, root, download=download, force=force).summary())


@main.command()
@click.option("--port", type=click.IntRange(0, 65535), default=8000, show_default=True)
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to listen on (localhost only by default).")
@click.argument("folder", type=click.Path(file_okay=False, path_type=Path), default=Path("feed"))
def serve(port: int, host: str, folder: Path) -> None:
    """Preview the published feed and site, with HTTP Range support as podcast apps need."""
    from pipeline.publish.serve import serve as serve_folder

    serve_folder(folder, host, port)
