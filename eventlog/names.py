"""Run ids and readable run names.

Generated ids are 8 characters of [a-z0-9] (36**8 ~ 2.8e12 ids); user-given ids may use letters,
digits, `-`, `_` and `.`, at most 64 characters. Generated names are `adjective-noun-N`, N being
the run's number in its run root (one more than the run folders already there).
"""
from __future__ import annotations

import os
import re

from .errors import ArgumentTypeError, UsageError

ID_ALPHABET = "abcdefghijklmnopqrstuvwxyz0123456789"
ID_LENGTH = 8
ID_MAX = 64
ID_RE = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")

ADJECTIVES = (
    "amber", "ancient", "autumn", "bold", "brave", "breezy", "bright", "calm", "celestial", "cherry",
    "clear", "clever", "cool", "cosmic", "crimson", "crisp", "dainty", "dark", "dashing", "dawn",
    "deep", "desert", "dry", "dusty", "eager", "earthy", "electric", "elegant", "fancy", "fearless",
    "fiery", "floral", "fluent", "fresh", "frosty", "gallant", "gentle", "giddy", "glad", "golden",
    "graceful", "grand", "green", "hardy", "hazy", "helpful", "hidden", "honest", "icy", "jolly",
    "keen", "kind", "laced", "lemon", "light", "lilac", "lively", "lucky", "lunar", "lyric",
    "magic", "major", "mellow", "misty", "modest", "morning", "noble", "northern", "olive", "pale",
    "peach", "polar", "proud", "quiet", "radiant", "rare", "restful", "rich", "rosy", "royal",
    "rustic", "sandy", "scarlet", "serene", "sharp", "silent", "silver", "sleek", "smart", "snowy",
    "solar", "spring", "stellar", "still", "stoic", "sunny", "super", "swift", "tidy", "twilight",
    "upbeat", "valiant", "vibrant", "vital", "warm", "wandering", "wild", "winter", "wise", "zesty",
)
NOUNS = (
    "aardvark", "badger", "bee", "bird", "breeze", "brook", "butterfly", "canyon", "cedar", "cloud",
    "comet", "cosmos", "crane", "darkness", "dawn", "deer", "dew", "dolphin", "dream", "dune",
    "eagle", "elk", "ember", "falcon", "feather", "fern", "field", "firefly", "flower", "fog",
    "forest", "fox", "frog", "galaxy", "glade", "glitter", "grass", "haze", "heron", "hill",
    "lake", "leaf", "lion", "lynx", "meadow", "moon", "morning", "moss", "mountain", "night",
    "oak", "ocean", "orchid", "otter", "owl", "panda", "paper", "pine", "planet", "pond",
    "rain", "raven", "resonance", "river", "salmon", "sea", "shadow", "shape", "sky", "smoke",
    "snow", "sound", "spaceship", "sparrow", "star", "starlight", "stone", "storm", "sun", "sunset",
    "surf", "swan", "thunder", "tiger", "tree", "valley", "violet", "voice", "water", "wave",
    "wildflower", "wind", "wolf", "wood", "yak", "zebra",
)


def _choice(seq, rand: bytes, i: int) -> str:
    return seq[int.from_bytes(rand[i:i + 4], "little") % len(seq)]


def generate_id() -> str:
    """A new run id: 8 characters of [a-z0-9] from the OS's random source."""
    out = []
    while len(out) < ID_LENGTH:
        for b in os.urandom(ID_LENGTH * 2):
            if b < 252:  # 252 = 7 * 36: no modulo bias
                out.append(ID_ALPHABET[b % 36])
                if len(out) == ID_LENGTH:
                    break
    return "".join(out)


def check_id(value: object, argument: str = "id") -> str:
    """`value` when it is a valid user-given run id; a typed error naming `argument` otherwise."""
    if not isinstance(value, str):
        raise ArgumentTypeError(
            f"{argument} must be a str of letters, digits, '-', '_' or '.', got {type(value).__name__} "
            f"{value!r}; pass e.g. {argument}=\"{generate_id()}\" or leave it out to get a generated id"
        )
    if not ID_RE.match(value):
        if not value:
            why = "it is empty"
        elif len(value) > ID_MAX:
            why = f"it is {len(value)} characters long (at most {ID_MAX})"
        else:
            bad = sorted({c for c in value if not (c.isascii() and (c.isalnum() or c in "-_."))})
            why = "it contains " + ", ".join(repr(c) for c in bad)
        raise UsageError(
            f"{argument}={value!r} is not a valid run id: {why}. A run id uses only letters, digits, "
            f"'-', '_' and '.', at most {ID_MAX} characters; put free text in name= instead"
        )
    return value


def generate_name(number: int = 0) -> str:
    """A readable run name `adjective-noun-N` (N = `number`, left out when 0)."""
    rand = os.urandom(8)
    base = f"{_choice(ADJECTIVES, rand, 0)}-{_choice(NOUNS, rand, 4)}"
    return f"{base}-{number}" if number > 0 else base
