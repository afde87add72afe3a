"""Notebook 03's widgets, driven as a student would: set a control's value, the figure's data changes, and the
drawn geometry is right (norm-clipped length min(L, c) in the gradient's direction, value-clipped inside the box)."""

from __future__ import annotations

import numpy as np
import pytest
from matplotlib.text import Text

from helpers import descent
from helpers.widgets.clipping import CliffDescent, ClippingGeometry


def _tip(line) -> np.ndarray:
    return np.array([line.get_xdata()[-1], line.get_ydata()[-1]], dtype=float)


def _check_geometry(widget: ClippingGeometry) -> None:
    values = widget.values()
    length, angle, c = values["length"], values["angle"], values["threshold"]
    direction = np.array([np.cos(np.radians(angle)), np.sin(np.radians(angle))])
    raw, by_norm, by_value = (_tip(widget.vectors[name]) for name in ("raw", "norm", "value"))
    np.testing.assert_allclose(raw, length * direction, atol=1e-12)
    np.testing.assert_allclose(np.linalg.norm(by_norm), min(length, c), rtol=1e-9)
    np.testing.assert_allclose(by_norm, min(length, c) * direction, atol=1e-9)  # same direction
    assert np.all(np.abs(by_value) <= c + 1e-12)  # inside the box
    np.testing.assert_allclose(by_value, np.clip(raw, -c, c), atol=1e-12)
    cosine = raw @ by_value / (np.linalg.norm(raw) * np.linalg.norm(by_value))
    assert widget.result["angle_change"] == pytest.approx(
        np.degrees(np.arccos(min(cosine, 1.0))), abs=1e-6
    )
    # the circle and the box are drawn at the threshold
    np.testing.assert_allclose(np.hypot(widget.circle.get_xdata(), widget.circle.get_ydata()), c)
    assert np.max(np.abs(widget.box.get_xdata())) == pytest.approx(c)
    # the marker on the right panel sits on the curve at the current angle
    thetas, turns = widget.angle_curve.get_data()
    assert np.interp(angle, thetas, turns) == pytest.approx(widget.result["angle_change"], abs=0.5)


def test_geometry_follows_every_control():
    widget = ClippingGeometry(length=2.5, angle=30.0, threshold=1.0)
    widget.update()
    _check_geometry(widget)
    assert (
        widget.result["angle_change"] > 1.0
    )  # 30° is neither an axis nor a diagonal: value clipping turns g
    before = {name: _tip(line) for name, line in widget.vectors.items()}
    curve = widget.angle_curve.get_ydata().copy()

    widget.controls["angle"].value = 45.0
    _check_geometry(widget)
    assert widget.result["angle_change"] == pytest.approx(0.0, abs=1e-6)  # on the diagonal: no turn
    assert not np.allclose(_tip(widget.vectors["raw"]), before["raw"])

    widget.controls["length"].value = 0.5  # shorter than c: neither rule changes anything
    _check_geometry(widget)
    np.testing.assert_allclose(_tip(widget.vectors["norm"]), _tip(widget.vectors["raw"]))
    np.testing.assert_allclose(_tip(widget.vectors["value"]), _tip(widget.vectors["raw"]))
    assert not np.allclose(widget.angle_curve.get_ydata(), curve)

    widget.controls["angle"].value = 100.0
    widget.controls["threshold"].value = 0.2
    _check_geometry(widget)
    assert widget.result["lengths"]["norm"] == pytest.approx(0.2)
    assert widget.updates == 5


def test_geometry_value_clipping_tends_to_the_sign_vector_for_small_thresholds():
    widget = ClippingGeometry(length=4.0, angle=20.0, threshold=0.1)
    widget.update()
    _check_geometry(widget)
    np.testing.assert_allclose(widget.result["value"], [0.1, 0.1])  # the corner c·sign(g)
    assert widget.result["angle_change"] == pytest.approx(25.0, abs=1e-6)  # turned to 45°


def test_cliff_descent_follows_every_control():
    widget = CliffDescent(start=(5.5, -2.0), learning_rate=0.5, threshold=1.0, steps=40)
    widget.update()
    free, safe = widget.runs["unclipped"], widget.runs["clipped"]
    np.testing.assert_allclose(widget.free_line.get_xdata(), free.points[:, 0])
    np.testing.assert_allclose(widget.clipped_line.get_ydata(), safe.points[:, 1])
    expected = descent.descend_cliff((5.5, -2.0), 0.5, 40, threshold=1.0)
    np.testing.assert_allclose(safe.points, expected.points)
    assert free.step_sizes.max() > 100 * safe.step_sizes.max()  # the catapult
    assert (
        "the unclipped run ends OUTSIDE" in widget.message.value
    )  # says which run leaves the plot
    assert "the clipped run ends OUTSIDE" not in widget.message.value
    np.testing.assert_allclose(widget.limit_line.get_ydata(), 0.5)

    previous = widget.clipped_line.get_xydata().copy()
    widget.controls["threshold"].value = 0.2
    assert widget.runs["clipped"].step_sizes.max() <= 0.5 * 0.2 + 1e-12
    assert not np.array_equal(widget.clipped_line.get_xydata(), previous)

    previous = widget.free_line.get_xydata().copy()
    widget.controls["learning_rate"].value = 0.05
    assert not np.array_equal(widget.free_line.get_xydata(), previous)
    np.testing.assert_allclose(widget.limit_line.get_ydata(), 0.05 * 0.2)

    widget.controls["start_w"].value = 4.0
    widget.controls["start_b"].value = -1.0
    assert widget.start_marker.get_xdata()[0] == 4.0 and widget.start_marker.get_ydata()[0] == -1.0
    np.testing.assert_allclose(widget.free_line.get_xydata()[0], [4.0, -1.0])
    assert len(widget.free_steps.get_ydata()) == 40
    assert widget.updates == 5


def test_cliff_message_names_each_run_that_leaves_the_plot():
    widget = CliffDescent(start=(5.5, -2.0), learning_rate=1.5, threshold=5.0, steps=40)
    widget.update()
    for name in (
        "unclipped",
        "clipped",
    ):  # eta*c = 7.5 throws the clipped run out of the window too
        w, b = widget.runs[name].points[-1]
        assert (
            f"the {name} run ends OUTSIDE the plot at (w, b) = ({w:.3g}, {b:.3g})"
            in widget.message.value
        )
    widget.controls["threshold"].value = 1.0
    assert "the clipped run ends OUTSIDE" not in widget.message.value
    assert "the unclipped run ends OUTSIDE" in widget.message.value


def test_step_axis_follows_the_data_and_text_is_readable():
    widget = CliffDescent(start=(5.5, -2.0), learning_rate=0.5, threshold=1.0, steps=40)
    widget.update()
    for threshold in (1.0, 0.05, 5.0):
        widget.controls["threshold"].value = threshold
        values = np.concatenate([widget.free_steps.get_ydata(), widget.clipped_steps.get_ydata()])
        values = values[np.isfinite(values)]  # zero-length steps are not drawn (NaN)
        assert values.size and np.all(values > 0)
        low, high = widget.ax_steps.get_ylim()
        assert low <= values.min() and values.max() <= high
    geometry = ClippingGeometry(length=4.0, angle=20.0, threshold=0.1)
    geometry.update()
    low, high = geometry.ax_angle.get_ylim()
    assert (
        low <= geometry.angle_curve.get_ydata().min()
        and geometry.angle_curve.get_ydata().max() <= high
    )
    for w in (widget, geometry):
        w.png()  # draws ticks and legends
        texts = [t for t in w.figure.findobj(Text) if t.get_visible() and t.get_text().strip()]
        assert min(t.get_fontsize() for t in texts) * w.dpi / 72 >= 12  # px at 100 % zoom
        assert not any(
            "_{" in t.get_text() and "$" not in t.get_text() for t in texts
        )  # no plain-text braces


def test_controls_report_on_release():
    for widget in (ClippingGeometry(), CliffDescent()):
        for control in widget.controls.values():
            assert control.continuous_update is False


@pytest.mark.parametrize(
    ("make", "error", "match"),
    [
        (lambda: ClippingGeometry(length=0.0), ValueError, "length"),
        (lambda: ClippingGeometry(angle=400.0), ValueError, "angle"),
        (lambda: ClippingGeometry(threshold=-1.0), ValueError, "threshold"),
        (lambda: ClippingGeometry(threshold="1"), TypeError, "threshold"),
        (lambda: CliffDescent(learning_rate=100.0), ValueError, "learning_rate"),
        (lambda: CliffDescent(threshold=0.0), ValueError, "threshold"),
        (lambda: CliffDescent(steps=0), ValueError, "steps"),
        (lambda: CliffDescent(start=(20.0, 0.0)), ValueError, "start"),
        (lambda: CliffDescent(window=((2.0, 1.0), (0.0, 1.0))), ValueError, "window"),
    ],
)
def test_bad_arguments_are_refused(make, error, match):
    with pytest.raises(error, match=match):
        make()
