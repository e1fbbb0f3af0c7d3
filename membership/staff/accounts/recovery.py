"""Recovery codes: one-time codes that stand in for the authenticator app at sign-in, when the phone is lost.

A code is ten characters from Crockford's base32 alphabet (digits and lower-case letters without i, l, o
and u, so nothing reads as something else), shown in two groups of five: `7k2m9-x4qrt`, 50 random bits.
Only the SHA-256 of a code is stored, as for the patrons' emailed sign-in tokens: the codes are random,
not chosen, and they are only the second step, after the password. A slow salted hash (the passwords'
scrypt) would cost every attempt a check against each unused code, and a hash keyed with SECRET_KEY would
void every code the day that key is rotated; whoever can read this table can read the TOTP secrets beside
it anyway.
"""

from __future__ import annotations

import hashlib
import secrets

CODE_COUNT = 10
ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz"
GROUP_LENGTH = 5
CODE_LENGTH = 2 * GROUP_LENGTH
# What people type for what they see: capitals, and the letters the alphabet leaves out for the digits.
_READ_AS = str.maketrans({"o": "0", "i": "1", "l": "1", "-": None})


def new_codes(count: int = CODE_COUNT) -> list[str]:
    """`count` different random codes, as stored (ten characters; `formatted` adds the hyphen for reading)."""
    codes: list[str] = []
    while len(codes) < count:
        code = "".join(secrets.choice(ALPHABET) for _ in range(CODE_LENGTH))
        if code not in codes:
            codes.append(code)
    return codes


def formatted(code: str) -> str:
    """A code as shown: two groups of five."""
    return f"{code[:GROUP_LENGTH]}-{code[GROUP_LENGTH:]}"


def normalise(typed: str) -> str | None:
    """The code's ten characters as stored, whatever the case, spaces and hyphens; None if it can't be a code."""
    code = "".join(typed.split()).lower().translate(_READ_AS)
    if len(code) != CODE_LENGTH or any(char not in ALPHABET for char in code):
        return None
    return code


def code_hash(code: str) -> str:
    """What a code (as `normalise` returns it) is stored as: its SHA-256, in hex."""
    return hashlib.sha256(code.encode()).hexdigest()
