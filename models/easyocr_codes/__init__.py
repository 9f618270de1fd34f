"""EasyOCR's ``english_g2`` recogniser fine-tuned on printed codes (``finetune``), written as
an EasyOCR custom network that EasyOCR itself loads, so every EasyOCR mode of the harness
runs it unchanged (adapters/easyocr.py, option ``network``)."""
