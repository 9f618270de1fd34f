"""Our own FOTS-style end-to-end code reader: model (net), inputs (data), decoding
(decode), training (train). Weights live in models/fots/weights/."""
