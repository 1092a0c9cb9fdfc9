"""MLflow tracking: an experiment per project, one run per cycle, the model registry.

Each cycle that trains logs one run: parameters, metrics (under labelloop's names and
under the names ``mlflow.models.evaluate`` uses), the labelled snapshot and the
evaluation set as run inputs (``mlflow.log_input``), plots, the chosen items, and one
registered model version that scores raw rows (see :mod:`.packaging`). The newest
version carries the ``challenger`` alias; the best one so far, ``champion``.

mlflow is imported lazily (it takes seconds), and only here.
"""

from __future__ import annotations

import contextlib
import functools
import os
import tempfile
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ParamSpec, TypeVar

import numpy as np

from labelloop.annotate.errors import (
    LabelloopError,
    TrackingError,
    TrackingUnavailableError,
    redact_uri,
)
from labelloop.annotate.failpoints import failpoint
from labelloop.annotate.loop.packaging import ModelPackage

__all__ = [
    "HTTP_DEFAULTS",
    "CycleLog",
    "CyclePlots",
    "Tracker",
    "labels_digest",
    "quiet_mlflow",
    "redact_uri",
    "tracking_uri",
]

#: MLflow's HTTP settings when the user has not set them. MLflow's own defaults (7 retries,
#: backoff factor 2, 120 s timeout) keep a command waiting for minutes on a server that
#: is down; with these an unreachable server is reported within seconds.
HTTP_DEFAULTS = {
    "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "2",
    "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "1",
    "MLFLOW_HTTP_REQUEST_TIMEOUT": "10",
}

_P = ParamSpec("_P")
_R = TypeVar("_R")


def tracking_uri(workdir: Path) -> str:
    """``$MLFLOW_TRACKING_URI`` if set, else a SQLite store in the work dir."""
    return os.environ.get("MLFLOW_TRACKING_URI") or f"sqlite:///{workdir / 'mlflow.db'}"


def _unreachable(exc: BaseException) -> bool:
    """Tell whether ``exc`` (or what caused it) says the server did not answer."""
    import requests

    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(
            current,
            requests.ConnectionError | requests.Timeout | requests.exceptions.RetryError,
        ):
            return True
        current = current.__cause__ or current.__context__
    return False


def _tracking_error(exc: BaseException, uri: str, action: str) -> TrackingError:
    """Turn an MLflow failure into labelloop's one-line error, credentials left out."""
    where = redact_uri(uri)
    if _unreachable(exc):
        return TrackingUnavailableError(
            f"cannot reach MLflow at {where} (tracking URI); is the tracking server running?"
        )
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    reason = redact_uri(lines[0] if lines else type(exc).__name__)
    if len(reason) > 300:
        reason = reason[:297] + "..."
    return TrackingError(f"MLflow at {where} could not {action}: {reason}")


@contextlib.contextmanager
def _translated(uri: str, action: str) -> Iterator[None]:
    """Let MLflow's failures out only as :class:`TrackingError` (one line, no secrets)."""
    import requests
    import sqlalchemy.exc
    from mlflow.exceptions import MlflowException

    try:
        yield
    except LabelloopError:
        raise
    except (
        MlflowException,
        requests.RequestException,
        sqlalchemy.exc.SQLAlchemyError,
        OSError,
    ) as exc:
        raise _tracking_error(exc, uri, action) from exc


def _at_boundary(action: str) -> Callable[[Callable[_P, _R]], Callable[_P, _R]]:
    """Decorate a :class:`Tracker` method so MLflow's failures leave it as TrackingError."""

    def decorate(method: Callable[_P, _R]) -> Callable[_P, _R]:
        @functools.wraps(method)
        def wrapper(*args: _P.args, **kwargs: _P.kwargs) -> _R:
            tracker = args[0]
            with _translated(getattr(tracker, "uri", "?"), action):
                return method(*args, **kwargs)

        return wrapper

    return decorate


def quiet_mlflow(log_file: Path) -> None:
    """Send MLflow's log lines and warnings to ``log_file``; turn its progress bars off.

    A command's output is labelloop's own. ``labelloop --verbose`` (which sets
    ``LABELLOOP_VERBOSE=1``) leaves MLflow's output as MLflow prints it.
    """
    import logging

    if os.environ.get("LABELLOOP_VERBOSE") == "1":
        return
    os.environ["MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR"] = "false"
    logger = logging.getLogger("mlflow")
    target = str(log_file.resolve())
    if any(getattr(h, "baseFilename", None) == target for h in logger.handlers):
        return
    log_file.parent.mkdir(parents=True, exist_ok=True)
    handler = logging.FileHandler(target, encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    for old in list(logger.handlers):
        logger.removeHandler(old)
        if isinstance(old, logging.FileHandler):  # another work dir's log, in this process
            old.close()
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False


@contextlib.contextmanager
def _mlflow_output() -> Iterator[None]:
    """Keep what MLflow prints inside the block out of the command's output.

    Its warnings and what it prints ("Successfully registered model ...", progress
    bars, a tracking server's "View run ... at" links) go to MLflow's log file, or to
    the terminal with ``--verbose``.
    """
    import io
    import logging
    import warnings

    if os.environ.get("LABELLOOP_VERBOSE") == "1":
        yield
        return
    printed = io.StringIO()
    with (
        warnings.catch_warnings(record=True) as caught,
        contextlib.redirect_stderr(printed),
        contextlib.redirect_stdout(printed),  # "View run ... at: <server>" after each run
    ):
        warnings.simplefilter("always")
        yield
    logger = logging.getLogger("mlflow")
    for item in caught:
        logger.warning("%s: %s", item.category.__name__, item.message)
    for line in printed.getvalue().splitlines():
        if line.strip():
            logger.info("%s", line.strip())


def _point_mlflow_at(uri: str) -> Any:
    """Point MLflow's process-wide (fluent) API at ``uri``, leaving the environment alone.

    ``mlflow.set_tracking_uri`` also writes ``$MLFLOW_TRACKING_URI``; left there, every
    later project in the same process would take it for the user's setting and log into
    the first project's store (with artifacts under ``./mlruns``).
    """
    import mlflow

    before = os.environ.get("MLFLOW_TRACKING_URI")
    mlflow.set_tracking_uri(uri)
    if before is None:
        os.environ.pop("MLFLOW_TRACKING_URI", None)
    else:
        os.environ["MLFLOW_TRACKING_URI"] = before
    return mlflow


@dataclass
class CycleLog:
    """Everything one cycle sends to MLflow."""

    cycle: int
    params: Mapping[str, Any]
    metrics: Mapping[str, float]
    step: int
    chosen: Sequence[Mapping[str, Any]]
    confusion: Any | None
    labels: Sequence[str]
    curve: Sequence[tuple[int, float]]
    labels_hash: str
    package: ModelPackage
    train_labels: Mapping[str, str] = field(default_factory=dict)
    eval_labels: Mapping[str, str] = field(default_factory=dict)
    version_tags: Mapping[str, str] = field(default_factory=dict)
    source: str | None = None

    def plots(self) -> CyclePlots:
        """Return what this cycle's plots are drawn from."""
        return CyclePlots(self.cycle, self.labels, self.curve, self.confusion, self.labels_hash)


@dataclass
class CyclePlots:
    """What a cycle's plots are drawn from, kept so a resumed cycle can draw them too."""

    cycle: int
    labels: Sequence[str]
    curve: Sequence[tuple[int, float]]
    confusion: Any | None
    labels_hash: str

    def to_json(self) -> str:
        """Serialise for the state store (the confusion matrix as nested lists)."""
        import json

        confusion = None if self.confusion is None else np.asarray(self.confusion).tolist()
        return json.dumps(
            {
                "cycle": self.cycle,
                "labels": list(self.labels),
                "curve": [list(point) for point in self.curve],
                "confusion": confusion,
                "labels_hash": self.labels_hash,
            }
        )

    @classmethod
    def from_json(cls, text: str) -> CyclePlots:
        """Read what :meth:`to_json` wrote.

        Examples
        --------
        >>> plots = CyclePlots(3, ["a", "b"], [(10, 0.5)], [[1, 0], [0, 1]], "h")
        >>> CyclePlots.from_json(plots.to_json()).curve
        [(10, 0.5)]
        """
        import json

        data = json.loads(text)
        confusion = data["confusion"]
        return cls(
            cycle=int(data["cycle"]),
            labels=list(data["labels"]),
            curve=[(int(n), float(v)) for n, v in data["curve"]],
            confusion=None if confusion is None else np.asarray(confusion),
            labels_hash=str(data["labels_hash"]),
        )


class Tracker:
    """Logs cycles of one project to MLflow and keeps the ``champion`` alias honest.

    Parameters
    ----------
    workdir : Path
        Holds ``mlflow.db`` and the artifacts unless ``MLFLOW_TRACKING_URI`` is set.
    project : str
        Experiment ``labelloop/<project>``; registered model ``labelloop-<project>``.
    """

    def __init__(self, workdir: Path, project: str) -> None:
        self.uri = tracking_uri(workdir)
        for name, value in HTTP_DEFAULTS.items():
            os.environ.setdefault(name, value)
        self.log_file = workdir / "logs" / "mlflow.log"
        self.experiment_name = f"labelloop/{project}"
        self.model_name = f"labelloop-{project}"
        with _translated(self.uri, "open the experiment"):
            self._open(workdir, project)

    def _open(self, workdir: Path, project: str) -> None:
        mlflow = _point_mlflow_at(self.uri)
        quiet_mlflow(self.log_file)
        self.mlflow = mlflow
        self.client = mlflow.MlflowClient(self.uri)
        found = self.client.get_experiment_by_name(self.experiment_name)
        if found is None:
            location = None
            if "MLFLOW_TRACKING_URI" not in os.environ:
                location = (workdir / "mlartifacts" / project).resolve().as_uri()
            self.experiment_id = self.client.create_experiment(
                self.experiment_name, artifact_location=location
            )
        else:
            self.experiment_id = found.experiment_id

    @_at_boundary("load the model")
    def load_model(self, model_uri: str) -> Any:
        """Load a logged model as MLflow serves it: raw rows in, probabilities out.

        ``model_uri`` is ``runs:/<run id>/model`` or ``models:/<name>@<alias>`` or
        ``models:/<name>/<version>``.
        """
        with _mlflow_output():
            return _point_mlflow_at(self.uri).pyfunc.load_model(model_uri)

    @_at_boundary("find the model version")
    def model_uri(self, which: str = "champion") -> str:
        """Return the ``models:/`` URI of a registered version, checking that it exists.

        Parameters
        ----------
        which : str
            ``champion`` (the best so far), ``challenger`` (the newest) or a version number.

        Raises
        ------
        ModelNotFoundError
            When no version answers to ``which``.
        """
        from mlflow.exceptions import MlflowException

        from labelloop.annotate.errors import ModelNotFoundError

        try:
            if which.isdigit():
                self.client.get_model_version(self.model_name, which)
                return f"models:/{self.model_name}/{which}"
            self.client.get_model_version_by_alias(self.model_name, which)
        except MlflowException as exc:
            if _unreachable(exc):
                raise
            known = sorted(int(v.version) for v in self._search_versions())
            listed = ", ".join(map(str, known)) if known else "none yet (run `labelloop cycle`)"
            raise ModelNotFoundError(
                f"model {self.model_name!r} has no version {which!r}; versions: {listed}"
            ) from None
        return f"models:/{self.model_name}@{which}"

    def _search_versions(self) -> list[Any]:
        return list(self.client.search_model_versions(f"name = '{self.model_name}'"))

    @_at_boundary("load the logged model")
    def load_classifier(self, run_id: str) -> Any:
        """Load the classifier a run logged, which scores feature rows (for a resume)."""
        loaded = self.load_model(f"runs:/{run_id}/model")
        return loaded.unwrap_python_model().pipeline[-1]

    @_at_boundary("discard the unfinished run")
    def discard_unfinished(self, cycle: int) -> None:
        """Delete runs (and their model versions) of a cycle that crashed before completing.

        A run killed while logging is still ``RUNNING``: it is ended as ``KILLED`` before
        it is deleted, and so is one deleted earlier but left running.
        """
        from mlflow.entities import ViewType

        runs = self.client.search_runs(
            [self.experiment_id],
            filter_string=f"tags.`labelloop.cycle` = '{cycle}'",
            run_view_type=ViewType.ALL,
        )
        for run in runs:
            run_id, running = run.info.run_id, run.info.status == "RUNNING"
            if run.info.lifecycle_stage == "deleted":
                if not running:
                    continue
                self.client.restore_run(run_id)  # a deleted run cannot be ended
            for version in self.client.search_model_versions(f"run_id = '{run_id}'"):
                self.client.delete_model_version(version.name, version.version)
                self._restore_champion(version)
            if running:
                with _mlflow_output():  # a tracking server's "View run ... at" lines
                    self.client.set_terminated(run_id, "KILLED")
            self.client.delete_run(run_id)

    @_at_boundary("log the cycle")
    def log_cycle(self, entry: CycleLog, *, metric: str) -> tuple[str, str, bool]:
        """Log one cycle; register its model; move ``challenger``, and ``champion`` if better.

        Returns
        -------
        (run id, registered version, became champion)
        """
        mlflow = _point_mlflow_at(self.uri)  # another project may have moved it
        package = entry.package
        with tempfile.TemporaryDirectory() as folder, _mlflow_output():
            pipeline_file = Path(folder) / "pipeline.joblib"
            import joblib

            joblib.dump(package.pipeline, pipeline_file)
            with mlflow.start_run(
                experiment_id=self.experiment_id, run_name=f"cycle-{entry.cycle:04d}"
            ) as run:
                mlflow.set_tags(
                    {
                        "labelloop.cycle": str(entry.cycle),
                        "labelloop.labels_hash": entry.labels_hash,
                    }
                )
                mlflow.log_params({k: str(v)[:500] for k, v in entry.params.items()})
                mlflow.log_metrics(dict(entry.metrics), step=entry.step)
                failpoint("logging")
                self._log_inputs(entry)
                info = self._log_model(mlflow, package, pipeline_file)
                version = str(info.registered_model_version)
        for key, value in {**entry.version_tags, "cycle": str(entry.cycle)}.items():
            self.client.set_model_version_tag(self.model_name, version, key, str(value))
        self.client.set_registered_model_alias(self.model_name, "challenger", version)
        improved = self._maybe_promote(
            version, float(entry.metrics.get(metric, float("nan"))), metric
        )
        return run.info.run_id, version, improved

    def _log_model(self, mlflow: Any, package: ModelPackage, pipeline_file: Path) -> Any:
        return mlflow.pyfunc.log_model(
            name="model",
            registered_model_name=self.model_name,
            **package.mlflow_arguments(pipeline_file),
        )

    def _log_inputs(self, entry: CycleLog) -> None:
        """Log the labelled snapshot (digest: the labels hash) and the evaluation set."""
        import pandas as pd
        from mlflow.data.pandas_dataset import from_pandas

        for context, labels, digest in (
            ("training", entry.train_labels, entry.labels_hash),
            ("evaluation", entry.eval_labels, labels_digest(entry.eval_labels)),
        ):
            if not labels:
                continue
            frame = pd.DataFrame({"item_id": list(labels), "label": list(labels.values())})
            where = {"source": entry.source} if entry.source else {}
            dataset = from_pandas(
                frame,
                **where,
                targets="label",
                name=f"{self.experiment_name.removeprefix('labelloop/')}-{context}",
                digest=digest,
            )
            self.mlflow.log_input(dataset, context=context)

    @_at_boundary("finish the cycle's run")
    def finish_cycle(
        self,
        run_id: str,
        entry: CycleLog | CyclePlots | None,
        chosen: Sequence[Mapping[str, Any]],
        seconds: Mapping[str, float],
        step: int,
        extra: Mapping[str, float] | None = None,
    ) -> dict[str, float]:
        """Add what is not needed before the push: plots, the chosen items, phase times.

        Runs after the next batch is in Label Studio, so annotators never wait for it.
        ``entry`` (the cycle's log, or the :class:`CyclePlots` a resumed cycle kept)
        gives the plots; without it only the chosen items and the timings are added.
        ``extra`` metrics (routing, corrections) are logged at ``step`` with the timings.

        Returns
        -------
        dict
            ``render`` (seconds drawing plots) and ``mlflow`` (seconds in MLflow calls).
        """
        import time

        from mlflow.entities import Metric

        timings = {"render": 0.0, "mlflow": 0.0}
        with tempfile.TemporaryDirectory() as folder:
            start = time.perf_counter()
            path = Path(folder)
            keys = ["item_id", "rank", "score", "predicted", "confidence", "route"]
            lines = [",".join(keys)] + [",".join(_csv(row.get(k)) for k in keys) for row in chosen]
            (path / "chosen_items.csv").write_text("\n".join(lines) + "\n")
            if entry is not None:
                self._write_artifacts(path, entry)
            timings["render"] = time.perf_counter() - start
            start = time.perf_counter()
            stamp = int(1000 * time.time())
            metrics = [Metric(f"seconds_{k}", float(v), stamp, step) for k, v in seconds.items()]
            metrics.append(Metric("seconds_cycle", float(sum(seconds.values())), stamp, step))
            metrics += [Metric(k, float(v), stamp, step) for k, v in (extra or {}).items()]
            self.client.log_batch(run_id, metrics=metrics)
            self.client.log_artifacts(run_id, folder)
            timings["mlflow"] = time.perf_counter() - start
        return timings

    @_at_boundary("find the champion")
    def champion(self) -> tuple[str, str] | None:
        """Return the champion's version (``<model>:v<n>``, as cycles name it) and run id.

        ``None`` while no version holds the ``champion`` alias.
        """
        from mlflow.exceptions import MlflowException

        try:
            found = self.client.get_model_version_by_alias(self.model_name, "champion")
        except MlflowException as exc:  # nothing registered yet: a RestException
            if _unreachable(exc):
                raise
            return None
        return f"{self.model_name}:v{found.version}", str(found.run_id)

    @_at_boundary("list the model versions")
    def versions(self) -> list[dict[str, Any]]:
        """Return the registered versions with their cycle, labels and metrics, oldest first."""
        from mlflow.exceptions import MlflowException

        try:
            champion = self.client.get_model_version_by_alias(self.model_name, "champion").version
        except MlflowException:  # MLflow raises RestException when nothing is registered yet
            champion = None
        out = []
        for version in self.client.search_model_versions(f"name = '{self.model_name}'"):
            run = self.client.get_run(str(version.run_id))
            history = self.client.get_metric_history(run.info.run_id, "macro_f1")
            out.append(
                {
                    "version": int(version.version),
                    "cycle": run.data.tags.get("labelloop.cycle", "?"),
                    "labels": history[0].step if history else "?",
                    "accuracy": run.data.metrics.get("accuracy", float("nan")),
                    "macro_f1": run.data.metrics.get("macro_f1", float("nan")),
                    "champion": version.version == champion,
                }
            )
        return sorted(out, key=lambda v: v["version"])

    @_at_boundary("log metrics")
    def log_metrics(self, run_id: str, metrics: Mapping[str, float], step: int) -> None:
        """Add metrics to an existing run (e.g. corrections of the guesses it made)."""
        import time

        from mlflow.entities import Metric

        stamp = int(1000 * time.time())
        self.client.log_batch(
            run_id, metrics=[Metric(k, float(v), stamp, step) for k, v in metrics.items()]
        )

    @_at_boundary("attach the report")
    def log_report(self, run_id: str, path: Path) -> None:
        """Attach a report to a run."""
        self.client.log_artifact(run_id, str(path))

    def _maybe_promote(self, version: str, value: float, metric: str) -> bool:
        if not np.isfinite(value):
            return False
        from mlflow.exceptions import MlflowException

        try:
            champion = self.client.get_model_version_by_alias(self.model_name, "champion")
        except MlflowException:  # no champion yet (MLflow raises RestException)
            champion = None
        if champion is not None and champion.run_id is not None:
            best = self.client.get_run(champion.run_id).data.metrics.get(metric)
            if best is not None and value <= best:
                return False
        if champion is not None:
            # Remembered on the new version, so a cycle discarded after this point can
            # hand the alias back (deleting a version drops its aliases).
            self.client.set_model_version_tag(
                self.model_name, version, "labelloop.previous_champion", str(champion.version)
            )
        self.client.set_registered_model_alias(self.model_name, "champion", version)
        return True

    def _restore_champion(self, deleted: Any) -> None:
        """Give ``champion`` back to the version it had before ``deleted`` took it."""
        previous = (deleted.tags or {}).get("labelloop.previous_champion")
        if previous is None:
            return
        from mlflow.exceptions import MlflowException

        try:
            self.client.get_model_version_by_alias(self.model_name, "champion")
            return  # the alias survived: it was not on the deleted version
        except MlflowException:  # no champion now (MLflow raises RestException)
            pass
        from mlflow.exceptions import MlflowException

        try:
            self.client.get_model_version(self.model_name, previous)
        except MlflowException:  # that version is gone too (MLflow raises RestException)
            return
        self.client.set_registered_model_alias(self.model_name, "champion", previous)

    def _write_artifacts(self, folder: Path, entry: CycleLog | CyclePlots) -> None:
        import json

        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        (folder / "labels_hash.txt").write_text(entry.labels_hash + "\n")
        (folder / "learning_curve.json").write_text(json.dumps([list(p) for p in entry.curve]))
        if entry.curve:
            fig, axis = plt.subplots(figsize=(6, 4), constrained_layout=True)
            x, y = zip(*entry.curve, strict=True)
            axis.plot(x, y, "o-")
            axis.set_xlabel("labels")
            axis.set_ylabel("evaluation macro-F1")
            axis.set_title(f"Learning curve up to cycle {entry.cycle}")
            axis.grid(alpha=0.3)
            fig.savefig(folder / "learning_curve.png", dpi=100)
            plt.close(fig)
        if entry.confusion is not None:
            from sklearn.metrics import ConfusionMatrixDisplay

            fig, axis = plt.subplots(figsize=(6, 5), constrained_layout=True)
            ConfusionMatrixDisplay(entry.confusion, display_labels=list(entry.labels)).plot(
                ax=axis, colorbar=False, xticks_rotation=45
            )
            axis.set_title(f"Confusion matrix, cycle {entry.cycle}")
            fig.savefig(folder / "confusion_matrix.png", dpi=100)
            plt.close(fig)


def labels_digest(labels: Mapping[str, str]) -> str:
    """Short hash of ``item id -> label`` pairs: the digest of a labelled snapshot.

    Examples
    --------
    >>> labels_digest({"b": "x", "a": "y"}) == labels_digest({"a": "y", "b": "x"})
    True
    """
    import hashlib
    import json

    digest = hashlib.sha256(json.dumps(sorted(labels.items())).encode())
    return digest.hexdigest()[:16]


def _csv(value: Any) -> str:
    text = "" if value is None else str(value)
    return f'"{text}"' if "," in text else text
