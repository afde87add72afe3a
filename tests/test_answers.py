"""helpers.answers.folded: a solution's printed text and figures end up inside a closed <details>, nowhere else."""

import base64

import matplotlib.pyplot as plt
import pytest
from IPython.utils.capture import capture_output

from helpers.answers import fold_html, folded


@pytest.fixture(autouse=True)
def shell():
    """An IPython shell, as in a notebook kernel (display() then publishes instead of printing a repr)."""
    from IPython.core.interactiveshell import InteractiveShell

    yield InteractiveShell.instance()
    InteractiveShell.clear_instance()  # other tests run outside IPython, as before


def _shown(block):
    with capture_output(display=True) as outer:
        with folded():
            block()
    return outer


def test_printed_answer_is_only_inside_a_closed_details_element():
    outer = _shown(lambda: print("the answer is 42"))
    assert outer.stdout == ""
    (output,) = outer.outputs
    page = output.data["text/html"]
    assert page.startswith("<details><summary>Show the answer</summary>") and page.endswith(
        "</details>"
    )
    assert "<details open" not in page
    assert "the answer is 42" in page
    assert output.data["text/plain"] == "the answer is 42"  # what a terminal or a test reads


def test_figures_left_open_are_folded_as_png_and_closed():
    def draw():
        plt.figure()
        plt.plot([1, 2, 3])

    outer = _shown(draw)
    page = outer.outputs[0].data["text/html"]
    data = page.split('src="data:image/png;base64,')[1].split('"')[0]
    assert base64.b64decode(data).startswith(b"\x89PNG")
    assert plt.get_fignums() == []


def test_html_is_escaped():
    assert "&lt;b&gt;" in fold_html("<b>", [])


def test_bad_summary_names_the_argument():
    with pytest.raises(ValueError, match="summary"):
        with folded(summary=""):
            pass
