"""Export: checkpoint -> TorchScript / ONNX / TFLite / Core ML artefacts, each checked through its runtime.

Conversion (``targets/``), quantisation (``d3ke_edge.quantize``: a config of export), the runtimes
(``d3ke_edge.runtime``, with their kernel families), the per-output fp32 bounds (``tolerance.py``) and the parity
check (``parity.py``) are apart; ``api.export`` and ``api.verify`` tie them together. Converter packages are
imported lazily.
"""
