"""Reading an existing Label Studio project's config and tasks (no server needed)."""

from __future__ import annotations

import base64
import io
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from click.testing import CliRunner

from labelloop.annotate.cli.main import main
from labelloop.annotate.errors import ConfigError
from labelloop.annotate.labelstudio.adopt import read_shape, task_rows

CHOICES = '<Choice value="spam"/><Choice value="ham"/>'


@pytest.mark.parametrize(
    ("xml", "message"),
    [
        ('<View><Text name="t" value="$text"/></View>', "has no <Choices> tag"),
        (
            '<View><Text name="t" value="$text"/><Choices name="c" toName="t">'
            '<Choice value="only"/></Choices></View>',
            "has 1 choice(s); need 2",
        ),
        (
            f'<View><Audio name="a" value="$audio"/><Choices name="c" toName="a">{CHOICES}'
            "</Choices></View>",
            "its choices label a <Audio>",
        ),
        (
            f'<View><Text name="t" value="$text"/><Choices name="c" toName="x">{CHOICES}'
            "</Choices></View>",
            "labels 'x', which no tag defines",
        ),
        (
            f'<View><Text name="t" value="fixed"/><Choices name="c" toName="t">{CHOICES}'
            "</Choices></View>",
            "shows 'fixed', not a task data field",
        ),
        ("<View><Text", "not valid XML"),
    ],
)
def test_configs_labelloop_cannot_run_are_refused_in_one_line(xml: str, message: str) -> None:
    with pytest.raises(ConfigError, match=r"^project 7: ") as caught:
        read_shape(xml, where="project 7")
    assert message in str(caught.value) and "\n" not in str(caught.value)


def test_an_alias_is_the_label_annotations_carry() -> None:
    xml = (
        '<View><Text name="t" value="$text"/><Choices name="c" toName="t">'
        '<Choice value="Positive review" alias="pos"/><Choice value="neg"/></Choices></View>'
    )
    assert read_shape(xml).labels == ("pos", "neg")


def test_several_choices_and_a_table_are_read() -> None:
    xml = (
        '<View><Header value="Rate"/><Table name="row" value="$measures"/>'
        f'<Choices name="kind" toName="row" choice="multiple">{CHOICES}</Choices></View>'
    )
    shape = read_shape(xml)
    assert (shape.kind, shape.field, shape.multiple) == ("tabular", "measures", True)


def test_tasks_become_rows_and_unusable_ones_are_left_out_with_the_reason() -> None:
    text = read_shape(
        f'<View><Text name="t" value="$body"/><Choices name="c" toName="t">{CHOICES}'
        "</Choices></View>"
    )
    rows = task_rows([(1, {"body": "win cash"}), (2, {"body": "  "}), (3, {"other": 1})], text)
    assert rows.rows == [{"item_id": "ls-1", "text": "win cash"}]
    assert rows.left_out == {2: "empty 'body'", 3: "no 'body' in its data"}
    assert rows.summary() == "2 task(s) left out (first: task 2, empty 'body')"

    table = read_shape(
        f'<View><Table name="r" value="$m"/><Choices name="c" toName="r">{CHOICES}</Choices></View>'
    )
    tasks: list[tuple[int, dict[str, Any]]] = [
        (5, {"m": {"a": 1, "b": "2.5", "note": "x", "item_id": 9}}),
        (6, {"m": {"a": 3}}),  # no b: its columns differ from the first table's
    ]
    rows = task_rows(tasks, table)
    assert rows.rows == [{"item_id": "ls-5", "a": 1.0, "b": 2.5}]
    assert rows.left_out == {6: "no number in column 'b'"}


def test_images_become_grey_thumbnails_and_unreadable_ones_are_left_out() -> None:
    from PIL import Image

    picture = np.zeros((40, 40), dtype=np.uint8)
    picture[:, 20:] = 255  # dark left half, white right half
    buffer = io.BytesIO()
    Image.fromarray(picture).save(buffer, format="PNG")
    uri = "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()
    image = read_shape(
        f'<View><Image name="i" value="$img"/><Choices name="c" toName="i">{CHOICES}'
        "</Choices></View>"
    )
    fetched: list[str] = []

    def fetch(address: str) -> bytes:
        fetched.append(address)
        return b"not an image"

    rows = task_rows(
        [(1, {"img": uri}), (2, {"img": "/data/upload/1/x.png"})], image, fetch=fetch, image_side=4
    )
    grey = [v for k, v in rows.rows[0].items() if k.startswith("px_")]
    thumbnail = np.array(grey).reshape(4, 4)
    assert np.allclose(thumbnail[:, 0], 0.0) and np.allclose(thumbnail[:, 3], 1.0)
    assert (np.diff(thumbnail, axis=1) >= 0).all()  # dark to light, left to right
    assert fetched == ["/data/upload/1/x.png"] and "unreadable" in rows.left_out[2]


def test_init_without_a_server_fails_in_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LABEL_STUDIO_URL", "http://127.0.0.1:9")
    monkeypatch.setenv("LABEL_STUDIO_API_KEY", "secret-token-value")
    result = CliRunner().invoke(
        main, ["init", "p", "--label-studio-project", "3", "--configs-dir", str(tmp_path)]
    )
    assert result.exit_code != 0
    assert result.stderr.count("\n") == 1 and "cannot reach Label Studio" in result.stderr
    assert "secret-token-value" not in result.output
    assert not list(tmp_path.iterdir())  # nothing written


def test_init_needs_one_source() -> None:
    result = CliRunner().invoke(main, ["init", "p"])
    assert result.exit_code == 2
    assert "give --data FILE or --label-studio-project ID" in result.output
