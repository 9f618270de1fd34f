"""What makes data: the generators of product-code images and the line crops that train
recognisers. ``frames``: the benchmark's generator (whole photographed frames; it writes the
embedded dataset byte for byte); ``printing``: code crops in many printing styles, rendered
straight at crop size; ``lines``: single text lines cut from both, as recognisers read them.
Host-side (needs the Debian fonts); imported by ``models/`` and by ``make dataset``."""
