"""PP-OCRv6's small recogniser fine-tuned on printed codes (``finetune``), in PyTorch from its
ONNX graph, written back as an ONNX model that rapidocr's own pipeline loads in place of the
shipped one (adapters/ppocrv6.py, option ``rec_model``)."""
