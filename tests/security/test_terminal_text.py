"""User text is shown as text: no Rich markup, no terminal control sequences.

Found: an ESC sequence in a description or evidence filename retitled the window and cleared the
screen in ``issue show``; a description like ``[/][link=…]…`` made ``followup list`` fail for
everyone with a MarkupError.
"""

from __future__ import annotations

import io

from rich.console import Console

from lookback.output import Output, Table, clean

ESC_TITLE = "\x1b]0;pwned\x07"  # retitles the terminal window
CLEAR = "\x1b[2J\x1b[H"  # clears the screen
MARKUP = "[/][link=http://evil.example]click[/link][bold red]"


def _render(table: Table) -> str:
    buf = io.StringIO()
    Console(file=buf, force_terminal=True, width=200, color_system=None).print(table)
    return buf.getvalue()


def test_control_characters_are_shown_not_obeyed() -> None:
    assert clean(f"台账{ESC_TITLE}缺失{CLEAR}") == (
        "台账\\x1b]0;pwned\\x07缺失\\x1b[2J\\x1b[H")
    assert clean("第一行\n\t第二行") == "第一行\n\t第二行"
    assert clean("\x9b31m") == "\\x9b31m"  # a C1 control too


def test_a_table_prints_markup_and_escapes_as_text() -> None:
    t = Table(title=f"督查 {MARKUP}")
    t.add_column("描述")
    t.add_row(f"过期牛奶{MARKUP}{ESC_TITLE}{CLEAR}")
    out = _render(t)  # a MarkupError here was the bug
    assert "\x1b]" not in out and "\x1b[2J" not in out
    assert "[link=http://evil.example]" in out and "\\x1b]0;pwned" in out


def test_messages_are_cleaned_too(capsys: object) -> None:
    o = Output("zh", json_mode=False)
    buf = io.StringIO()
    o.out = Console(file=buf, force_terminal=True, color_system=None)
    o.say(f"issue {ESC_TITLE}", f"问题{ESC_TITLE}{MARKUP}")
    assert "\x1b]" not in buf.getvalue() and MARKUP in buf.getvalue()


def test_control_characters_are_refused_on_input() -> None:
    import pytest

    from domain.errors import BadArgumentError
    from domain.text import refuse_controls

    refuse_controls("第一行\n\t第二行", "--note")  # line breaks and tabs have a meaning
    for text in (ESC_TITLE, CLEAR, "a\x00b", "\x08\x08\x08ok", "\x9b31m"):
        with pytest.raises(BadArgumentError) as e:
            refuse_controls(f"过期牛奶{text}", "--description")
        assert e.value.code == "control_characters" and "--description" in e.value.en
