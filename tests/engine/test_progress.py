"""Progress where it goes: in a log (no terminal), a long run writes a few lines, not one per chunk."""

import io

import bayeslstm as bl
from bayeslstm.engine.progress import LogLines, progress_bar


def test_a_run_without_a_terminal_writes_a_few_progress_lines(capsys):
    stream, _ = bl.teacher_stream(steps=3000, nodes=2, features=1, min_len=1, max_len=2, seed=0)
    bl.run(stream, "baseline-mean", progress=True, chunk_size=32)
    lines = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert 0 < len(lines) <= 6, lines  # ~94 chunks: a line each on a terminal
    assert all("\r" not in line for line in lines)


def test_log_lines_put_each_refresh_on_its_own_line():
    out = io.StringIO()
    bar = progress_bar(100, 0, True, "demo", stream=out)
    bar.set_description_str("demo: compiling")
    bar.update(100)
    bar.close()
    text = out.getvalue()
    assert "\r" not in text and "demo: compiling" in text and text.endswith("\n")
    assert isinstance(bar.fp._wrapped, LogLines)  # tqdm wraps the stream it is given
