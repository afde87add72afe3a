"""``helpers.figures``: a figure shown with its description (the PNG's ``Description`` chunk, the book's alt text),
the colour-vision-safe palette, and every interactive figure's description of its static image (``describe``)."""

from __future__ import annotations

import base64
import io

import matplotlib
import matplotlib.pyplot as plt
import numpy as np
import PIL.Image
import pytest
from IPython.core.interactiveshell import InteractiveShell
from IPython.display import display
from IPython.utils.capture import capture_output
from matplotlib.figure import Figure
from test_widgets_static import _widget_classes

import helpers
from helpers import data, figures, plots, sweeps
from helpers.training import History, SeedRuns, Setting
from helpers.widgets import STATIC_ENV, LivePlot
from helpers.widgets.clipping import CliffDescent, ClippingGeometry
from helpers.widgets.lab import ClippingLab
from helpers.widgets.recurrence import MatrixRecurrence, ScalarRecurrence
from helpers.widgets.rnn import GradientNormsPlot
from helpers.widgets.thresholds import ThresholdExplorer

ALT = "A line rising from 0 to 3 over x = 0 to 3: the slope is ‖g‖ = 1.0, ρ = 1.1."


def _figure() -> Figure:
    figure = Figure(figsize=(3, 2))
    figure.subplots().plot([0, 1, 2, 3])
    return figure


def _png(figure: Figure, **kwargs) -> bytes:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", **kwargs)
    return buffer.getvalue()


def test_alt_text_round_trips_in_utf8_and_pil_reads_it():
    png = _png(_figure())
    assert figures.alt_text(png) is None
    described = figures.with_alt(png, ALT)
    assert figures.alt_text(described) == ALT
    image = PIL.Image.open(io.BytesIO(described))
    assert image.text[figures.ALT_KEY] == ALT  # a standard iTXt chunk, not a private format
    original = np.asarray(PIL.Image.open(io.BytesIO(png)))
    np.testing.assert_array_equal(np.asarray(image), original)  # the pixels untouched


def test_a_new_description_replaces_the_old_one_and_tEXt_is_read_too():
    latin = _png(
        _figure(), metadata={figures.ALT_KEY: "An old description written by matplotlib as tEXt."}
    )
    assert figures.alt_text(latin) == "An old description written by matplotlib as tEXt."
    replaced = figures.with_alt(latin, ALT)
    assert figures.alt_text(replaced) == ALT
    assert PIL.Image.open(io.BytesIO(replaced)).text[figures.ALT_KEY] == ALT


@pytest.mark.parametrize(
    ("alt", "error", "match"),
    [
        (None, TypeError, "alt must be a str"),
        (b"bytes are not a description of anything at all.", TypeError, "alt must be a str"),
        ("", ValueError, "at least one sentence"),
        ("A figure.", ValueError, "at least one sentence"),
        ("the figure shows the loss over training steps without a stop", ValueError, "full stop"),
    ],
)
def test_an_alt_text_is_at_least_a_sentence(alt, error, match):
    with pytest.raises(error, match=match):
        figures.check_alt(alt)
    with pytest.raises(error, match=match):
        figures.show(_figure(), alt)


def test_only_png_bytes_are_accepted():
    with pytest.raises(ValueError, match="png must be the bytes of a PNG"):
        figures.alt_text(b"GIF89a")
    with pytest.raises(TypeError, match="fig must be a matplotlib Figure"):
        figures.figure_png(np.zeros((2, 2)), ALT)


def test_show_displays_the_png_with_its_description_and_closes_a_pyplot_figure():
    InteractiveShell.instance()
    fig, ax = plt.subplots()
    ax.plot([1, 2])
    number = fig.number
    with capture_output() as captured:
        helpers.show(fig, alt=ALT)
    assert not plt.fignum_exists(number)  # the inline backend will not show it again
    (output,) = captured.outputs
    png = base64.b64decode(output.data["image/png"])
    assert figures.alt_text(png) == ALT and output.data["text/plain"] == ALT
    with capture_output() as captured:
        helpers.show(_figure(), alt=ALT)  # a Figure made without pyplot (helpers.plots)
    assert figures.alt_text(base64.b64decode(captured.outputs[0].data["image/png"])) == ALT


def test_the_palette_is_matplotlibs_colour_cycle():
    assert matplotlib.rcParams["axes.prop_cycle"].by_key()["color"] == list(figures.PALETTE)
    assert (
        matplotlib.colors.to_hex("C3") == figures.PALETTE[3].lower()
    )  # "C3" is the red of the figures' code


def test_every_widget_class_describes_its_figure():
    for cls in _widget_classes():
        assert cls.describe is not LivePlot.describe, f"{cls.__name__} has no describe()"


@pytest.fixture(scope="module")
def train_data():
    return data.load_fashion_mnist()[0]


WIDGETS = {
    "ScalarRecurrence": (
        lambda _: ScalarRecurrence(w=1.1, steps=100),
        ["w = 1.10", "T = 100", "1.38e+04"],
    ),
    "MatrixRecurrence": (
        lambda _: MatrixRecurrence(rho=1.5, activation="tanh"),
        ["tanh", "ρ = 1.50"],
    ),
    "GradientNormsPlot": (
        lambda _: GradientNormsPlot(units=8, batch=4, length=20),
        ["SimpleRNN", "t = 1 to 20"],
    ),
    "ClippingGeometry": (
        lambda _: ClippingGeometry(length=2.5, angle=30.0, threshold=1.0),
        ["2.50", "c = 1.00"],
    ),
    "CliffDescent": (lambda _: CliffDescent(), ["40 steps", "ηc = 0.5"]),
    "ThresholdExplorer": (
        lambda _: ThresholdExplorer(np.random.default_rng(0).lognormal(size=200), percentile=90.0),
        ["200 recorded", "20 of 200 steps (10.0%)"],
    ),
    "ClippingLab": (
        lambda train: ClippingLab(train, steps=20, chunk=20, background=False, learning_rate=1.0),
        ["20 training steps", "final loss", "of steps clipped"],
    ),
}


@pytest.mark.parametrize("name", list(WIDGETS))
def test_static_image_carries_the_widgets_description(name, monkeypatch, request):
    make, expected = WIDGETS[name]
    train = request.getfixturevalue("train_data") if name == "ClippingLab" else None
    InteractiveShell.instance()
    monkeypatch.setenv(STATIC_ENV, "1")
    widget = make(train)
    with capture_output() as captured:
        display(widget)
    image = captured.outputs[0].data
    alt = figures.alt_text(base64.b64decode(image["image/png"]))
    assert alt == image["text/plain"] == widget.describe() == figures.check_alt(alt)
    for text in expected:
        assert text in alt, (text, alt)


# ------------------------------------------------------------------ helpers.plots: styles and descriptions (04, 05)


def _run(losses, diverged_at=None, setting=None) -> History:
    loss = np.asarray(losses, np.float32)
    zeros = np.zeros_like(loss)
    return History(
        setting or Setting(),
        loss,
        zeros,
        zeros + 1,
        zeros.astype(bool),
        diverged_at,
        len(loss),
        len(loss),
        0.0,
        (),
    )


def test_seed_runs_curves_differ_without_colour_and_their_description_has_the_final_losses():
    settings = (Setting("none"), Setting("global_norm", 1.0))
    histories = [
        [_run(np.full(60, 2.0)), _run(np.full(60, 1.0))],
        [_run(np.full(60, 0.5)), _run([0.5] * 10 + [np.inf], diverged_at=10)],
    ]
    runs = SeedRuns(settings, (0, 1), histories)
    figure = plots.plot_seed_runs(runs, labels=["none", "clipped"], window=5)
    lines = [
        line
        for line in figure.axes[0].get_lines()
        if line.get_label() in ("none", "clipped (1/2 diverged, ×)")
    ]
    assert len({(line.get_linestyle(), line.get_marker()) for line in lines}) == 2
    alt = plots.describe_seed_runs(runs, labels=["none", "clipped"], window=5)
    assert figures.check_alt(alt) == alt
    assert (
        "over 60 steps" in alt
        and "mean over 2 seeds" in alt
        and "running means over 5 steps" in alt
    )
    assert "none 1.5" in alt and "clipped 0.5 (1 of 2 seeds diverged)" in alt
    with pytest.raises(ValueError, match="labels must be a list with one entry per run"):
        plots.describe_seed_runs(runs, labels=["one"])
    with pytest.raises(TypeError, match="runs must be the SeedRuns"):
        plots.describe_seed_runs([histories])


def test_lr_sweep_description_names_each_methods_best():
    rates = (0.1, 1.0)
    curves = {"a": (2.0, 1.0), "b": (0.5, 3.0)}
    runs = {
        (k, lr): (_run(np.full(50, v)),) for k, vs in curves.items() for lr, v in zip(rates, vs)
    }
    sweep = sweeps.Sweep({k: Setting() for k in curves}, rates, runs)
    alt = plots.describe_lr_sweep(sweep)
    assert figures.check_alt(alt) == alt
    assert (
        "a at learning rate 1, final loss 1" in alt
        and "b at learning rate 0.1, final loss 0.5" in alt
    )
    assert "(0.1 to 1, log)" in alt and "0 runs diverged" in alt and "held-out" not in alt
    accuracy = {key: np.array([0.5]) for key in sweep.runs}
    assert "held-out accuracy 0.5" in plots.describe_lr_sweep(sweep, accuracy)
