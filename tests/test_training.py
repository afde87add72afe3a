"""helpers.training: the instrumented loop — determinism, several settings at once, NaN handling, Keras equivalence,
argument checks. Runs on the Fashion-MNIST subset the root conftest.py puts in KERAS_HOME (nothing depends on its size).

Compiling costs seconds per shape, so the tests share a few: chunk=20 everywhere, K in {1, 2, 4}.
"""

from __future__ import annotations

import math

import keras
import numpy as np
import pytest
import tensorflow as tf

from helpers import clipping, data, models, training
from helpers.training import Setting

CHUNK = 20


@pytest.fixture(scope="module")
def fashion():
    (x_train, y_train), (x_test, y_test) = data.load_fashion_mnist()
    return (x_train, y_train), (x_test, y_test)


@pytest.fixture(scope="module")
def train_data(fashion):
    return fashion[0]


def run(settings, train_data, steps=40, **kwargs):
    kwargs.setdefault("chunk", CHUNK)
    kwargs.setdefault("progress", False)
    return training.train(settings, train_data, steps, **kwargs)


FOUR = [
    Setting("none", learning_rate=0.05),
    Setting("value", 0.02, learning_rate=0.05),
    Setting("norm", 0.1, learning_rate=0.05, momentum=0.9),
    Setting("global_norm", 0.1, learning_rate=0.05),
]


# ------------------------------------------------------------------------------------------------ determinism


def test_same_seed_gives_identical_histories(train_data):
    first = run(FOUR, train_data)
    second = run(FOUR, train_data)
    for a, b in zip(first, second):
        for name in ("loss", "accuracy", "grad_norm", "clipped"):
            np.testing.assert_array_equal(getattr(a, name), getattr(b, name))
        for wa, wb in zip(a.weights, b.weights):
            np.testing.assert_array_equal(wa, wb)
        assert a.steps == b.steps == 40 and a.diverged_at is None


def test_seeds_change_weights_and_batches(train_data):
    base = run(FOUR[0], train_data)
    other_model = run(Setting("none", learning_rate=0.05, seed=1), train_data)
    other_data = run(FOUR[0], train_data, data_seed=1)
    assert not np.array_equal(base.loss, other_model.loss)
    assert not np.array_equal(base.loss, other_data.loss)
    assert base.loss[0] != other_model.loss[0]  # different initial weights, same first batch


def test_batches_are_the_article_pipelines(train_data):
    """train() draws helpers.data.fashion_mnist_pipeline's batches (it only avoids copying the arrays again)."""
    first = training.draw_batches(train_data, 30, data_seed=3)
    again = training.draw_batches(train_data, 30, data_seed=3)  # cached slices, same batches
    keras.utils.set_random_seed(3)
    pipeline = data.fashion_mnist_pipeline(*train_data, batch_size=32, shuffle_buffer=5000, seed=3)
    for step, (x, y) in enumerate(pipeline.take(30)):
        for drawn in (first, again):
            np.testing.assert_array_equal(drawn[0][step], x.numpy())
            np.testing.assert_array_equal(drawn[1][step], y.numpy())


def assert_identical(a, b):
    """Two histories are bitwise the same: every recorded number, the divergence step and the final weights."""
    for name in ("loss", "accuracy", "grad_norm", "clipped"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name), err_msg=name)
    assert a.diverged_at == b.diverged_at and a.steps == b.steps
    for wa, wb in zip(a.weights, b.weights, strict=True):
        np.testing.assert_array_equal(wa, wb)


def test_several_settings_together_equal_one_by_one(train_data):
    together = run(FOUR, train_data)
    for setting, joint in zip(FOUR, together):
        alone = run(setting, train_data)
        assert alone.setting == joint.setting
        assert_identical(alone, joint)


UNSTABLE = Setting("none", learning_rate=1.0, momentum=0.9)
OTHERS = [
    Setting(mode, c, learning_rate=lr, momentum=0.9)
    for mode, c in (("value", 0.5), ("norm", 1.0), ("global_norm", 0.3))
    for lr in (1.0, 0.1)
]
OTHERS += [
    Setting("none", learning_rate=lr, momentum=0.9, seed=s) for lr in (0.5, 2.0) for s in (1, 2, 3)
]
OTHERS += [Setting("global_norm", 1.0, learning_rate=1.0, momentum=0.9, seed=s) for s in (4, 5, 6)]


@pytest.mark.parametrize("k, position", [(2, 1), (4, 0), (4, 3), (16, 6), (16, 15)])
def test_one_answer_per_setting_alone_or_in_any_group_at_any_position(train_data, k, position):
    """Issue 11: in the chaotic regime (lr 1.0, momentum 0.9; float32 rounding differences grow to O(1) within a
    few hundred steps) a setting's 500-step history is bitwise the same alone and inside calls of 2, 4 and 16
    settings at different positions (fixed-shape blocks of training.BLOCK settings)."""
    alone = run(UNSTABLE, train_data, steps=500)
    group = OTHERS[: k - 1]
    group.insert(position, UNSTABLE)
    together = run(group, train_data, steps=500)
    assert together[position].setting == UNSTABLE
    assert_identical(alone, together[position])


@pytest.mark.parametrize("threads", [1, 3])
def test_blocks_stepped_in_threads_give_the_same_numbers(train_data, monkeypatch, threads):
    """Blocks step in training.THREADS threads at once; the unstable regime's 500 steps are bitwise the same
    whatever the number of threads (each block is its own computation)."""
    group = [UNSTABLE, *OTHERS[:5]]  # three blocks
    monkeypatch.setattr(training, "THREADS", 2)
    reference = run(group, train_data, steps=500)
    monkeypatch.setattr(training, "THREADS", threads)
    for a, b in zip(reference, run(group, train_data, steps=500), strict=True):
        assert_identical(a, b)


def test_single_setting_returns_one_history_and_a_list_returns_a_list(train_data):
    assert isinstance(run(FOUR[0], train_data), training.History)
    histories = run(FOUR[:2], train_data)
    assert isinstance(histories, list) and [h.setting for h in histories] == FOUR[:2]


# ------------------------------------------------------------------------------------------------ what is recorded


def test_records_one_entry_per_step_with_plausible_values(train_data):
    history = run(FOUR[3], train_data, steps=50)  # 50 = 2 full chunks and a partial one
    assert history.steps == history.steps_requested == 50
    for name in ("loss", "accuracy", "grad_norm", "clipped"):
        assert getattr(history, name).shape == (50,)
    assert np.all(np.isfinite(history.loss)) and np.all(history.loss > 0)
    assert np.all((history.accuracy >= 0) & (history.accuracy <= 1))
    # global-norm clipping: a step is clipped exactly when the pre-clip norm exceeds the threshold
    np.testing.assert_array_equal(history.clipped, history.grad_norm > 0.1)
    assert history.clipped_fraction == pytest.approx(np.mean(history.grad_norm > 0.1))
    assert history.seconds > 0


def test_clipped_flag_follows_the_threshold(train_data):
    tiny, huge = run([Setting("value", 1e-6), Setting("value", 1e6)], train_data)
    assert tiny.clipped.all() and not huge.clipped.any()
    np.testing.assert_array_equal(run(Setting("none"), train_data).clipped, np.zeros(40, bool))


def test_first_loss_is_the_keras_models_loss_on_the_first_batch(train_data):
    setting = Setting("none")
    history = run(setting, train_data)
    xs, ys = training.draw_batches(train_data, 1)
    keras.utils.set_random_seed(setting.seed)
    model = models.article_lstm()
    expected = keras.losses.SparseCategoricalCrossentropy()(ys[0], model(xs[0]))
    assert history.loss[0] == pytest.approx(float(expected), rel=1e-6)
    assert history.accuracy[0] == pytest.approx(
        float(np.mean(np.argmax(model(xs[0]), -1) == ys[0]))
    )


@pytest.mark.parametrize("engine", ["vectorized", "keras"])
@pytest.mark.parametrize(
    "setting",
    [
        Setting("value", 0.05, learning_rate=0.1),
        Setting("norm", 0.1, learning_rate=0.1, momentum=0.9),
        Setting("global_norm", 0.1, optimizer="adam", learning_rate=0.003),
        Setting("value", 0.01, optimizer="rmsprop", learning_rate=0.003),
    ],
    ids=lambda s: s.label if isinstance(s, Setting) else s,
)
def test_matches_keras_fit_with_the_same_optimizer_argument(train_data, setting, engine):
    """The loop equals Keras's own training: model.fit with keras_optimizer(setting) (clipvalue/clipnorm/...)."""
    steps = 40
    history = run(setting, train_data, steps=steps, engine=engine)
    xs, ys = training.draw_batches(train_data, steps)
    keras.utils.set_random_seed(setting.seed)
    model = models.article_lstm()
    model.compile(
        optimizer=training.keras_optimizer(setting), loss="sparse_categorical_crossentropy"
    )
    model.fit(tf.data.Dataset.from_tensor_slices((xs, ys)), epochs=1, verbose=0, shuffle=False)
    for ours, theirs in zip(history.weights, model.trainable_variables):
        theirs = theirs.numpy()
        assert np.abs(ours - theirs).max() <= 1e-5 * np.abs(theirs).max()


def test_keras_engine_trains_models_the_vectorized_engine_cannot(train_data):
    def gru_model():
        return keras.Sequential(
            [keras.Input((28, 28)), keras.layers.GRU(4), keras.layers.Dense(10, "softmax")]
        )

    history = run(Setting("global_norm", 1.0, learning_rate=0.05), train_data, model=gru_model)
    assert history.steps == 40 and np.all(np.isfinite(history.loss))
    with pytest.raises(ValueError, match="engine='vectorized' cannot run this model"):
        run(Setting("none"), train_data, model=gru_model, engine="vectorized")


def test_on_chunk_can_stop_the_run(train_data):
    seen = []

    def stop_after_first(done):
        seen.append(done)
        return False

    history = run(FOUR[0], train_data, steps=60, on_chunk=stop_after_first)
    assert seen == [CHUNK]
    assert history.steps == CHUNK and history.steps_requested == 60 and history.diverged_at is None


def test_progress_bar_is_shown_only_when_asked(train_data, capsys):
    run(FOUR[0], train_data, steps=20, progress=True)
    assert "training 1 setting" in capsys.readouterr().err
    run(FOUR[0], train_data, steps=20, progress=False)
    assert capsys.readouterr().err == ""


# ------------------------------------------------------------------------------------------------ divergence


def _overflowing_model():
    """The article's model with an output kernel so large that the very first logits overflow to inf."""
    model = models.article_lstm()
    model.layers[-1].kernel.assign(np.full(model.layers[-1].kernel.shape, 3e38, np.float32))
    return model


def test_nan_run_stops_at_the_step_it_diverged_without_an_exception(train_data):
    history = run(Setting("none", learning_rate=0.01), train_data, model=_overflowing_model)
    assert history.diverged and history.diverged_at == 0 and history.steps == 1
    assert not (np.isfinite(history.loss[0]) and np.isfinite(history.grad_norm[0]))
    start = training.initial_weights(_overflowing_model, 0)
    for final, initial in zip(history.weights, start):  # the NaN update was not applied
        np.testing.assert_array_equal(final, initial)
    assert history.final_loss() == math.inf


#: Adam moves every weight by about the learning rate per step: 1e37 overflows float32 (max 3.4e38) on the next step.
OVERFLOWING = Setting("none", optimizer="adam", learning_rate=1e37)


def test_huge_learning_rate_diverges_later_and_is_reported(train_data):
    history = run(OVERFLOWING, train_data, steps=60)
    assert history.diverged_at is not None and 0 < history.diverged_at < 60
    assert history.steps == history.diverged_at + 1 and history.loss.shape == (history.steps,)
    last = history.diverged_at
    assert not (np.isfinite(history.loss[last]) and np.isfinite(history.grad_norm[last]))
    assert np.all(np.isfinite(history.loss[:last])) and np.all(
        np.isfinite(history.grad_norm[:last])
    )
    assert all(np.all(np.isfinite(w)) for w in history.weights)


def test_a_diverging_setting_does_not_disturb_the_others(train_data):
    calm, wild = run([FOUR[1], OVERFLOWING], train_data)
    alone = run(FOUR[1], train_data)
    assert wild.diverged and not calm.diverged and calm.steps == 40
    assert_identical(calm, alone)


def test_a_step_whose_clipped_gradient_is_not_finite_is_not_applied(train_data, monkeypatch):
    """A rule may turn finite gradients into inf (e.g. g·c overflowing in float32): that update is never applied;
    the step is reported as the divergence step."""
    monkeypatch.setattr(clipping, "_RULES", clipping.rules())
    monkeypatch.setattr(training, "_CHUNK_FUNCTIONS", {})

    def overflow_at_step_3(grads, threshold, weights, state, context):
        count = state[0] + 1.0
        factor = tf.where(count >= 4.0, tf.constant(np.inf, tf.float32), 1.0)
        return [grads[0] * factor, *grads[1:]], count >= 4.0, count[None]

    clipping.register_rule(clipping.ClipRule("overflow", overflow_at_step_3, state_size=1))
    history = run(Setting("overflow", 1.0, learning_rate=0.05), train_data, steps=10)
    plain = run(Setting("none", learning_rate=0.05), train_data, steps=3)
    assert history.diverged_at == 3 and history.steps == 4
    assert (
        np.isfinite(history.loss).all() and np.isfinite(history.grad_norm).all()
    )  # only the update was not
    for ours, after_three in zip(history.weights, plain.weights):
        np.testing.assert_array_equal(
            ours, after_three
        )  # the weights after the 3 good steps, unchanged


# ------------------------------------------------------------------------------------------------ evaluation, rules


def test_evaluate_uses_the_final_weights_in_a_real_keras_model(fashion):
    train_data, (x_test, y_test) = fashion
    history = run(FOUR[3], train_data)
    loss, accuracy = training.evaluate(history, x_test, y_test)
    model = training.keras_model(history)
    model.compile(loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    keras_loss, keras_accuracy = model.evaluate(x_test, y_test, verbose=0)
    assert loss == pytest.approx(keras_loss, rel=1e-5) and accuracy == pytest.approx(keras_accuracy)


def test_a_registered_rule_plugs_in(train_data, monkeypatch):
    monkeypatch.setattr(clipping, "_RULES", clipping.rules())

    def halve(grads, threshold, weights, state, context):
        return [g * 0.5 for g in grads], tf.constant(True), state

    clipping.register_rule(clipping.ClipRule("halve", halve, label="halved"))
    halved = run(Setting("halve", 1.0, learning_rate=0.1), train_data)
    plain = run(Setting("none", learning_rate=0.05), train_data)
    assert halved.clipped.all() and halved.setting.label.startswith("halved, SGD")
    np.testing.assert_allclose(halved.loss, plain.loss, rtol=1e-5, atol=1e-6)


def test_autoclip_clips_above_the_running_percentile_of_the_recorded_norms(train_data):
    """AutoClip's flag at step t: the pre-clip norm exceeds the 10th percentile of the norms of steps 0..t."""
    history = run(Setting("autoclip", 10.0, learning_rate=0.1, momentum=0.9), train_data)
    assert history.setting.label.startswith("AutoClip p=10,")
    norms = history.grad_norm.astype(np.float64)
    thresholds = np.array([np.percentile(norms[: t + 1], 10) for t in range(len(norms))])
    clear = np.abs(norms - thresholds) > 1e-6 * thresholds  # float32 vs float64 ties aside
    np.testing.assert_array_equal(history.clipped[clear], (norms > thresholds)[clear])
    assert (
        not history.clipped[0] and history.clipped.mean() > 0.5
    )  # p = 10: most steps are above it


def test_agc_equals_a_loop_with_clipping_agc(train_data):
    """AGC in the trainer = the plain tape loop with helpers.clipping.agc (λ = 0.01, final layer skipped) + SGD."""
    from helpers import clipping

    setting = Setting("agc", 0.01, learning_rate=0.1)
    history = run(setting, train_data, steps=20)
    xs, ys = training.draw_batches(train_data, 20)
    keras.utils.set_random_seed(setting.seed)
    model = models.article_lstm()
    optimizer = keras.optimizers.SGD(learning_rate=0.1)
    loss_fn = keras.losses.SparseCategoricalCrossentropy()
    flags = []
    for x, y in zip(xs, ys):
        with tf.GradientTape() as tape:
            loss = loss_fn(y, model(x))
        grads = tape.gradient(loss, model.trainable_variables)
        clipped, _ = clipping.agc(
            grads, model.trainable_variables, 0.01, skip=clipping.last_layer(model)
        )
        flags.append(any(bool(tf.reduce_any(a != g)) for a, g in zip(clipped, grads)))
        optimizer.apply(clipped, model.trainable_variables)
    np.testing.assert_array_equal(history.clipped, flags)
    for ours, theirs in zip(history.weights, model.trainable_variables):
        assert np.abs(ours - theirs.numpy()).max() <= 1e-5 * np.abs(theirs.numpy()).max()


def test_history_helpers():
    n = 10
    history = training.History(
        setting=Setting(),
        loss=np.arange(n, dtype=np.float32),
        accuracy=np.zeros(n, np.float32),
        grad_norm=np.ones(n, np.float32),
        clipped=np.arange(n) % 2 == 0,
        diverged_at=None,
        steps=n,
        steps_requested=n,
        seconds=1.0,
        weights=(),
    )
    assert history.final_loss(window=4) == pytest.approx(np.mean([6, 7, 8, 9]))
    assert history.clipped_fraction == 0.5
    np.testing.assert_allclose(history.smoothed("loss", window=3), [0, 0.5, 1, 2, 3, 4, 5, 6, 7, 8])
    with pytest.raises(ValueError, match="window"):
        history.final_loss(window=0)
    with pytest.raises(ValueError, match="name"):
        history.smoothed("weights")


def test_keras_optimizer_equivalents():
    sgd = training.keras_optimizer(Setting("value", 0.5, learning_rate=0.1, momentum=0.9))
    assert isinstance(sgd, keras.optimizers.SGD) and sgd.clipvalue == 0.5 and sgd.momentum == 0.9
    adam = training.keras_optimizer(
        Setting("global_norm", 1.0, optimizer="adam", learning_rate=1e-3)
    )
    assert isinstance(adam, keras.optimizers.Adam) and adam.global_clipnorm == 1.0
    rms = training.keras_optimizer(Setting("norm", 2.0, optimizer="rmsprop"))
    assert isinstance(rms, keras.optimizers.RMSprop) and rms.clipnorm == 2.0
    assert training.keras_optimizer(Setting()).clipvalue is None
    with pytest.raises(TypeError, match="setting"):
        training.keras_optimizer("sgd")


# ------------------------------------------------------------------------------------------------ bad input


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"mode": "clip"}, ValueError, "mode must be one of"),
        ({"mode": "value"}, ValueError, "threshold is required"),
        ({"mode": "global_norm", "threshold": None}, ValueError, "threshold is required"),
        ({"mode": "none", "threshold": 1.0}, ValueError, "threshold must be None"),
        ({"mode": "value", "threshold": 0.0}, ValueError, "threshold must be a positive"),
        ({"mode": "value", "threshold": -1.0}, ValueError, "threshold must be a positive"),
        ({"mode": "norm", "threshold": float("nan")}, ValueError, "threshold must be a finite"),
        ({"mode": "norm", "threshold": float("inf")}, ValueError, "threshold must be a finite"),
        ({"mode": "norm", "threshold": "1"}, TypeError, "threshold must be a real number"),
        ({"mode": "autoclip", "threshold": 150.0}, ValueError, "percentile"),
        ({"mode": "agc"}, ValueError, "threshold is required"),
        ({"learning_rate": 0.0}, ValueError, "learning_rate must be a positive"),
        ({"learning_rate": -0.1}, ValueError, "learning_rate must be a positive"),
        ({"learning_rate": float("nan")}, ValueError, "learning_rate must be a finite"),
        ({"learning_rate": float("inf")}, ValueError, "learning_rate must be a finite"),
        ({"learning_rate": None}, TypeError, "learning_rate must be a real number"),
        ({"optimizer": "adagrad"}, ValueError, "optimizer must be one of"),
        ({"momentum": 1.0}, ValueError, "momentum must be in"),
        ({"momentum": -0.1}, ValueError, "momentum must be in"),
        ({"momentum": float("nan")}, ValueError, "momentum must be a finite"),
        ({"optimizer": "adam", "momentum": 0.9}, ValueError, "momentum is an SGD option"),
        ({"seed": -1}, ValueError, "seed must be an integer >= 0"),
        ({"seed": 1.5}, TypeError, "seed must be an integer"),
    ],
)
def test_bad_settings_are_refused(kwargs, error, match):
    with pytest.raises(error, match=match):
        Setting(**kwargs)


@pytest.mark.parametrize(
    ("call", "error", "match"),
    [
        (lambda d: training.train([], d, 10), ValueError, "settings must hold at least one"),
        (lambda d: training.train("none", d, 10), TypeError, "settings must be a Setting"),
        (
            lambda d: training.train([Setting(), "none"], d, 10),
            TypeError,
            r"settings\[1\] must be a Setting",
        ),
        (lambda d: training.train(Setting(), d, 0), ValueError, "steps must be an integer >= 1"),
        (lambda d: training.train(Setting(), d, -5), ValueError, "steps must be an integer >= 1"),
        (lambda d: training.train(Setting(), d, 1.5), TypeError, "steps must be an integer"),
        (lambda d: training.train(Setting(), d, True), TypeError, "steps must be an integer"),
        (
            lambda d: training.train(Setting(), d, 10, chunk=0),
            ValueError,
            "chunk must be an integer >= 1",
        ),
        (
            lambda d: training.train(Setting(), d, 10, engine="gpu"),
            ValueError,
            "engine must be one of",
        ),
        (
            lambda d: training.train(Setting(), d, 10, loss="hinge"),
            ValueError,
            "loss must be one of",
        ),
        (lambda d: training.train(Setting(), d, 10, loss="mse"), ValueError, "one output unit"),
        (
            lambda d: training.train(Setting(), d, 10, data_seed=-1),
            ValueError,
            "data_seed must be an integer",
        ),
        (
            lambda d: training.train(Setting(), d, 10, batch_size=0),
            ValueError,
            "batch_size must be an integer",
        ),
        (
            lambda d: training.train(Setting(), d, 10, model="lstm"),
            TypeError,
            "model must be a function",
        ),
        (
            lambda d: training.train(Setting(), d, 10, model=lambda: 3),
            TypeError,
            "model must return a keras.Model",
        ),
        (
            lambda d: training.train(Setting(), d, 10, on_chunk=3),
            TypeError,
            "on_chunk must be callable",
        ),
        (lambda d: training.train(Setting(), "fashion", 10), TypeError, "data must be"),
        (
            lambda d: training.train(Setting(), (d[0][:, :5], d[1]), 10),
            ValueError,
            r"x_train\) must have shape",
        ),
        (
            lambda d: training.train(Setting(), lambda: 3, 10),
            TypeError,
            r"data\(\) must return a tf.data.Dataset",
        ),
        (
            lambda d: training.train(
                Setting(), lambda: tf.data.Dataset.from_tensor_slices(d[0]).batch(4), 10
            ),
            ValueError,
            "data must yield",
        ),
    ],
)
def test_bad_train_arguments_are_refused(train_data, call, error, match):
    with pytest.raises(error, match=match):
        call(train_data)


def test_bad_evaluate_and_register_arguments(fashion):
    train_data, (x_test, y_test) = fashion
    history = run(FOUR[0], train_data, steps=20)
    with pytest.raises(ValueError, match=r"x must have shape \(any, 28, 28\)"):
        training.evaluate(history, x_test[0], y_test)
    with pytest.raises(ValueError, match="same, non-zero number"):
        training.evaluate(history, x_test, y_test[:-1])
    with pytest.raises(TypeError, match="history must be a History"):
        training.evaluate("history", x_test, y_test)
    with pytest.raises(TypeError, match="rule must be a ClipRule"):
        clipping.register_rule(lambda grads, c: grads)
    with pytest.raises(ValueError, match="state_size"):
        clipping.register_rule(clipping.ClipRule("bad", lambda *a: a, state_size=-1))
    with pytest.raises(ValueError, match="steps must be an integer >= 1"):
        training.draw_batches(train_data, 0)
