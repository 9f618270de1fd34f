"""OCR engines behind one interface (see base.py); one file per engine."""
