"""A regular package so setuptools ships the metric script with the wheel; `evaluate.load` reads the script beside
it."""
