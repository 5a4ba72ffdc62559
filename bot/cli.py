"""The ``readout`` command line: index, ask, quote, source, eval, chat, stats, health, serve.

A thin adapter like the chat adapters: parse arguments, ask the answer service (through
:class:`bot.local.LocalAnswers`), format the result. Known errors (``ReadoutError``) print one
line and exit 1 (2 for bad input); anything else is a bug: :class:`ReadoutCommands` prints one
line for it and keeps the traceback for the log (``READOUT_LOG_LEVEL=DEBUG``), never on a
person's screen in place of an answer.

The JSON printed by ``readout ask --json`` is a contract other tools depend on
(see ``retrieval.answer.Answer.to_json``).
"""

from __future__ import annotations

import json
import logging
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from bot import commands, runtime
from bot.local import LocalAnswers
from bot.render_text import render_answer, render_quotes, render_source
from bot.service import QuestionLogSink
from bot.settings import Settings
from index.errors import ConfigError, CorpusError, QuestionError, ReadoutError

if TYPE_CHECKING:
    from bot.service import AnswerService
    from bot.updates import FollowReport
    from retrieval.evaluation import EvalResult

log = logging.getLogger(__name__)

EXIT_ERROR = 1
EXIT_USAGE = 2
UNDECODABLE_LINE = "this line is not valid UTF-8 text; it was skipped."
BAD_JSON_LINE = (
    'this line is not a question nor a JSON object {"question": "...", "conversation": "ID"}; '
    "it was skipped."
)
_F = TypeVar("_F", bound=Callable[..., Any])


def store_options(command: _F) -> _F:
    """``--store`` / ``--chroma-url`` on every command that opens the index."""
    command = click.option(
        "--chroma-url",
        metavar="URL",
        help="Use the Chroma server at URL instead of a local folder (READOUT_CHROMA_URL).",
    )(command)
    command = click.option(
        "--store",
        type=click.Path(path_type=Path, file_okay=False),
        help="Index folder (READOUT_STORE, default ./.readout).",
    )(command)
    return command


def load_settings(store: Path | None = None, chroma_url: str | None = None) -> Settings:
    """Settings from the environment, with command-line overrides applied."""
    import dataclasses

    settings = Settings.from_env()
    if store is not None:
        settings = dataclasses.replace(settings, store=store)
    if chroma_url:
        settings = dataclasses.replace(settings, chroma_url=chroma_url)
    return settings


@contextmanager
def friendly_errors() -> Iterator[None]:
    """Print known errors as one line; exit 2 for bad input, 1 otherwise."""
    try:
        yield
    except (QuestionError, CorpusError, ConfigError) as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(EXIT_USAGE)
    except ReadoutError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(EXIT_ERROR)


class ReadoutCommands(click.Group):
    """The command group, catching what no command expected: one line, never a traceback."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except (click.exceptions.ClickException, click.exceptions.Exit, click.Abort):
            raise
        except ReadoutError as exc:  # raised outside a command's friendly_errors
            click.echo(f"error: {exc}", err=True)
            sys.exit(EXIT_ERROR)
        except BrokenPipeError:
            # The reader went away (``readout ask --json | head -1``): what it wanted was
            # written. Quiet, as Unix tools are; stdout is pointed at /dev/null so the
            # interpreter's final flush does not fail on the closed pipe again.
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            sys.exit(EXIT_ERROR)
        except Exception as exc:
            # At DEBUG the log holds the whole traceback; the person gets one line either way.
            log.debug("unexpected error", exc_info=True)
            click.echo(
                f"error: an unexpected {type(exc).__name__} stopped readout (a bug; run with "
                "READOUT_LOG_LEVEL=DEBUG to log its traceback).",
                err=True,
            )
            sys.exit(EXIT_ERROR)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        # Older names (``quotes``, ``show``) run today's commands (``quote``, ``source``).
        found = commands.find(cmd_name)
        if found is not None and cmd_name != found.name:
            cmd_name = found.name
        return super().get_command(ctx, cmd_name)


@click.group(cls=ReadoutCommands, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="readout")
def main() -> None:
    """readout answers questions about your documents by quoting them, with citations."""
    try:
        level = Settings.from_env().log_level
    except ConfigError:
        level = "WARNING"  # the command itself reports the bad settings
    logging.basicConfig(
        level=getattr(logging, level),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )


@main.command("index")
@click.argument("paths", nargs=-1, type=click.Path(path_type=Path))
@click.option("--demo", is_flag=True, help="Index the bundled news article (the demo corpus).")
@click.option(
    "--if-missing", is_flag=True, help="Do nothing when the store already holds an index."
)
@click.option(
    "--notify",
    is_flag=True,
    help="Then update answers posted in Slack/Discord (READOUT_FOLLOW_DAYS) whose cited "
    "paragraphs changed, with the tokens set (SLACK_BOT_TOKEN, DISCORD_TOKEN).",
)
@store_options
def index_command(
    paths: tuple[Path, ...],
    demo: bool,
    if_missing: bool,
    notify: bool,
    store: Path | None,
    chroma_url: str | None,
) -> None:
    """Index files or folders of .txt, .md, .html and .pdf.

    Without PATHS, re-indexes the paths the current index was built from. Re-running is
    incremental: unchanged files are not embedded again, and the index then holds exactly the
    documents under PATHS. Document ids are paths relative to the folder given, without the
    extension (advanced/timeouts).
    """
    with friendly_errors():
        settings = load_settings(store, chroma_url)
        if if_missing and runtime.has_index(settings):
            return
        report = runtime.build(
            settings, paths, demo=demo, progress=lambda line: click.echo(line, err=True)
        )
    for skip in report.skipped:
        click.echo(f"warning: skipped {skip.path}: {skip.reason}", err=True)
    for warning in report.warnings:
        click.echo(f"warning: {warning}", err=True)
    if report.repaired:
        click.echo("The previous index was damaged; every document was embedded again.", err=True)
    if not report.changed:
        click.echo(f"Index v{report.version} is up to date: nothing to embed.")
    else:
        click.echo(
            f"Index v{report.version}: {report.paragraphs} paragraphs, {report.sentences} "
            f"sentences ({len(report.embedded)} documents embedded, {len(report.copied)} "
            f"unchanged, {len(report.removed)} removed)."
        )
    if notify:
        with friendly_errors():
            _notify(settings)


def _notify(settings: Settings) -> None:
    """``index --notify``: one follow-up pass (``bot.updates``) over the answers posted on the
    platforms whose tokens are set, in this process, right after publishing. Running bots
    would notice the new version within a minute too; claims in the question log make sure
    each message is edited once whoever gets there first."""
    import asyncio

    platforms = [
        name
        for name, token in (
            ("slack", settings.slack_bot_token),
            ("discord", settings.discord_token),
        )
        if token
    ]
    if not platforms:
        click.echo(
            "warning: --notify needs SLACK_BOT_TOKEN or DISCORD_TOKEN to update posted answers; "
            "running bots will update them themselves.",
            err=True,
        )
        return
    service = runtime.open_service(settings, preload_model=True)
    try:
        report = asyncio.run(_follow(settings, service, platforms))
    finally:
        service.close()
    click.echo(
        f"Posted answers in {' and '.join(platforms)}: {report.updated} updated, "
        f"{report.abstained} marked outdated, {report.failed} failed "
        f"(of {report.checked} from the last {settings.follow_days:g} days)."
    )


async def _follow(settings: Settings, service: AnswerService, platforms: list[str]) -> FollowReport:
    from contextlib import AsyncExitStack

    from bot.updates import Editor, SourceFollower

    async with AsyncExitStack() as stack:
        editors: list[Editor] = []
        for platform in platforms:
            if platform == "slack":
                from bot.slack_app import editor as slack_editor

                editors.append(await stack.enter_async_context(slack_editor(settings, service)))
            else:
                from bot.discord_app import editor as discord_editor

                editors.append(await stack.enter_async_context(discord_editor(settings, service)))
        follower = SourceFollower(
            settings.question_log_path, service, editors, days=settings.follow_days
        )
        return await follower.follow()


def no_log_option(command: _F) -> _F:
    """``--no-log``: keep this session's questions out of the question log."""
    return click.option(
        "--no-log", is_flag=True, help="Do not record the questions in the question log."
    )(command)


@main.command("ask")
@click.argument("question", required=False)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object per question.")
@no_log_option
@store_options
def ask_command(
    question: str | None,
    as_json: bool,
    no_log: bool,
    store: Path | None,
    chroma_url: str | None,
) -> None:
    """Answer QUESTION with cited sentences from the documents.

    With --json and no QUESTION, reads one question per line from stdin: plain text, or
    {"question": "...", "conversation": "ID"} to read it with the earlier lines of that ID.
    """
    from bot.conversations import ConversationMemory
    from bot.questions.log import question_log

    if question is None and not as_json:
        raise click.UsageError('give a question, e.g. readout ask "What did Xi say about Taiwan?"')
    with friendly_errors():
        settings = load_settings(store, chroma_url)
        if question is not None:
            from retrieval.engine import validate_question

            validate_question(question)  # refuse bad input before loading anything
        with (
            question_log(settings, enabled=not no_log) as questions,
            _local_answers(settings, questions, preload_model=True) as answers,
        ):
            if question is not None:
                answer = answers.ask(question)
                if as_json:
                    click.echo(json.dumps(answer.to_json(), ensure_ascii=False))
                else:
                    click.echo(render_answer(answer))
                return
            # One batch is its own set of conversations: no expiry while it runs.
            conversations = ConversationMemory(ttl=float("inf"))
            # Bytes, not text: a line that is not UTF-8 gets its error and the batch goes on.
            for raw in sys.stdin.buffer:
                try:
                    line = raw.decode("utf-8")
                except UnicodeDecodeError:
                    shown = raw.decode("utf-8", errors="replace").strip()[:200]
                    click.echo(json.dumps({"question": shown, "error": UNDECODABLE_LINE}))
                    continue
                if not line.strip():
                    continue
                text, conversation = line, ""
                try:
                    text, conversation = parse_stdin_line(line)
                    history = conversations.history(conversation) if conversation else ()
                    answer = answers.ask(text, history)
                except QuestionError as exc:
                    error = {"question": text.strip()[:200], "error": str(exc)}
                    if conversation:
                        error["conversation"] = conversation
                    click.echo(json.dumps(error, ensure_ascii=False))
                    continue
                payload = answer.to_json()
                if conversation:
                    conversations.remember(conversation, answers.turn(answer))
                    payload["conversation"] = conversation
                click.echo(json.dumps(payload, ensure_ascii=False), nl=True)
                sys.stdout.flush()


def parse_stdin_line(line: str) -> tuple[str, str]:
    """(question, conversation id) of one stdin line of ``readout ask --json``: a plain-text
    question (no conversation, id ""), or ``{"question": "...", "conversation": "ID"}``.

    A line that opens with ``{`` but is not such an object raises :class:`QuestionError`.
    """
    if not line.lstrip().startswith("{"):
        return line, ""
    try:
        request = json.loads(line)
    except ValueError:
        raise QuestionError(BAD_JSON_LINE) from None
    if not isinstance(request, dict) or not isinstance(request.get("question"), str):
        raise QuestionError(BAD_JSON_LINE)
    conversation = request.get("conversation", "")
    if isinstance(conversation, bool) or not isinstance(conversation, str | int):
        raise QuestionError(BAD_JSON_LINE)
    return request["question"], str(conversation)


@contextmanager
def _local_answers(
    settings: Settings,
    questions: QuestionLogSink | None = None,
    *,
    preload_model: bool = False,
    platform: str = "cli",
) -> Iterator[LocalAnswers]:
    """The service the bots run, as plain calls for one person at this terminal."""
    service = runtime.open_service(settings, question_log=questions, preload_model=preload_model)
    with LocalAnswers(service, platform=platform) as answers:
        answers.start()
        yield answers


@main.command(commands.QUOTE.name)
@click.argument("speaker")
@click.option("--json", "as_json", is_flag=True, help="Print the citations as JSON.")
@store_options
def quote_command(speaker: str, as_json: bool, store: Path | None, chroma_url: str | None) -> None:
    """List every statement attributed to SPEAKER (e.g. `readout quote xi`)."""
    with friendly_errors(), _local_answers(load_settings(store, chroma_url)) as answers:
        answer = answers.quote(speaker)
        if as_json:
            click.echo(json.dumps([c.to_json() for c in answer.citations], ensure_ascii=False))
            return
        click.echo(render_quotes(answer))


@main.command(commands.SOURCE.name)
@click.argument("ref")
@store_options
def source_command(ref: str, store: Path | None, chroma_url: str | None) -> None:
    """Print paragraph N (or DOC:N) in full, e.g. `readout source 12`."""
    with friendly_errors(), _local_answers(load_settings(store, chroma_url)) as answers:
        click.echo(render_source(answers.source(ref)))


@main.command("eval")
@click.argument("file", type=click.Path(path_type=Path, dir_okay=False), required=False)
@click.option(
    "--conversations",
    "conversations_file",
    type=click.Path(path_type=Path, dir_okay=False),
    metavar="FILE.jsonl",
    help="Score a conversation set instead (tests/data/conversations.jsonl): follow-up turns "
    "asked alone and read with the turns before them.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@store_options
def eval_command(
    file: Path | None,
    conversations_file: Path | None,
    as_json: bool,
    store: Path | None,
    chroma_url: str | None,
) -> None:
    """Score FILE.jsonl (the format of shared/eval/dev.jsonl) against the index."""
    if (file is None) == (conversations_file is None):
        raise click.UsageError("give a question set FILE, or --conversations FILE, not both")
    if conversations_file is not None:
        _eval_conversations(conversations_file, as_json, store, chroma_url)
        return
    assert file is not None
    from retrieval.evaluation import (
        breakdown,
        compare_methods,
        evaluate,
        parse_cases,
        question_word,
    )

    with friendly_errors():
        cases = parse_cases(_read_lines(file))
        engine = runtime.open_engine(load_settings(store, chroma_url), preload_model=True)
        report = evaluate(cases, engine.ask)
        methods = compare_methods(cases, engine.rankings([c.question for c in cases]))
    by_word = breakdown(report, lambda r: question_word(r.case.question))
    by_doc = breakdown(report, lambda r: r.case.doc or "-")
    if as_json:
        payload = {
            **report.to_json(),
            "methods": {name: scores.to_json() for name, scores in methods.items()},
            "by_question_word": by_word,
            "by_document": by_doc,
        }
        click.echo(json.dumps(payload, ensure_ascii=False))
        return
    click.echo(f"top-1 citation      {report.top1}/{report.answerable}")
    if report.with_phrases:
        click.echo(f"phrase hit          {report.phrase_hits}/{report.with_phrases}")
        click.echo(f"phrase in 1st quote {report.first_holds}/{report.with_phrases}")
    else:
        click.echo("phrase hit          - (the set names no phrases)")
    click.echo(f"abstained (unansw.) {report.abstained_correctly}/{report.unanswerable}")
    click.echo(f"false abstentions   {report.false_abstentions}/{report.answerable}")
    click.echo("\nparagraph ranking (same index, same run; baselines never abstain)")
    click.echo(f"  {'method':<8} {'top-1':>7} {'top-3':>7} {'MRR':>6}")
    for name, scores in methods.items():
        click.echo(
            f"  {name:<8} {scores.top1:>3}/{scores.cases:<3} {scores.top3:>3}/{scores.cases:<3}"
            f" {scores.mrr:6.3f}"
        )
    for title, groups in (("question word", by_word), ("document", by_doc)):
        if len(groups) > 1:
            click.echo(f"\nby {title}: top-1 / cases (abstained)")
            for group, counts in groups.items():
                top1, total, abstained = counts["top1"], counts["cases"], counts["abstained"]
                click.echo(f"  {group:<28} {top1:>3}/{total:<3} ({abstained})")
    if report.failures:
        click.echo("\nfailures:")
    for result in report.failures:
        case = result.case
        expected = f"¶{','.join(map(str, case.paragraphs))}" if case.answerable else "abstain"
        cited = dict.fromkeys(f"¶{c.paragraph}" for c in result.answer.citations)
        got = "abstained" if result.answer.abstained else ", ".join(cited)
        if case.answerable and result.top1 and not result.phrase:
            got += " (no gold phrase in the answer)"
        click.echo(f"  {case.case_id}: {case.question}  expected {expected}, got {got}")


def _read_lines(file: Path) -> list[str]:
    try:
        return file.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise CorpusError(f"cannot read {file} ({exc.strerror})") from exc


def _eval_conversations(
    file: Path, as_json: bool, store: Path | None, chroma_url: str | None
) -> None:
    """``readout eval --conversations FILE``: follow-ups alone and in context, side by side."""
    from retrieval.evaluation import evaluate_conversations, parse_conversations

    with friendly_errors():
        conversations = parse_conversations(_read_lines(file))
        engine = runtime.open_engine(load_settings(store, chroma_url), preload_model=True)
        report = evaluate_conversations(conversations, engine.ask, engine.turn)
    if as_json:
        click.echo(json.dumps(report.to_json(), ensure_ascii=False))
        return
    first, alone, context = report.first, report.alone, report.in_context
    turns = len(report.follow_ups)
    click.echo(f"first turns         top-1 {first.top1}/{first.answerable}, phrase hit "
               f"{first.phrase_hits}/{first.answerable}, read as typed "
               f"{report.first_read_as_typed}/{len(first.results)}")  # fmt: skip
    click.echo(f"follow-up turns     {'alone':>9} {'in context':>12}")
    rows = (
        ("right", len(alone.results) - len(alone.failures), len(context.results)
         - len(context.failures), turns),
        ("top-1 citation", alone.top1, context.top1, alone.answerable),
        ("phrase hit", alone.phrase_hits, context.phrase_hits, alone.answerable),
        ("abstained (unansw.)", alone.abstained_correctly, context.abstained_correctly,
         alone.unanswerable),
    )  # fmt: skip
    for label, without, within, total in rows:
        click.echo(f"  {label:<18}{without:>4}/{total:<4} {within:>7}/{total:<4}")
    click.echo(f"  rewritten         {report.rewritten:>4}/{turns}")
    click.echo("\nfollow-ups (alone → in context; * = right):")
    for result in report.follow_ups:
        case = result.in_context.case
        expected = f"¶{','.join(map(str, case.paragraphs))}" if case.answerable else "abstain"
        click.echo(
            f"  {case.case_id}: {case.question}  expected {expected}, got "
            f"{_got(result.alone)} → {_got(result.in_context)}"
        )
        if result.rewritten:
            click.echo(f"      read as: {result.in_context.answer.understood_as}")


def _got(result: EvalResult) -> str:
    answer = result.answer
    got = "abstained" if answer.abstained else f"¶{answer.citations[0].paragraph}"
    return got + ("*" if result.passed else "")


@main.command("chat")
@no_log_option
@store_options
def chat_command(no_log: bool, store: Path | None, chroma_url: str | None) -> None:
    """An interactive session: type questions, get cited answers."""
    from bot.chat import run_chat
    from bot.questions.log import question_log

    with friendly_errors():
        settings = load_settings(store, chroma_url)
        with (
            question_log(settings, enabled=not no_log) as questions,
            _local_answers(settings, questions, preload_model=True, platform="chat") as answers,
        ):
            run_chat(answers)


@main.command("stats")
@click.option(
    "--since",
    metavar="AGE|DATE",
    help="From how long ago: 7d, 24h, 30m, 2w, a UTC date (2026-01-31) or 'all' "
    "[default: 7d; with --export: all].",
)
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@click.option(
    "--html",
    "html_to",
    type=click.Path(path_type=Path, dir_okay=False, allow_dash=True),
    metavar="FILE.html",
    help="Write the report as one self-contained HTML page with charts ('-' for stdout).",
)
@click.option(
    "--export",
    "export_to",
    type=click.Path(path_type=Path, dir_okay=False, allow_dash=True),
    metavar="FILE.csv",
    help="Write the raw log, one row per question, as CSV ('-' for stdout) instead.",
)
@click.option(
    "--db",
    type=click.Path(path_type=Path, dir_okay=False),
    help="The question log (READOUT_QUESTION_LOG; default beside the store).",
)
@store_options
def stats_command(
    since: str | None,
    as_json: bool,
    html_to: Path | None,
    export_to: Path | None,
    db: Path | None,
    store: Path | None,
    chroma_url: str | None,
) -> None:
    """What was asked, what went unanswered, what helped: the question log in numbers."""
    import time

    from bot.questions.stats import DEFAULT_SINCE, export_csv, parse_since, read_stats, render_stats

    chosen = [
        name
        for name, on in (("--json", as_json), ("--html", html_to), ("--export", export_to))
        if on
    ]
    if len(chosen) > 1:
        raise click.UsageError(f"{' and '.join(chosen)} are different reports: choose one.")
    with friendly_errors():
        path = db or load_settings(store, chroma_url).question_log_path
        if export_to is not None:
            start = parse_since(since, time.time()) if since else None
            if str(export_to) == "-":
                export_csv(path, sys.stdout, since=start)
                return
            try:
                with export_to.open("w", encoding="utf-8", newline="") as out:
                    rows = export_csv(path, out, since=start)
            except OSError as exc:
                raise click.FileError(str(export_to), hint=exc.strerror) from None
            click.echo(f"Wrote {rows} questions to {export_to}.", err=True)
            return
        stats = read_stats(path, since=parse_since(since or DEFAULT_SINCE, time.time()))
        if html_to is not None:
            _write_page(stats, html_to)
            return
    if as_json:
        click.echo(json.dumps(stats.to_json(), ensure_ascii=False))
    else:
        click.echo(render_stats(stats))


def _write_page(stats: Any, target: Path) -> None:
    import time

    from bot.questions.page import render_html  # matplotlib loads only for the page

    page = render_html(stats, generated_at=time.time())
    if str(target) == "-":
        click.echo(page, nl=False)
        return
    try:
        target.write_text(page, encoding="utf-8")
    except OSError as exc:
        raise click.FileError(str(target), hint=exc.strerror) from None
    click.echo(f"Wrote the report ({stats.questions} questions) to {target}.", err=True)


@main.command("health")
@click.option(
    "--load-model/--no-load-model",
    default=True,
    show_default=True,
    help="Load the model and encode a probe sentence (--no-load-model only verifies its "
    "files: cheaper, for frequent container health checks).",
)
@store_options
def health_command(load_model: bool, store: Path | None, chroma_url: str | None) -> None:
    """Check the store, the index and the model; print one line of JSON, exit 0 or 1."""
    from bot.health import check_health

    try:
        settings = load_settings(store, chroma_url)
    except ConfigError as exc:
        click.echo(json.dumps({"ok": False, "error": str(exc)}))
        sys.exit(EXIT_ERROR)
    health = check_health(settings, load_model=load_model)
    click.echo(json.dumps(health.to_json(), ensure_ascii=False))
    sys.exit(0 if health.ok else EXIT_ERROR)


@main.group("serve")
def serve_group() -> None:
    """Run readout as a chat bot (Slack or Discord)."""


# Chat adapters register their `serve <platform>` commands below; each imports its SDK lazily
# inside the command so `readout ask` never pays for slack_bolt or discord.py.


@serve_group.command("discord")
@click.option(
    "--sync",
    is_flag=True,
    help="Register the slash commands with Discord first: globally, or in READOUT_DISCORD_GUILD "
    "for instant updates. Needed once and after the commands change, not on every start.",
)
@click.option(
    "--shards",
    metavar="auto|N",
    help="Use the sharded client (large bots): 'auto' for Discord's recommended count, or N.",
)
@click.option(
    "--health-port",
    type=click.IntRange(0, 65535),
    help="Also answer GET /healthz on this port (all interfaces; 0 picks a free one).",
)
@store_options
def serve_discord_command(
    sync: bool,
    shards: str | None,
    health_port: int | None,
    store: Path | None,
    chroma_url: str | None,
) -> None:
    """Run the Discord bot: /ask, /quote, /source, /help, @mentions and DMs.

    Needs DISCORD_TOKEN; prints the URL that invites the bot to a server. See docs/discord.md.
    """
    with friendly_errors():
        settings = load_settings(store, chroma_url)
        settings.require("discord_token")
        # discord.py loads only when serving Discord
        from bot.discord_app import parse_shards, serve

        _serve(
            settings,
            serve,
            announce=click.echo,
            sync=sync,
            shards=parse_shards(shards),
            health_port=health_port,
        )


def _serve(settings: Settings, serve: Any, **options: Any) -> None:
    """Run an adapter's ``serve(settings, service, *, announce, ...)`` until it stops, with the
    question log open for its questions and votes."""
    import asyncio

    from bot.questions.log import question_log

    with question_log(settings) as questions:
        service = runtime.open_service(settings, question_log=questions)
        try:
            asyncio.run(serve(settings, service, **options))
        finally:
            service.close()


@serve_group.command("slack")
@click.option(
    "--http",
    "http_mode",
    is_flag=True,
    help="Receive events over HTTP at /slack/events (needs SLACK_SIGNING_SECRET) "
    "instead of Socket Mode (needs SLACK_APP_TOKEN).",
)
@click.option("--host", default="0.0.0.0", show_default=True, help="With --http: address to bind.")
@click.option(
    "--port",
    type=click.IntRange(0, 65535),
    default=3000,
    show_default=True,
    help="With --http: port to bind (0 picks a free one).",
)
@store_options
@click.pass_context
def serve_slack_command(
    ctx: click.Context,
    http_mode: bool,
    host: str,
    port: int,
    store: Path | None,
    chroma_url: str | None,
) -> None:
    """Run the Slack bot: /ask, /quote, /source, @mentions and DMs.

    Socket Mode by default (SLACK_BOT_TOKEN, SLACK_APP_TOKEN: no public URL needed); with
    --http, an endpoint at /slack/events plus GET /healthz (SLACK_BOT_TOKEN,
    SLACK_SIGNING_SECRET). See docs/slack.md.
    """
    from click.core import ParameterSource

    if not http_mode and any(
        ctx.get_parameter_source(name) is ParameterSource.COMMANDLINE for name in ("host", "port")
    ):
        raise click.UsageError("--host and --port only apply with --http")
    with friendly_errors():
        settings = load_settings(store, chroma_url)
        if http_mode:
            settings.require("slack_bot_token", "slack_signing_secret")
        else:
            settings.require("slack_bot_token", "slack_app_token")
        from bot.slack_app import serve  # slack_bolt loads only when serving Slack

        _serve(
            settings,
            serve,
            announce=lambda message: click.echo(message, err=True),
            http=http_mode,
            host=host,
            port=port,
        )


if __name__ == "__main__":  # pragma: no cover
    main()
