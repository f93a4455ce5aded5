"""The output guard: the tool writes only into a new or empty folder, or one it marked."""

import pytest

from landslide4sense.store.output import NotABenchmarkError, check_output, claim_output


def test_a_new_an_empty_and_a_marked_folder_are_accepted(tmp_path):
    check_output(tmp_path / "new")
    (tmp_path / "empty").mkdir()
    check_output(tmp_path / "empty")
    assert claim_output(tmp_path / "empty") and not claim_output(tmp_path / "empty")
    (tmp_path / "empty" / "notes.txt").write_text("a benchmark of ours: anything may lie here")
    check_output(tmp_path / "empty")


@pytest.mark.parametrize(
    ("held", "shown"),
    [
        ({".l4s/lock": "", "notes.txt": "mine"}, ".l4s/, notes.txt"),  # half claimed, and a file
        ({".git/HEAD": "ref: refs/heads/main\n"}, ".git/"),  # only dotfiles
        ({".env": "SECRET=1\n"}, ".env"),
    ],
)
def test_a_folder_with_files_the_tool_did_not_write_is_refused(tmp_path, held, shown):
    out = tmp_path / "out"
    for name, text in held.items():
        (out / name).parent.mkdir(parents=True, exist_ok=True)
        (out / name).write_text(text)
    before = sorted(p.relative_to(out) for p in out.rglob("*"))
    with pytest.raises(NotABenchmarkError, match=rf"not empty: it holds {shown}\. "):
        check_output(out)
    with pytest.raises(NotABenchmarkError):
        claim_output(out)
    assert sorted(p.relative_to(out) for p in out.rglob("*")) == before  # left as it was
