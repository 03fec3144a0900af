"""Frameworks behind a model: torch, Keras 3, ONNX Runtime sessions, the ImageNet
EfficientNet-Lite0 port, the training protocol; each imported lazily by the kind that needs it.
"""
