"""The two-stage code reader: CRAFT's character region map finds each character, a small
classifier trained here reads each one (models/charcls/README.md)."""
