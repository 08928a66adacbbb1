"""seqtasks' Adam / AdamW: Keras' results, one fused kernel a variable on TensorFlow."""

import keras
import numpy as np
import pytest

from seqtasks.training.fused_adam import Adam, AdamW


def _tiny_model(seed):
    # Dense gradients only (an embedding's differs from Keras' on TensorFlow: see below).
    keras.utils.set_random_seed(seed)
    x = keras.Input((6,))
    hidden = keras.layers.Dense(8, activation="tanh")(x)
    return keras.Model(x, keras.layers.Dense(3)(hidden))


def _train(optimizer, steps=12):
    model = _tiny_model(0)
    model.compile(optimizer=optimizer, loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    rng = np.random.default_rng(1)
    x = rng.normal(size=(16 * steps, 6)).astype("float32")
    y = rng.integers(0, 3, size=(16 * steps,)).astype("int32")
    history = model.fit(x, y, batch_size=16, epochs=1, shuffle=False, verbose=0)
    return model, history.history["loss"][0]


@pytest.mark.parametrize("ours, keras_class, kwargs", [
    (Adam, keras.optimizers.Adam, {"learning_rate": 0.05, "clipnorm": 1.0}),
    (Adam, keras.optimizers.Adam, {"learning_rate": 0.05, "use_ema": True, "ema_momentum": 0.9}),
    (AdamW, keras.optimizers.AdamW, {"learning_rate": 0.05, "weight_decay": 0.01}),
])
def test_same_weights_and_loss_as_keras(ours, keras_class, kwargs):
    fused, fused_loss = _train(ours(**kwargs))
    reference, reference_loss = _train(keras_class(**kwargs))
    assert fused_loss == pytest.approx(reference_loss, rel=1e-5)
    for a, b in zip(fused.weights, reference.weights):
        np.testing.assert_allclose(keras.ops.convert_to_numpy(a), keras.ops.convert_to_numpy(b),
                                   rtol=1e-4, atol=1e-6)
    # The weights moved: the comparison is not between two untrained models.
    assert not np.allclose(keras.ops.convert_to_numpy(fused.weights[0]),
                           keras.ops.convert_to_numpy(_tiny_model(0).weights[0]))


@pytest.mark.tf_only(reason="the fused kernel is TensorFlow's; other back ends run Keras' own step")
@pytest.mark.parametrize("use_ema", [False, True])
def test_one_fused_kernel_per_variable_on_tensorflow(use_ema):
    import tensorflow as tf

    variables = [keras.Variable(np.ones((4, 3), "float32")), keras.Variable(np.ones((3,), "float32"))]
    optimizer = Adam(0.1, use_ema=use_ema, ema_momentum=0.5)
    optimizer.build(variables)

    @tf.function
    def step():
        optimizer.apply([tf.ones((4, 3)), tf.ones((3,))], variables)

    ops = [op.type for op in step.get_concrete_function().graph.get_operations()]
    assert ops.count("ResourceApplyAdam") == 2
    assert ops.count("ResourceApplyGradientDescent") == (2 if use_ema else 0)
    step()
    # Adam's first step moves every weight by the rate (the bias-corrected m / sqrt(v) is 1).
    np.testing.assert_allclose(variables[0].numpy(), 0.9, rtol=1e-5)
    if use_ema:  # the first step copies the weights; the second averages with momentum 0.5
        np.testing.assert_allclose(optimizer._model_variables_moving_average[0].numpy(), 0.9, rtol=1e-5)
        step()
        np.testing.assert_allclose(optimizer._model_variables_moving_average[0].numpy(),
                                   0.5 * 0.9 + 0.5 * variables[0].numpy(), rtol=1e-5)


@pytest.mark.tf_only(reason="IndexedSlices gradients exist on TensorFlow only (JAX's are dense)")
@pytest.mark.parametrize("fused", [True, False], ids=["fused", "keras-step"])
def test_embedding_row_moments_use_the_summed_gradient(fused, monkeypatch):
    import tensorflow as tf

    # A token looked up twice: its row's gradient is 1 + 1 = 2 per entry.
    if not fused:  # the path Keras' own step takes (under a tf.distribute strategy, say)
        monkeypatch.setattr(Adam, "_fusable", lambda self, variable: False)
    variable = keras.Variable(np.zeros((3, 2), "float32"))
    optimizer = Adam(0.1)
    optimizer.build([variable])
    slices = tf.IndexedSlices(tf.ones((2, 2)), tf.constant([0, 0]), tf.constant([3, 2]))
    optimizer.apply([slices], [variable])
    np.testing.assert_allclose(optimizer._momentums[0].numpy()[0], 0.1 * 2, rtol=1e-4)
    np.testing.assert_allclose(optimizer._velocities[0].numpy()[0], 0.001 * 2 ** 2, rtol=1e-4)  # Keras: 0.002
    np.testing.assert_allclose(optimizer._velocities[0].numpy()[1:], 0.0)


@pytest.mark.tf_only(reason="IndexedSlices gradients exist on TensorFlow only (JAX's are dense)")
def test_clipping_norm_of_an_embedding_gradient_is_that_of_the_summed_rows():
    import tensorflow as tf

    variable = keras.Variable(np.zeros((3, 2), "float32"))
    optimizer = Adam(0.1, clipnorm=2.0)
    optimizer.build([variable])
    # Summed row (2, 2): norm 2.83, clipped to 2 -> (1.41, 1.41); Keras' norm
    # of the unsummed rows is 2, no clipping, m = 0.2.
    optimizer.apply([tf.IndexedSlices(tf.ones((2, 2)), tf.constant([0, 0]), tf.constant([3, 2]))], [variable])
    np.testing.assert_allclose(optimizer._momentums[0].numpy()[0], 0.1 * np.sqrt(2.0), rtol=1e-4)


def test_compiled_model_saves_and_loads_with_its_optimizer(tmp_path):
    model, _ = _train(Adam(0.05, clipnorm=1.0), steps=2)
    model.save(tmp_path / "m.keras")
    loaded = keras.saving.load_model(tmp_path / "m.keras")
    assert type(loaded.optimizer) is Adam
    assert loaded.optimizer.get_config()["clipnorm"] == 1.0
    x = np.linspace(-1, 1, 12, dtype="float32").reshape(2, 6)
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(loaded(x)), keras.ops.convert_to_numpy(model(x)))
