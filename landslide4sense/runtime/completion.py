"""Shell completion of a command line, generated from its argparse parser.

:func:`bash_script` walks the parser's sub-commands (and their sub-commands) and writes one bash
function that completes, for the command typed so far, its sub-commands and options, an
option's choices after it, and file names elsewhere. Generated, so it never lags the parser.
"""

from __future__ import annotations

import argparse
import shlex


def _sub_parsers(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    """A parser's sub-commands by name (none when it has none)."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


def _commands(
    parser: argparse.ArgumentParser, path: str = ""
) -> dict[str, argparse.ArgumentParser]:
    """Every (sub-)command of ``parser`` by its words (``""`` is the program, ``"annotate
    merge"`` a step), depth first."""
    found = {path: parser}
    for name, sub in _sub_parsers(parser).items():
        found |= _commands(sub, f"{path} {name}".strip())
    return found


def _options(parser: argparse.ArgumentParser) -> list[str]:
    """A command's long options."""
    return [o for a in parser._actions for o in a.option_strings if o.startswith("--")]


def _choices(parser: argparse.ArgumentParser) -> dict[str, list[str]]:
    """The choices of each option that has them."""
    return {
        option: [str(c) for c in action.choices]
        for action in parser._actions
        if action.option_strings and action.choices
        for option in action.option_strings
    }


def bash_script(parser: argparse.ArgumentParser) -> str:
    """A bash completion script for ``parser`` (``eval "$(prog completion bash)"``)."""
    prog = parser.prog
    fn = "_" + prog.replace("-", "_")
    commands = _commands(parser)
    nested = " | ".join(shlex.quote(k) for k in commands if k)
    words, values = [], []
    for key, sub in commands.items():
        subs, options = (
            shlex.quote(" ".join(_sub_parsers(sub))),
            shlex.quote(" ".join(_options(sub))),
        )
        words.append(f"        {shlex.quote(key)}) subs={subs} opts={options} ;;")
        for option, choices in _choices(sub).items():
            pattern = shlex.quote(f"{key}|{option}")
            values.append(f"        {pattern}) opts={shlex.quote(' '.join(choices))} ;;")
    return f"""# bash completion of {prog} (generated from its parser: `{prog} completion bash`)
{fn}() {{
    local cur="${{COMP_WORDS[COMP_CWORD]}}" prev="${{COMP_WORDS[COMP_CWORD-1]}}"
    local key="" next subs="" opts="" i
    for ((i = 1; i < COMP_CWORD; i++)); do
        next="${{key:+$key }}${{COMP_WORDS[i]}}"
        case "$next" in
            {nested}) key="$next" ;;
        esac
    done
    case "$key|$prev" in  # an option's choices
{chr(10).join(values)}
    esac
    if [[ -n $opts ]]; then
        COMPREPLY=($(compgen -W "$opts" -- "$cur"))
        return
    fi
    case "$key" in
{chr(10).join(words)}
    esac
    if [[ $cur == -* ]]; then
        COMPREPLY=($(compgen -W "$opts" -- "$cur"))
    elif [[ -n $subs ]]; then
        COMPREPLY=($(compgen -W "$subs" -- "$cur"))
    else
        COMPREPLY=($(compgen -f -- "$cur"))
    fi
}}
complete -o filenames -F {fn} {prog}
"""
