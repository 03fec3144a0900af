"""Keras networks of the seeds, built as one flat graph (no nested Model).

tf-keras-vis finds the penultimate conv layer by name; a backbone nested as a single
layer hides it (a known pitfall), so backbones are built on our own input tensor and
their layers become the outer model's layers.
"""

from __future__ import annotations

from typing import Any


def build_keras_network(arch: dict[str, Any], num_classes: int):
    import keras
    from keras import layers, regularizers

    size = int(arch["input_size"])
    inputs = keras.Input((size, size, 3), name="image")
    kind = arch["kind"]
    l2 = regularizers.L2(float(arch["l2"])) if arch.get("l2") else None
    if kind == "shallow_cnn":
        x = inputs
        for i, filters in enumerate(arch.get("filters", [16, 32, 64, 128])):
            x = layers.Conv2D(filters, 3, padding="same", use_bias=False, kernel_regularizer=l2, name=f"conv{i + 1}")(x)
            x = layers.BatchNormalization(name=f"bn{i + 1}")(x)
            x = layers.ReLU(name=f"relu{i + 1}")(x)
            x = layers.MaxPooling2D(2, name=f"pool{i + 1}")(x)
        features = x
    elif kind in ("mobilenet", "resnet50", "mobilenet_v2"):
        builder = {"mobilenet": keras.applications.MobileNet, "resnet50": keras.applications.ResNet50, "mobilenet_v2": keras.applications.MobileNetV2}[kind]
        extra = {"alpha": float(arch["alpha"])} if "alpha" in arch else {}
        base = builder(include_top=False, weights=None, input_tensor=inputs, **extra)
        features = base.output
    else:
        raise ValueError(f"unknown Keras architecture kind {kind!r}")
    head = arch.get("head", "gap")
    if head == "gap":
        x = layers.GlobalAveragePooling2D(name="gap")(features)
        x = layers.Dropout(float(arch.get("dropout", 0.3)), name="drop")(x)
    elif head == "seed000":  # Flatten -> Dropout .5 -> Dense 1024 ReLU (L2 1e-3) -> Dropout .5
        x = layers.Flatten(name="flatten")(features)
        x = layers.Dropout(0.5, name="drop1")(x)
        x = layers.Dense(1024, activation="relu", kernel_regularizer=regularizers.L2(1e-3), name="fc1024")(x)
        x = layers.Dropout(0.5, name="drop2")(x)
    else:
        raise ValueError(f"unknown head {head!r}")
    outputs = layers.Dense(num_classes, activation="softmax", kernel_regularizer=l2, name="predictions")(x)
    model = keras.Model(inputs, outputs, name=arch.get("name", kind))
    # Keras' default BN momentum (0.99) needs thousands of steps before the moving statistics
    # match a randomly initialised network; with a few hundred steps inference collapses to a
    # constant output. 0.9 is torch's default (momentum 0.1 there).
    for layer in model.layers:
        if isinstance(layer, layers.BatchNormalization):
            layer.momentum = float(arch.get("bn_momentum", 0.9))
    return model


def head_layer_names(model) -> set[str]:
    """Layers after the backbone: always trainable, also in the 'head only' stage."""
    names = [l.name for l in model.layers]
    for marker in ("gap", "flatten"):
        if marker in names:
            return set(names[names.index(marker) :])
    return {names[-1]}
