"""Export: checkpoint -> TorchScript / ONNX / TFLite / Core ML artefacts, each checked through its runtime.

Conversion (``targets/``), quantisation (a precision of export), the runtimes (``d3ke_edge.runtime``) and the parity
check (``parity.py``) are apart; ``api.export`` ties them together. Converter packages are imported lazily.
"""
