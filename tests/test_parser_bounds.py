"""Input a user controls is bounded: pathological job streams, stubs and config files end in one
clear line and a non-zero exit, never a crash."""
from testlib import busybox_layers, job


def one_line_error(r):
    assert r.returncode == 1, (r.returncode, r.stderr[-2000:])  # not killed by a signal
    lines = [l for l in r.stderr.splitlines() if l.strip()]
    assert len(lines) == 1, r.stderr[-2000:]
    return lines[0]


def test_a_job_stream_nested_a_million_deep(runner):
    # This crashed maelstrom-run with SIGSEGV (its value tree was torn down recursively).
    n = 1_000_000
    text = '{"program": "true",\n "arguments": ' + "[" * n + "]" * n + "}\n"
    line = one_line_error(runner.run(None, stdin_text=text))
    assert line == "error: stdin: line 2 column 142: arrays and objects nested more than 128 levels deep (the limit)"


def test_a_job_spec_over_the_size_bound(runner):
    text = '\n{"program": "' + "x" * (17 << 20) + '"}\n'
    line = one_line_error(runner.run(None, stdin_text=text))
    assert line == ("error: stdin: line 2: a JSON value longer than 16 MiB "
                    "(the limit for one job spec or containers object)")


def test_stubs_that_expand_past_the_bound(runner):
    # 2^19 paths took 110 s; refused before any is made.
    pattern = "/x" + "/{a,b}" * 19
    r = runner.run([job("true", layers=busybox_layers() + [{"stubs": [pattern]}])])
    line = one_line_error(r)
    assert line.endswith(f"stubs entry '{pattern}': expands to more than 10000 paths in one stubs layer (the limit)"), line


def test_stubs_expand_single_alternatives_as_maelstrom(runner):
    # "{a}" is "a" in Maelstrom's stubs (it was kept as "{a}" here); "{b,}" keeps the empty one.
    r = runner.run([job("ls", "-1", "/x", "/x/a", layers=busybox_layers() + [{"stubs": ["/x/{a}/", "/x/a/{b,}c"]}])])
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == ["/x:", "a", "/x/a:", "bc", "c"], r.stdout


def test_a_config_file_nested_too_deep(runner):
    config = runner.tmp / "config.toml"
    config.write_text("slots = 2\n" + "a." * 1_000_000 + "b = 1\n")
    line = one_line_error(runner.run([job("true")], "--config-file", str(config)))
    assert line == (f"error: {config}: line 2: tables and arrays nested more than 128 levels deep "
                    "(the limit; each part of a dotted key is a level)")
