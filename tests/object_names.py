"""Object names that break naive handling: globs, URL escapes, spaces, non-ASCII, every printable character.

Cloud Storage accepts any UTF-8 name without CR or LF (other than ``.`` and ``..``), so every one of
these can arrive in the staging folder.
"""

from __future__ import annotations

import string

# Names that are glob patterns of each other, URL escapes, spaces and non-ASCII characters.
SPECIAL_LEAVES = (
    "a[1].csv",
    "a1.csv",
    "a?.csv",
    "a*.csv",
    "a**.csv",
    "{a,b}.csv",
    "a.csv",
    "b.csv",
    "a\\1.csv",
    "[!a].csv",
    "orders (1).csv",
    "orders[1].csv",
    "x%20y.csv",
    "x y.csv",
    "x+y.csv",
    "%.csv",
    "%2F.csv",
    "a%2Fb.csv",
    "#frag.csv",
    "q?x=1&y=2.csv",
    " leading space.csv",
    "trailing space .csv",
    ".csv",
    "..csv",
    "~tilde.csv",
    "ü.csv",
    "Ünïcödé.csv",
    "日本.csv",
    "😀 emoji.csv",
    "tab\there.csv",
    "UPPER.CSV",
)


def printable_leaves() -> list[str]:
    """One name per printable ASCII character (``/`` excepted: it makes a sub-folder)."""
    return [f"c{ord(char):02x}{char}x.csv" for char in string.printable[:-5] if char != "/"]


def awkward_leaves() -> list[str]:
    """Leaf names (no ``/``) of CSV objects directly under a prefix, each one distinct."""
    leaves = [*SPECIAL_LEAVES, *printable_leaves()]
    assert len(set(leaves)) == len(leaves)
    return leaves


# Full names with slashes that a flat namespace allows and a file system does not.
SLASHED_NAMES = ("p/./x.csv", "p/../y.csv", "p//z.csv", "p/trailing/", "p/a\\b/c.csv", "p/a/b\\c.csv")
