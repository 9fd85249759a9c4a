"""maelstrom-run end to end: bad input gives one clear line and a non-zero exit."""
import json

from testlib import busybox_layers, job


def one_line_error(r):
    assert r.returncode != 0
    lines = [l for l in r.stderr.splitlines() if l.strip()]
    assert len(lines) == 1, r.stderr
    return lines[0]


def test_malformed_json_names_line_and_column(runner):
    f = runner.tmp / "bad.json"
    f.write_text('{"program": "x",\n  "arguments": [1 2]}')
    r = runner.run(None, "--file", str(f))
    line = one_line_error(r)
    assert "bad.json" in line and "line 2" in line and "column" in line


def test_unknown_field(runner):
    line = one_line_error(runner.run([dict(job("true"), colour="blue")]))
    assert "colour" in line


def test_missing_program(runner):
    spec = job("true")
    del spec["program"]
    line = one_line_error(runner.run([spec]))
    assert "program" in line


def test_layer_path_that_does_not_exist(runner):
    # Found only when the job is sent: the line names the job file and the job's line in it.
    jobs = [job("true", layers=busybox_layers()), job("true", layers=busybox_layers() + [{"paths": ["no/such/file"]}])]
    line = one_line_error(runner.run(jobs))
    assert line.startswith(f"error: {runner.tmp / 'jobs.json'}: line 2: ") and "no/such/file" in line, line


def test_missing_job_file(runner):
    r = runner.run(None, "--file", "/no/such/jobs.json")
    line = one_line_error(r)
    assert r.returncode == 1
    assert line == "error: cannot read job file /no/such/jobs.json: No such file or directory"


def test_job_file_that_is_a_directory(runner):
    line = one_line_error(runner.run(None, "--file", str(runner.tmp)))
    assert line == f"error: cannot read job file {runner.tmp}: it is a directory; give a file of JSON job specs"


def test_mistyped_option_is_not_taken_for_a_program(runner):
    for args in (["--bogus"], ["--one", "--slot", "3"]):
        r = runner.run([job("true", layers=busybox_layers())], *args)
        assert r.returncode == 2, r.stderr  # a usage error, as the option parser's own
        line = one_line_error(r)
        opt = args[-2] if len(args) > 1 else args[0]
        assert line.startswith(f"error: unknown option {opt} ("), line
        assert line.endswith("(see maelstrom-run --help)"), line


def test_double_dash_starts_the_command_line(runner):
    r = runner.run([job("true", layers=busybox_layers())], "--one", "--", "echo", "-n", "from the command line")
    assert r.returncode == 0 and r.stdout == "from the command line", r.stderr


def test_bad_escape_char_is_refused_without_tty_too(runner):
    line = one_line_error(runner.run([job("true", layers=busybox_layers())], "--escape-char", "xyz"))
    assert line.startswith('error: command-line option --escape-char: invalid value "xyz": not an ASCII escape'), line


def test_help_shows_the_configuration_sources_and_version_flags(runner):
    r = runner.run(None, "--help")
    assert r.returncode == 0
    assert "-f,--file FILE" in r.stdout
    assert "environment variables MAELSTROM_RUN_<NAME> or MAELSTROM_<NAME>" in r.stdout
    assert "any arguments after the options replace the job's program" in r.stdout
    for flag in ("-V", "--version"):
        r = runner.run(None, flag)
        assert r.returncode == 0 and r.stdout.startswith("maelstrom-run "), r.stderr


def test_bad_network_value(runner):
    line = one_line_error(runner.run([job("true", network="internet")]))
    assert "internet" in line


def test_bad_config_value(runner):
    r = runner.run([job("true")], "--slots", "lots")
    assert r.returncode != 0
    assert "slots" in r.stderr


def test_print_config_shows_layering(runner):
    r = runner.run(None, "-P", env={"MAELSTROM_RUN_SLOTS": "3"})
    assert r.returncode == 0, r.stderr
    assert "slots = 3" in r.stdout
    r = runner.run(None, "-P", "--slots", "5", env={"MAELSTROM_RUN_SLOTS": "3"})
    assert "slots = 5" in r.stdout


def test_unusable_cache_and_depot_directories_name_their_option(runner):
    line = one_line_error(runner.run([job("true")], "--cache-root", ""))
    assert line == ('error: command-line option --cache-root: invalid value "": an empty path; give a directory'
                    ' (see maelstrom-run --help)')
    line = one_line_error(runner.run([{"image": "oci:/nonexistent", "program": "/bin/sh"}],
                                     "--container-image-depot-root", "/proc/none"))
    assert "cannot use container image depot /proc/none" in line, line
    assert line.endswith("pick another with --container-image-depot-root"), line


def test_a_tar_layer_that_is_not_a_tar_names_the_file_and_line(runner):
    (runner.tmp / "bad.tar").write_text("not a tar at all\n")
    line = one_line_error(runner.run([job("true", layers=busybox_layers() + [{"tar": "bad.tar"}])]))
    assert line.startswith("error: ") and ": line 1: tar layer bad.tar is not a tar archive (" in line, line


def test_a_program_whose_loader_is_missing_says_so(runner):
    r = runner.run([{"program": "/bin/ls", "layers": [{"paths": ["/bin/ls"]}]}])
    assert r.returncode == 1
    assert "executing /bin/ls: its interpreter /lib" in r.stderr and "is not in the container" in r.stderr, r.stderr


def test_a_bad_line_after_started_jobs_says_they_were_stopped(runner):
    f = runner.tmp / "jobs.json"
    f.write_text(json.dumps(job("sleep", "30")) + "\n" + '{"program": \n')
    r = runner.run(None, "--file", str(f))
    line = one_line_error(r)
    assert line.startswith(f"error: {f}: line 2 column "), line
    assert line.endswith("(1 job already started was stopped)"), line
    assert r.returncode == 1


def test_shm_device_on_a_file_stub_says_it_needs_a_directory(runner):
    layers = [{"paths": ["/bin/busybox"]}, {"symlinks": [{"link": "/bin/true", "target": "busybox"}]},
              {"stubs": ["/dev/shm"]}]  # a file, not "/dev/shm/"
    line = one_line_error(runner.run([job("true", layers=layers, mounts=[{"type": "devices", "devices": ["shm"]}])]))
    assert 'device /dev/shm needs a directory at /dev/shm, not a file: make its stub "/dev/shm/"' in line
    layers[2] = {"stubs": ["/dev/shm/"]}
    r = runner.run([job("true", layers=layers, mounts=[{"type": "devices", "devices": ["shm"]}])])
    assert r.returncode == 0, r.stderr
