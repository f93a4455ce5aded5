"""The production stack's secrets, checked before any of its services starts.

``docker compose up`` runs ``python -m landslide4sense.compose`` first (the ``preflight`` service
of docker-compose.yml); every other service waits for it to succeed. It refuses the stack when
a password or the Prefect API's authentication string is missing, too short, still the
placeholder of ``.env.example``, one short piece repeated (``aaaaaaaaaaaa``, ``prefectprefect``)
or made of common words and digits only (``change-me-now``, ``password2024``): a stack reachable
by others must not run on a guessable secret.
"""

from __future__ import annotations

import functools
import os
import re
import sys
from collections.abc import Mapping

from landslide4sense.errors import ConfigError

#: Values that are never accepted as a secret (the placeholders people copy and forget).
PLACEHOLDERS = frozenset(
    {
        "change-me",
        "changeme",
        "change_me",
        "password",
        "secret",
        "prefect",
        "postgres",
        "admin",
        "letmein",
        "123456",
        "12345678",
        "example",
    }
)
#: Words a guessed secret is made of (with digits and separators): the placeholders' parts, the
#: stack's own names, and the most common words of leaked password lists.
COMMON_WORDS = """
change me now please new my our the to let in pass word passwd pwd secret
prefect postgres postgresql admin root user test demo default server api auth
landslide landslides l4s hello welcome qwerty asdf monkey dragon master login
xyz iloveyou sunshine football shadow love super strong key token
"""
WORDS = PLACEHOLDERS | frozenset(COMMON_WORDS.split())
MIN_SECRET_LENGTH = 12
FIX = "set a long random value in .env (for example the output of `openssl rand -hex 24`)"


def _weak(value: str) -> str | None:
    """Why ``value`` is not acceptable as a secret, or None."""
    if not value:
        return "is empty"
    if value.lower() in PLACEHOLDERS:
        return f"is the placeholder {value!r}"
    if len(value) < MIN_SECRET_LENGTH:
        return f"has {len(value)} characters (at least {MIN_SECRET_LENGTH} are needed)"
    if re.fullmatch(r"(.+?)\1+", value, flags=re.DOTALL):
        return "repeats one short piece (guessable)"
    letters = re.sub(r"[^a-z]", "", value.lower())
    if not letters or _words(letters):
        return "is made of common words and digits (guessable)"
    return None


@functools.cache
def _words(text: str) -> bool:
    """Whether ``text`` (lower-case letters) splits entirely into :data:`WORDS`."""
    return not text or any(text[:n] in WORDS and _words(text[n:]) for n in range(len(text), 0, -1))


def stack_problems(env: Mapping[str, str]) -> list[str]:
    """Every problem with the stack's secrets in ``env``; empty when it may start.

    ``POSTGRES_PASSWORD`` is the database's; ``PREFECT_API_AUTH_STRING`` (``user:password``) is
    the basic-auth credential the Prefect server requires of every API and UI client.
    """
    problems = []
    why = _weak(env.get("POSTGRES_PASSWORD", ""))
    if why:
        problems.append(f"POSTGRES_PASSWORD {why}; {FIX}")
    auth = env.get("PREFECT_API_AUTH_STRING", "")
    user, sep, password = auth.partition(":")
    if not sep or not user:
        problems.append(
            "PREFECT_API_AUTH_STRING must be 'user:password' (the Prefect API and UI ask for it); "
            f"found {'nothing' if not auth else 'no user name and colon'}; {FIX} after 'admin:'"
        )
    elif why := _weak(password):
        problems.append(f"the password of PREFECT_API_AUTH_STRING {why}; {FIX} after '{user}:'")
    return problems


def check_stack(env: Mapping[str, str]) -> None:
    """Raise :class:`ConfigError` listing every problem of :func:`stack_problems`."""
    problems = stack_problems(env)
    if problems:
        raise ConfigError(
            ".env: the production stack will not start with these secrets:\n"
            + "\n".join(f"  {p}" for p in problems)
        )


def main() -> int:
    try:
        check_stack(os.environ)
    except ConfigError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print("stack secrets: ok")
    return 0


if __name__ == "__main__":
    sys.exit(main())
