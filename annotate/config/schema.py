"""The YAML project config, validated into one frozen typed object."""

from __future__ import annotations

import contextlib
import importlib
import re
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from sklearn.base import BaseEstimator

from labelloop.annotate.errors import ConfigError
from labelloop.learners import COLD_START_STRATEGIES, STRATEGIES

__all__ = [
    "AdoptedProject",
    "DataConfig",
    "EvaluationConfig",
    "AuditConfig",
    "FeaturizerConfig",
    "HumanRule",
    "LabellingConfig",
    "ModelConfig",
    "ProjectConfig",
    "RoutingConfig",
    "ScoringConfig",
    "StoppingConfig",
    "build_estimator",
    "load_config",
]

_FROZEN = ConfigDict(frozen=True, extra="forbid")


class DataConfig(BaseModel):
    """Where the pool comes from and what each column means."""

    model_config = _FROZEN

    source: str = Field(
        description="a CSV/Parquet/JSONL file, a directory or glob of Parquet files "
        "(relative to the config), or bundled:NAME"
    )
    id_column: str | None = None
    text_column: str | None = None
    feature_columns: tuple[str, ...] = ()
    label_column: str | None = None
    categorical_columns: tuple[str, ...] = Field(
        (), description="feature columns of categories, one-hot encoded (numeric featurizer)"
    )
    missing_numbers: Literal["refuse", "median"] = Field(
        "refuse",
        description="gaps in feature_columns: refuse them, or fill each with its column's "
        "median and add a 0/1 column saying it was filled",
    )

    @model_validator(mode="after")
    def _has_inputs(self) -> DataConfig:
        if (
            not self.source.startswith("bundled:")
            and not self.text_column
            and not self.feature_columns
            and not self.categorical_columns
        ):
            raise ValueError("name text_column, feature_columns or categorical_columns")
        if self.categorical_columns and self.text_column:
            raise ValueError(
                "categorical_columns: a text pool uses its text_column alone; drop one of them"
            )
        return self


class FeaturizerConfig(BaseModel):
    """How items become feature vectors."""

    model_config = _FROZEN

    kind: Literal["tfidf", "hashing", "numeric", "embeddings"] = "tfidf"
    max_features: int | None = Field(20_000, gt=0)
    ngram_max: int = Field(1, ge=1, le=3)
    min_df: int = Field(2, ge=1)
    scale: bool = True


class ScoringConfig(BaseModel):
    """How a partitioned pool (a directory or glob of Parquet files) is scored."""

    model_config = _FROZEN

    engine: Literal["stream", "dask"] = Field(
        "stream",
        description="stream: one process, one row group at a time; dask: a Dask cluster",
    )
    scheduler: str | None = Field(
        None,
        description="a Dask scheduler address (else $DASK_SCHEDULER_ADDRESS, else a local "
        "cluster on 127.0.0.1)",
    )
    workers: int = Field(2, gt=0, description="worker processes of the local Dask cluster")


class ModelConfig(BaseModel):
    """The classifier: any scikit-learn-style class with ``predict_proba``."""

    model_config = _FROZEN

    estimator: str = "sklearn.linear_model.LogisticRegression"
    params: dict[str, Any] = Field(default_factory=lambda: {"max_iter": 1000})

    @field_validator("estimator")
    @classmethod
    def _importable(cls, value: str) -> str:
        _import_estimator(value)
        return value


class EvaluationConfig(BaseModel):
    """The held-out evaluation set, drawn at random once."""

    model_config = _FROZEN

    size: float = Field(0.2, gt=0, description="share of the pool (< 1) or a count (>= 1)")
    per_batch: int | None = Field(
        None, gt=0, description="evaluation items sent with each batch until all are sent"
    )
    metric: Literal["accuracy", "macro_f1"] = "macro_f1"


class StoppingConfig(BaseModel):
    """When to stop asking for labels."""

    model_config = _FROZEN

    rule: Literal["stabilizing_predictions", "overall_uncertainty", "none"] = (
        "stabilizing_predictions"
    )
    window: int = Field(3, ge=1)
    threshold: float = Field(0.99, gt=0, le=1)
    stop_set_size: int = Field(1_000, ge=10)
    new_labels_per_cycle: int = Field(10, ge=1, description="labels that start a cycle in `run`")


class LabellingConfig(BaseModel):
    """How items appear in Label Studio and which labels annotators choose from."""

    model_config = _FROZEN

    kind: Literal["auto", "text", "image", "tabular"] = "auto"
    labels: tuple[str, ...] | None = Field(None, min_length=2)
    multiple: bool = False
    image_side: int | None = Field(None, gt=0, description="pixels per side of square images")


class HumanRule(BaseModel):
    """Items whose ``column`` matches go to people, never to the machine.

    Give exactly one test: ``equals``, ``one_of``, ``matches`` (a regular expression
    searched in the value as text), ``at_least`` or ``at_most``.
    """

    model_config = _FROZEN

    column: str
    equals: str | int | float | bool | None = None
    one_of: tuple[str | int | float | bool, ...] | None = None
    matches: str | None = None
    at_least: float | None = None
    at_most: float | None = None

    @model_validator(mode="after")
    def _one_test(self) -> HumanRule:
        given = [
            k
            for k in ("equals", "one_of", "matches", "at_least", "at_most")
            if getattr(self, k) is not None
        ]
        if len(given) != 1:
            raise ValueError(
                f"rule on column {self.column!r}: give one of equals, one_of, matches, "
                f"at_least, at_most (got {', '.join(given) or 'none'})"
            )
        if self.matches is not None:
            try:
                re.compile(self.matches)
            except re.error as exc:
                raise ValueError(
                    f"matches: bad regular expression {self.matches!r} ({exc})"
                ) from None
        return self


class AuditConfig(BaseModel):
    """A share of the machine labels goes to annotators, to keep measuring their precision."""

    model_config = _FROZEN

    rate: float = Field(0.05, ge=0, le=1, description="share of machine labels audited")
    min_audits: int = Field(20, ge=1, description="audits needed before they can suspend")
    window: int = Field(100, ge=1, description="judge on the latest this many audits")
    per_cycle_when_suspended: int = Field(
        10, ge=0, description="fresh audits sent each cycle while suspended, to see recovery"
    )


class RoutingConfig(BaseModel):
    """Human in the loop: machine labels where the model is sure, people where it is not."""

    model_config = _FROZEN

    enabled: bool = False
    target_precision: float = Field(0.95, gt=0, lt=1)
    confidence: float = Field(0.95, gt=0.5, lt=1, description="of the one-sided lower bound")
    review_min_confidence: float = Field(
        0.5, ge=0, le=1, description="below this the model's guess is not shown: route human"
    )
    always_human_classes: tuple[str, ...] = ()
    always_human: tuple[HumanRule, ...] = ()
    audit: AuditConfig = AuditConfig()


class AdoptedProject(BaseModel):
    """An existing Label Studio project whose tasks are the pool (``init --label-studio-project``).

    Its tasks are labelled in place: picks are ranked in Label Studio's queue, never
    imported again; its annotations are the labels. ``data.source`` is the tasks' copy
    ``init`` wrote (new tasks are added to it by the next command that connects).
    """

    model_config = _FROZEN

    project_id: int = Field(gt=0)
    from_name: str = Field(min_length=1, description="the project's <Choices> tag name")
    to_name: str = Field(min_length=1, description="the object tag the choices label")
    field: str = Field(min_length=1, description="the task data key the object shows")
    image_side: int = Field(16, gt=0, le=64, description="thumbnail side for image features")


class ProjectConfig(BaseModel):
    """A labelloop project: data, features, model, strategy, budget, seed, stopping rule."""

    model_config = _FROZEN

    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
    data: DataConfig
    featurizer: FeaturizerConfig = FeaturizerConfig()
    model: ModelConfig = ModelConfig()
    strategy: str = "margin"
    exploration: float | Literal["auto"] = Field(
        0.0,
        description="share of each batch drawn at random once a model exists (0: none); "
        "auto: twice the model's overconfidence on the evaluation set, at most 0.5",
    )
    cold_start: str = "kmeans"
    batch_size: int = Field(10, gt=0)
    initial_size: int | None = Field(None, gt=0)
    budget: int = Field(500, gt=0)
    seed: int = Field(0, ge=0)
    evaluation: EvaluationConfig = EvaluationConfig()
    stopping: StoppingConfig = StoppingConfig()
    labelling: LabellingConfig = LabellingConfig()
    routing: RoutingConfig = RoutingConfig()
    scoring: ScoringConfig = ScoringConfig()
    label_studio: AdoptedProject | None = None
    base_dir: Path = Field(Path("."), exclude=True)

    @field_validator("strategy")
    @classmethod
    def _known_strategy(cls, value: str) -> str:
        if value not in STRATEGIES:
            raise ValueError(f"unknown strategy {value!r}; known: {', '.join(STRATEGIES)}")
        return value

    @field_validator("exploration", mode="before")
    @classmethod
    def _share_or_auto(cls, value: Any) -> float | str:
        if isinstance(value, str) and value.strip().lower() == "auto":
            return "auto"
        if isinstance(value, str):  # a quoted number
            with contextlib.suppress(ValueError):
                value = float(value)
        share = isinstance(value, int | float) and not isinstance(value, bool)
        if not share or not 0.0 <= value < 1.0:
            raise ValueError("should be a share in [0, 1) or auto")
        return float(value)

    @field_validator("cold_start")
    @classmethod
    def _known_cold_start(cls, value: str) -> str:
        if value not in COLD_START_STRATEGIES:
            raise ValueError(
                f"unknown cold start {value!r}; known: {', '.join(COLD_START_STRATEGIES)}"
            )
        return value

    def data_path(self) -> Path:
        """Return the data file, resolved against the config file's folder."""
        path = Path(self.data.source)
        return path if path.is_absolute() else (self.base_dir / path)


def load_config(path: str | Path) -> ProjectConfig:
    r"""Read and validate a YAML project config.

    Parameters
    ----------
    path : str or Path

    Returns
    -------
    ProjectConfig
        Relative data paths resolve against the config file's folder.

    Raises
    ------
    ConfigError
        One line naming the file and the first bad field, e.g.
        ``configs/x.yaml: batch_size: Input should be greater than 0 (got -5)``.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "wine.yaml"
    >>> text = "name: wine\ndata: {source: 'bundled:wine'}\nfeaturizer: {kind: numeric}\n"
    >>> _ = path.write_text(text)
    >>> load_config(path).strategy
    'margin'
    """
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path}: config file not found")
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: not valid UTF-8") from exc
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or "invalid YAML"
        raise ConfigError(f"{path}: cannot parse YAML{where} ({problem})") from exc
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: expected a mapping of settings, got {type(raw).__name__}")
    try:
        return ProjectConfig.model_validate({**raw, "base_dir": path.resolve().parent})
    except ValidationError as exc:
        raise ConfigError(f"{path}: {_first_error(exc)}") from None


def _first_error(exc: ValidationError) -> str:
    errors = exc.errors()
    first = errors[0]
    field = ".".join(str(p) for p in first["loc"]) or "(top level)"
    message = str(first["msg"]).removeprefix("Value error, ")
    if first["type"] == "extra_forbidden":
        message = "unknown field"
    elif first["type"] != "missing" and "input" in first and not isinstance(first["input"], dict):
        message += f" (got {first['input']!r})"
    more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
    return f"{field}: {message}{more}"


def _import_estimator(dotted: str) -> type[Any]:
    module_name, _, class_name = dotted.rpartition(".")
    if not module_name:
        raise ValueError(
            f"give a dotted path like sklearn.linear_model.LogisticRegression, got {dotted!r}"
        )
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ValueError(f"cannot import module {module_name!r} ({exc})") from None
    estimator_class = getattr(module, class_name, None)
    if not isinstance(estimator_class, type):
        raise ValueError(f"{module_name!r} has no class {class_name!r}")
    if not hasattr(estimator_class, "predict_proba") or not hasattr(estimator_class, "fit"):
        raise ValueError(f"{dotted} has no predict_proba; labelloop needs class probabilities")
    return estimator_class


def build_estimator(model: ModelConfig) -> BaseEstimator:
    """Instantiate the configured estimator, checking its parameters now, not at fit time.

    Raises
    ------
    ConfigError
        Naming ``model.params`` and the bad parameter.
    """
    estimator_class = _import_estimator(model.estimator)
    try:
        estimator = estimator_class(**model.params)
    except TypeError as exc:
        raise ConfigError(f"model.params: {exc}") from None
    validate = getattr(estimator, "_validate_params", None)
    if callable(validate):
        try:
            validate()
        except (ValueError, TypeError) as exc:
            first = str(exc).splitlines()[0]
            raise ConfigError(f"model.params: {first}") from None
    return estimator
