from rrlib.progress import progress


def test_progress_prints_a_few_lines_and_yields_everything(capsys):
    assert list(progress(range(100), "SIFT")) == list(range(100))
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "SIFT: 100 to do"
    assert [line.split(" (")[0] for line in lines[1:-1]] == ["SIFT: 25 / 100", "SIFT: 50 / 100", "SIFT: 75 / 100"]
    assert all("left" in line for line in lines[1:-1])
    assert lines[-1].startswith("SIFT: done (100) in ")
    assert "\r" not in "".join(lines)  # plain lines, never a redrawn bar


def test_progress_of_an_iterator_and_when_disabled(capsys):
    assert list(progress(iter("abc"), "letters", total=3, steps=1)) == ["a", "b", "c"]
    assert capsys.readouterr().out.splitlines()[-1].startswith("letters: done (3)")
    assert list(progress((x for x in "ab"), "unknown length")) == ["a", "b"]
    assert capsys.readouterr().out.splitlines()[0] == "unknown length ..."
    assert list(progress(range(5), "quiet", enabled=False)) == list(range(5))
    assert capsys.readouterr().out == ""
