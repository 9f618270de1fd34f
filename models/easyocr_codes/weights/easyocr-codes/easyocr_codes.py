"""EasyOCR's own generation-2 recogniser (VGG + BiLSTM), fine-tuned on codes by
models/easyocr_codes/finetune.py: the network is EasyOCR's, only the weights differ."""
from easyocr.model.vgg_model import Model  # noqa: F401
