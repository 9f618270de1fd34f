"""The reporter: markdown reports with tables, plots, intervals and warnings, from result
folders alone. Runs on any modern Python with pandas and matplotlib; imports no engine and
needs no GPU (not device-side code: exempt from the Python 3.6 check)."""
