"""Runs a seed sample unchanged: `python run_sample.py SAMPLE.py [NAME=VALUE ...] [ARG ...]` executes
the sample as the main script with ARGs as its command line, and with the placeholders the seed
leaves to the reader (such as YOUR_KEY_HERE in the offline sample) defined as globals."""
import re
import runpy
import sys

sample, rest = sys.argv[1], sys.argv[2:]
placeholders = {}
while rest and re.match(r"^[A-Z_][A-Z0-9_]*=", rest[0]):
    name, value = rest.pop(0).split("=", 1)
    placeholders[name] = value
sys.argv = [sample, *rest]
runpy.run_path(sample, init_globals=placeholders, run_name="__main__")
