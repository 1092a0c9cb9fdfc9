"""Commands that work with Label Studio: server, project, push, pull, listen."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import click

from labelloop.annotate.cli.common import (
    config_option,
    one_line_errors,
    open_project,
    project_matrix,
    workdir_option,
)

__all__ = ["listen", "project", "pull", "push", "serve", "server"]


@click.group()
def server() -> None:
    """Run the embedded Label Studio server (127.0.0.1, data in the work dir)."""


@server.command("start")
@workdir_option
@click.option("--port", default=8080, show_default=True, type=click.IntRange(1, 65535))
@click.option("--timeout", default=240.0, show_default=True, help="Seconds to wait for /health.")
@click.option(
    "--allow-loopback-webhook",
    is_flag=True,
    help="Let Label Studio send webhooks to 127.0.0.1 (for `labelloop listen`); this also "
    "lets its URL imports and storages reach services on 127.0.0.1. See the README.",
)
@one_line_errors
def server_start(
    workdir: Path | None, port: int, timeout: float, allow_loopback_webhook: bool
) -> None:
    """Start Label Studio (first start about 40 s: database migrations).

    Its SSRF protection stays on: it fetches from and posts to no private or loopback
    address, except 127.0.0.1 with --allow-loopback-webhook.

    \b
    Examples:
      labelloop server start --port 8080
      labelloop server start --allow-loopback-webhook   # then: labelloop listen
    """
    from labelloop.annotate.config.workdir import resolve_workdir
    from labelloop.annotate.labelstudio.server import start_server

    folder = resolve_workdir(workdir)
    state, credentials, created = start_server(
        folder, port=port, timeout_s=timeout, loopback_webhook=allow_loopback_webhook
    )
    click.echo(f"Label Studio is up at {state.url} (pid {state.pid})")
    if state.loopback_webhook:
        click.echo("webhooks to 127.0.0.1 allowed; other private addresses stay blocked")
    if created:
        click.echo(f"login: {credentials.username} / {credentials.password}  (shown once)")
    click.echo(f"credentials (mode 0600): {folder / 'label-studio' / 'credentials.json'}")


@server.command("stop")
@workdir_option
@one_line_errors
def server_stop(workdir: Path | None) -> None:
    """Stop the embedded Label Studio by process id (only if that process is still ours)."""
    from labelloop.annotate.config.workdir import resolve_workdir
    from labelloop.annotate.labelstudio.server import stop_server

    click.echo(stop_server(resolve_workdir(workdir)).message)


@server.command("status")
@workdir_option
@one_line_errors
def server_status_command(workdir: Path | None) -> None:
    """Say whether the embedded Label Studio runs; exit 1 if not."""
    from labelloop.annotate.config.workdir import resolve_workdir
    from labelloop.annotate.labelstudio.server import server_status

    state, running = server_status(resolve_workdir(workdir))
    if state is None or not running:
        click.echo("not running")
        raise SystemExit(1)
    click.echo(f"running at {state.url} (pid {state.pid})")


@click.command()
@config_option
@workdir_option
@one_line_errors
def project(config_path: Path, workdir: Path | None) -> None:
    """Create the Label Studio project for a config, or find it again."""
    opened = open_project(config_path, workdir)
    verb = "created" if opened.created else "found"
    click.echo(
        f"{verb} project {opened.project_id}: "
        f"{opened.gateway.url}/projects/{opened.project_id} "
        f"({opened.kind}, labels: {', '.join(opened.labels)})"
    )


@click.command()
@config_option
@click.option(
    "--n",
    "n_items",
    type=click.IntRange(1),
    default=None,
    help="Batch size (default: the config's).",
)
@click.option(
    "--route",
    type=click.Choice(["review", "human"]),
    default=None,
    help="Only items on this route (routing must be enabled and a cycle run).",
)
@workdir_option
@one_line_errors
def push(config_path: Path, n_items: int | None, route: str | None, workdir: Path | None) -> None:
    """Pick the next batch and push it to Label Studio (or finish a pending push).

    \b
    Examples:
      labelloop push --config configs/bbc_news.yaml --n 50
      labelloop push --config configs/bbc_news.yaml --route review --n 500
    """
    from labelloop.annotate.labelstudio.sync import prepare_batch, push_pending
    from labelloop.annotate.loop.project import payload_function, pick_batch
    from labelloop.annotate.loop.queue import refresh_in_pick_order, refresh_with_champion

    opened = open_project(config_path, workdir, lock="push")
    X = project_matrix(opened)
    if opened.state.pending_batch() is None:
        pick = pick_batch(opened, X, n_items or opened.config.batch_size, only_route=route)
        if not pick.drafts:
            click.echo(f"nothing to push{f' on route {route}' if route else ''}")
            return
        prepare_batch(opened.state, pick.drafts, strategy=pick.strategy, model_version=pick.version)
        X = opened.features(X)  # a partitioned pool's picks joined its working set
    # Built after the pick: a partitioned pool's picks are read into its working set.
    payload = payload_function(opened.kind, opened.pool, opened.config.labelling.image_side)
    report = push_pending(
        opened.gateway, opened.state, opened.project_id, kind=opened.kind, payload_of=payload
    )
    assert report is not None
    if opened.adopted:
        click.echo(
            f"{report.batch_id}: {report.already_there} task(s) picked in place in project "
            f"{opened.project_id}, {report.seconds:.2f} s"
        )
    else:
        click.echo(
            f"{report.batch_id}: sent {report.sent} task(s), "
            f"{report.already_there} already in Label Studio, "
            f"{report.seconds:.2f} s"
        )
    # The new tasks and the older open ones, all in the champion's order (none before
    # the first cycle that trains: the queue stays in push order).
    from labelloop.annotate.loop.tracking import Tracker

    refreshed = refresh_with_champion(opened, X, Tracker(opened.workdir, opened.config.name))
    if refreshed is not None and refreshed.n_open:
        click.echo(f"queue: {refreshed.n_open} open task(s), least sure first")
    elif (ordered := refresh_in_pick_order(opened)) is not None:
        click.echo(f"queue: {ordered.n_open} open task(s), in pick order (no model yet)")
    for warning in report.warnings:
        click.echo(f"warning: {warning}", err=True)


@click.command()
@config_option
@workdir_option
@one_line_errors
def pull(config_path: Path, workdir: Path | None) -> None:
    """Mirror new, updated and deleted annotations into the state store."""
    from labelloop.annotate.labelstudio.sync import pull_labels

    opened = open_project(config_path, workdir, lock="pull")
    report = pull_labels(opened.gateway, opened.state, opened.project_id, opened.labels)
    for warning in report.warnings:
        click.echo(f"warning: {warning}", err=True)
    resolved = opened.state.resolutions()
    ties = sum(r.tie for r in resolved.values())
    click.echo(
        f"{report.tasks_changed} task(s) changed: {report.new} new, {report.updated} updated, "
        f"{report.deleted} deleted, {report.cancelled} skipped, "
        f"{report.quarantined} quarantined; {report.tasks_deleted} task(s) deleted in "
        f"Label Studio; {len(resolved) - ties} item(s) labelled, "
        f"{ties} tie(s) held back ({report.seconds:.2f} s)"
    )


@click.command()
@config_option
@click.option("--port", default=8765, show_default=True, type=click.IntRange(1, 65535))
@click.option("--no-register", is_flag=True, help="Do not register the webhook in Label Studio.")
@workdir_option
@one_line_errors
def listen(config_path: Path, port: int, no_register: bool, workdir: Path | None) -> None:
    """Receive Label Studio webhooks; record that labels are waiting (no training here).

    The shared secret comes from $LABELLOOP_WEBHOOK_SECRET. The embedded Label Studio
    must run with `labelloop server start --allow-loopback-webhook` to reach it.
    """
    from labelloop.annotate.errors import ConfigError
    from labelloop.annotate.labelstudio.webhook import ACTIONS, SECRET_HEADER, make_server

    secret = os.environ.get("LABELLOOP_WEBHOOK_SECRET")
    if not secret:
        raise ConfigError("LABELLOOP_WEBHOOK_SECRET is not set; the webhook needs a shared secret")
    opened = open_project(config_path, workdir)
    if not no_register:
        _check_loopback_webhook(opened, workdir, "register the webhook")
    httpd = make_server("127.0.0.1", port, secret, opened.state)
    if not no_register:
        url = f"http://127.0.0.1:{port}/webhook"
        client = opened.gateway.client
        existing = opened.gateway.call(
            "list webhooks", lambda: list(client.webhooks.list(project=opened.project_id))
        )
        if not any(w.url == url for w in existing):
            opened.gateway.call(
                "register the webhook",
                lambda: client.webhooks.create(
                    project=opened.project_id,
                    url=url,
                    headers={SECRET_HEADER: secret},
                    send_payload=True,
                    send_for_all_actions=False,
                    actions=list(ACTIONS),
                ),
            )
    click.echo(f"listening on http://127.0.0.1:{port}/webhook (Ctrl-C to stop)")
    try:
        httpd.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        httpd.server_close()


@click.command()
@config_option
@click.option("--port", default=9090, show_default=True, type=click.IntRange(1, 65535))
@click.option(
    "--connect",
    is_flag=True,
    help="Also connect it as the project's model in Label Studio (Settings -> Model).",
)
@workdir_option
@one_line_errors
def serve(config_path: Path, port: int, connect: bool, workdir: Path | None) -> None:
    """Answer Label Studio's ML backend calls with the champion, on 127.0.0.1.

    The URL to give Label Studio (Settings -> Model -> Connect Model, no auth) is
    http://127.0.0.1:PORT/SECRET/ with SECRET = $LABELLOOP_SERVE_SECRET; --connect
    does that for you. The embedded server must run with `server start
    --allow-loopback-webhook`: Label Studio adds a webhook for a connected model and
    refuses the connection otherwise. "Retrieve predictions" then scores any task of
    the project, Start Training asks `labelloop run` for a cycle, and annotation events
    are recorded as `labelloop listen` records them.

    \b
    Examples:
      LABELLOOP_SERVE_SECRET=... labelloop serve --config configs/bbc_news.yaml --connect
    """
    import signal
    import threading

    from labelloop.annotate.errors import ConfigError
    from labelloop.annotate.labelstudio.ml_backend import check_secret, make_ml_backend
    from labelloop.annotate.loop.serving import ChampionScorer
    from labelloop.annotate.loop.tracking import Tracker

    secret = os.environ.get("LABELLOOP_SERVE_SECRET", "")
    try:
        check_secret(secret)
    except ValueError as exc:
        raise ConfigError(f"LABELLOOP_SERVE_SECRET: {exc}") from None
    opened = open_project(config_path, workdir)
    if connect:
        _check_loopback_webhook(opened, workdir, "connect a model")
    tracker = Tracker(opened.workdir, opened.config.name)
    scorer = ChampionScorer(
        tracker, opened.kind, opened.config.strategy, opened.pool, names=opened.names
    )
    version = scorer.load()
    try:
        httpd = make_ml_backend("127.0.0.1", port, secret, opened.state.path, scorer)
    except OSError as exc:
        raise ConfigError(f"--port {port}: cannot listen on 127.0.0.1 ({exc.strerror})") from None
    serving = threading.Thread(target=httpd.serve_forever, name="ml-backend", daemon=True)
    serving.start()
    signal.signal(signal.SIGTERM, lambda *_: httpd.shutdown())
    try:
        if connect:
            opened.gateway.connect_model(opened.project_id, f"http://127.0.0.1:{port}/{secret}/")
        click.echo(
            f"serving {version or 'no champion yet'} at http://127.0.0.1:{port}/"
            f"$LABELLOOP_SERVE_SECRET/ for Label Studio project {opened.project_id}"
            f"{' (connected)' if connect else ''}; Ctrl-C to stop"
        )
        while serving.is_alive():
            serving.join(timeout=0.5)
    except KeyboardInterrupt:
        httpd.shutdown()
    finally:
        httpd.server_close()
        calls = ", ".join(f"{k} {v}" for k, v in sorted(httpd.calls.items())) or "none"
        click.echo(f"stopped; calls: {calls}")


def _check_loopback_webhook(opened: Any, workdir: Path | None, what: str) -> None:
    """Refuse, in one line, when the embedded Label Studio may not post to 127.0.0.1."""
    from labelloop.annotate.config.workdir import resolve_workdir
    from labelloop.annotate.errors import ConfigError
    from labelloop.annotate.labelstudio.server import server_status

    embedded, running = server_status(resolve_workdir(workdir))
    if (
        running
        and embedded is not None
        and embedded.url == opened.gateway.url
        and not embedded.loopback_webhook
    ):
        raise ConfigError(
            f"Label Studio at {embedded.url} blocks webhooks to 127.0.0.1 (SSRF protection), "
            f"so it cannot {what}; restart it with `labelloop server stop` and `labelloop "
            "server start --allow-loopback-webhook`, or follow labels with `labelloop run`"
        )
