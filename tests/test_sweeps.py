"""helpers.sweeps (each method at its own best learning rate) and the trainer's pieces it stands on:
``train_runs``, ``held_out_accuracy``, ``verdict``, ``SeedRuns.join``/``verdict``. Short runs on the offline subset."""

from __future__ import annotations

import math

import numpy as np
import pytest

from helpers import data, plots, sweeps, training
from helpers.training import History, Setting

STEPS = 30
METHODS = {"none": Setting("none"), "clip": Setting("global_norm", 0.05)}
RATES = (0.01, 0.1, 1.0)


@pytest.fixture(scope="module")
def split():
    return data.load_fashion_mnist(scaled=False)


@pytest.fixture(scope="module")
def sweep(split):
    return sweeps.lr_sweep(
        METHODS, RATES, split[0], STEPS, seeds=2, best_seeds=3, chunk=STEPS, progress=False
    )


def test_every_method_at_every_rate_and_more_seeds_at_its_best(sweep):
    for label, method in METHODS.items():
        for lr in RATES:
            runs = sweep.runs[(label, lr)]
            expected = 3 if lr == sweep.best(label) else 2
            assert [h.setting.seed for h in runs] == list(range(expected))
            assert all(
                h.setting == Setting(method.mode, method.threshold, lr, seed=h.setting.seed)
                for h in runs
            )


def test_best_is_the_lowest_mean_over_the_grid_seeds(sweep):
    for label in METHODS:
        means = [np.mean([h.final_loss() for h in sweep.runs[(label, lr)][:2]]) for lr in RATES]
        assert sweep.best(label) == RATES[int(np.argmin(means))]
        np.testing.assert_allclose(sweep.means(label), means)


def test_runs_equal_train_seeds_and_reuse_trains_nothing_again(sweep, split, monkeypatch):
    alone = training.train_seeds(
        Setting("global_norm", 0.05, 0.1), split[0], STEPS, seeds=2, chunk=STEPS, progress=False
    )
    for a, b in zip(alone.histories[0], sweep.runs[("clip", 0.1)]):
        np.testing.assert_array_equal(a.loss, b.loss)  # one answer per setting
    monkeypatch.setattr(
        training, "_train", lambda *a, **k: pytest.fail("trained a run it was given")
    )
    again = sweeps.lr_sweep(
        METHODS, RATES, split[0], STEPS, seeds=2, best_seeds=3, reuse=[sweep.all()]
    )
    assert again.runs == sweep.runs


def test_train_runs_takes_known_runs_and_trains_the_rest(split):
    first = training.train_seeds(
        Setting("none", learning_rate=0.1), split[0], STEPS, seeds=2, chunk=STEPS, progress=False
    )
    wanted = [
        Setting("none", learning_rate=0.1, seed=1),
        Setting("none", learning_rate=0.1, seed=2),
    ]
    runs = training.train_runs(wanted, split[0], STEPS, reuse=[first], chunk=STEPS, progress=False)
    assert runs[0] is first.histories[0][1] and runs[1].setting == wanted[1]
    other_length = training.train_runs(
        wanted[:1], split[0], STEPS + 1, reuse=[first], progress=False
    )
    assert other_length[0] is not first.histories[0][1]  # runs of another length are not reused
    with pytest.raises(TypeError, match="reuse must hold SeedRuns or lists of History"):
        training.train_runs(wanted, split[0], STEPS, reuse=[[1.0]])


def _flat_run(loss: float) -> History:
    """A 50-step run whose loss is ``loss`` at every step (its final loss is ``loss``)."""
    return History(
        Setting(),
        np.full(50, loss, np.float32),
        np.zeros(50, np.float32),
        np.ones(50, np.float32),
        np.zeros(50, bool),
        None,
        50,
        50,
        0.0,
        (),
    )


def test_good_range_interpolates_in_log_learning_rate():

    losses = {0.01: 2.0, 0.1: 1.0, 1.0: 1.5, 10.0: math.inf}
    fake = sweeps.Sweep(
        {"m": Setting()}, tuple(losses), {("m", lr): (_flat_run(v),) for lr, v in losses.items()}
    )
    assert fake.best("m") == 0.1
    low, high = fake.good_range(
        "m", 0.25
    )  # 1.25 is crossed a quarter of the way down and half of the way up
    np.testing.assert_allclose([math.log10(low), math.log10(high)], [-1.25, -0.5])
    assert fake.good_range("m", 0.9) == pytest.approx(
        (0.01 * 10**0.1, 1.0)
    )  # stops before the diverged point
    assert "×" in fake.table(0.25) and "0.1" in fake.table(0.25)


def test_compare_is_paired_by_seed(sweep):
    text = sweep.compare("clip", "none")
    a, b = sweep.final_losses("clip"), sweep.final_losses("none")
    assert text == training.verdict(a[:3], b[:3])


def test_verdict_words():
    assert training.verdict([1, 2, 3], [2, 3, 4]) == "lower in 3/3 seeds"
    assert training.verdict([3, 4, 5], [2, 3, 4]) == "higher in 3/3 seeds"
    assert (
        training.verdict([1, 4, 3], [2, 3, 4])
        == "lower in 2/3 seeds only: not separable with 3 seeds"
    )
    assert training.verdict([1, 1], [1, 1]).startswith(
        "lower in 0/2 seeds only"
    )  # ties separate nothing
    assert training.verdict([math.inf, 1], [1, 2]).startswith(
        "lower in 1/2"
    )  # a diverged run never wins
    with pytest.raises(ValueError, match="one final loss per seed"):
        training.verdict([1, 2], [1, 2, 3])


def test_held_out_accuracy_matches_evaluate_and_marks_diverged_runs(sweep, split):
    (_, _), (x_test, y_test) = split
    runs = sweep.histories("clip")[:2]
    batched = training.held_out_accuracy(runs, x_test, y_test, batch_size=64)
    one_by_one = [training.evaluate(h, x_test, y_test)[1] for h in runs]
    np.testing.assert_allclose(batched, one_by_one, atol=1e-6)
    accuracy = sweep.held_out(x_test, y_test)
    assert set(accuracy) == set(sweep.runs) and accuracy[("clip", sweep.best("clip"))].shape == (3,)
    diverged = training.train(Setting(learning_rate=1e37), split[0], 20, progress=False)
    assert np.isnan(training.held_out_accuracy([diverged], x_test, y_test)).all()
    with pytest.raises(TypeError, match="SeedRuns or a non-empty sequence of History"):
        training.held_out_accuracy([], x_test, y_test)
    with pytest.raises(ValueError, match="labels"):
        training.held_out_accuracy(runs, x_test, np.full(len(x_test), 10))


def test_seed_runs_join_verdict_and_held_out_column(split):
    (x, y), (x_test, y_test) = split
    a = training.train_seeds(
        Setting("none", learning_rate=0.1), (x, y), STEPS, seeds=2, chunk=STEPS, progress=False
    )
    b = training.train_seeds(
        Setting("value", 0.01, 0.1), (x, y), STEPS, seeds=2, chunk=STEPS, progress=False
    )
    both = training.SeedRuns.join(a, b)
    assert both.settings == a.settings + b.settings and both.histories == a.histories + b.histories
    assert both.verdict(1, 0) == training.verdict(*both.final_losses()[[1, 0]])
    table = both.summary(held_out=training.held_out_accuracy(both, x_test, y_test))
    assert "held-out accuracy" in table.splitlines()[0]
    with pytest.raises(ValueError, match="share their seeds"):
        training.SeedRuns.join(
            a, training.train_seeds(Setting(), (x, y), 5, seeds=[3], progress=False)
        )
    with pytest.raises(ValueError, match="held_out must hold one accuracy per setting and seed"):
        both.summary(held_out=np.zeros(3))


def test_bad_input(split):
    with pytest.raises(TypeError, match="methods must be a non-empty dict"):
        sweeps.lr_sweep({}, RATES, split[0], STEPS)
    with pytest.raises(TypeError, match=r"methods\['x'\] must be a Setting"):
        sweeps.lr_sweep({"x": 1.0}, RATES, split[0], STEPS)
    with pytest.raises(ValueError, match="two or more increasing"):
        sweeps.lr_sweep(METHODS, (0.1, 0.01), split[0], STEPS)
    with pytest.raises(ValueError, match="learning_rates\\[0\\]"):
        sweeps.lr_sweep(METHODS, (-1.0, 0.1), split[0], STEPS)
    with pytest.raises(ValueError, match="best_seeds"):
        sweeps.lr_sweep(METHODS, RATES, split[0], STEPS, seeds=3, best_seeds=2)


def test_figure_has_one_curve_per_method_and_both_panels(sweep, split):
    accuracy = sweep.held_out(*split[1])
    figure = plots.plot_lr_sweep(sweep, accuracy, chance=(math.log(10), 0.1))
    left, right = figure.axes
    assert [t.get_text() for t in left.get_legend().get_texts()] == list(METHODS)
    assert left.get_xscale() == "log" and right.get_ylabel() == "held-out accuracy"
    styles = {line.get_linestyle() for line in left.get_lines() if line.get_label() in METHODS}
    assert len(styles) == len(METHODS)  # told apart without colour


def test_compare_ranges_reads_widths_and_tops_with_a_tolerance():

    rates = (0.01, 0.1, 1.0, 10.0)
    curves = {"a": (3.0, 1.0, 3.0, 3.0), "b": (3.0, 1.0, 1.0, 3.0), "c": (3.0, 1.0, 3.0, 3.0)}
    fake = sweeps.Sweep(
        {k: Setting() for k in curves},
        rates,
        {(k, lr): (_flat_run(v),) for k, vs in curves.items() for lr, v in zip(rates, vs)},
    )
    assert fake.compare_ranges("b", "a", 0.5).endswith("wider; highest lr 1.8 vs 0.18: higher")
    assert "narrower" in fake.compare_ranges("a", "b", 0.5) and "lower" in fake.compare_ranges(
        "a", "b", 0.5
    )
    assert fake.compare_ranges("c", "a", 0.5).count("about the same (within 25%)") == 2
