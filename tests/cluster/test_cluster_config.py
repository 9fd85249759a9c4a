"""Configuration of the cluster programs: values from config files, the
environment and flags (in that order of strength), shown by -P and taking
effect; and the systemd units and config files of docs/cluster.md, which must
be accepted by the programs they start."""
import json
import re
import subprocess
import tomllib

import pytest

from cluster_util import ROOT, Proc, bin_path, wait_for

DOC = ROOT / "docs" / "cluster.md"


def print_config(cluster, program, *args, env=None, config=None):
    """`program -P` with an XDG config file holding `config` (a TOML string) and extra environment."""
    e = cluster.env()
    if config is not None:
        d = cluster.tmp / "config" / "maelstrom" / program.removeprefix("maelstrom-")
        d.mkdir(parents=True, exist_ok=True)
        (d / "config.toml").write_text(config)
    e.update(env or {})
    r = subprocess.run([bin_path(program), *args, "-P"], capture_output=True, text=True, timeout=30, env=e)
    assert r.returncode == 0, r.stderr
    return tomllib.loads(r.stdout)


# file < environment (program prefix, then plain MAELSTROM_) < flag, for each key the issue names.
@pytest.mark.parametrize("program,prefix", [("maelstrom-worker", "MAELSTROM_WORKER"),
                                            ("maelstrom-run", "MAELSTROM_RUN")])
def test_worker_and_client_values_from_file_env_and_flags(cluster, program, prefix):
    config = ('broker = "file.example:1"\nslots = 3\ncache-root = "/from/file"\ncache-size = "2 GB"\n'
              'log-level = "debug"\n')
    got = print_config(cluster, program, config=config)
    assert (got["broker"], got["slots"], got["cache-root"], got["cache-size"], got["log-level"]) == (
        "file.example:1", 3, "/from/file", "2 GB", "debug")
    env = {f"{prefix}_SLOTS": "5", "MAELSTROM_CACHE_SIZE": "3 GB", f"{prefix}_BROKER": "env.example:2",
           "MAELSTROM_LOG_LEVEL": "warning"}
    got = print_config(cluster, program, env=env)
    assert (got["broker"], got["slots"], got["cache-root"], got["cache-size"], got["log-level"]) == (
        "env.example:2", 5, "/from/file", "3 GB", "warning")
    got = print_config(cluster, program, "--broker", "flag.example:3", "--slots", "7", "--cache-root", "/from/flag",
                       "--cache-size", "4 GB", "-L", "error", env=env)
    assert (got["broker"], got["slots"], got["cache-root"], got["cache-size"], got["log-level"]) == (
        "flag.example:3", 7, "/from/flag", "4 GB", "error")


def test_broker_values_from_file_env_and_flags(cluster):
    got = print_config(cluster, "maelstrom-broker", config='port = 9100\ncache-root = "/b/file"\ncache-size = "5 GB"\n',
                       env={"MAELSTROM_BROKER_HTTP_PORT": "9101", "MAELSTROM_BROKER_LOG_LEVEL": "debug"})
    assert (got["port"], got["http-port"], got["cache-root"], got["cache-size"], got["log-level"]) == (
        9100, 9101, "/b/file", "5 GB", "debug")
    got = print_config(cluster, "maelstrom-broker", "--cache-size", "6 GB", "--port", "9102",
                       env={"MAELSTROM_BROKER_CACHE_SIZE": "1 GB"})
    assert (got["port"], got["cache-size"]) == (9102, "6 GB")


def test_values_from_config_files_take_effect(cluster):
    config = cluster.tmp / "config" / "maelstrom"
    # The broker's file sets its log level: its info lines are gone.
    (config / "broker").mkdir(parents=True)
    (config / "broker" / "config.toml").write_text('log-level = "warning"\n')
    cluster.start_broker()
    # A worker configured by its file alone: broker, slots, cache root and log level.
    (config / "worker").mkdir(parents=True)
    root = cluster.tmp / "worker-from-file"
    (config / "worker" / "config.toml").write_text(
        f'broker = "{cluster.address}"\nslots = 3\ncache-root = "{root}"\ncache-size = "10 MB"\n'
        'log-level = "error"\n')
    w = Proc([bin_path("maelstrom-worker"), "--name", "from-file"], cluster.tmp / "from-file.log", env=cluster.env())
    cluster.procs.append(w)
    wait_for(lambda: [x["slots"] for x in cluster.status()["workers"]] == [3], what="the worker with 3 slots")
    assert root.is_dir()
    assert w.log_text() == ""  # "connected to broker" is an info line
    assert "listening on port" not in cluster.broker.log_text()
    assert "info:" not in cluster.broker.log_text()


def doc_blocks(lang):
    return re.findall(rf"```{lang}\n(.*?)```", DOC.read_text(), re.S)


def test_systemd_units_in_docs_start_programs_with_accepted_config(cluster):
    units = [b for b in doc_blocks("ini") if "[Service]" in b]
    configs = {}
    for b in doc_blocks("toml"):
        m = re.match(r"# (\S+)\n", b)
        if m:
            configs[m.group(1)] = b
    programs = set()
    for unit in units:
        for section in ("[Unit]", "[Service]", "[Install]"):
            assert section in unit, unit
        user = re.search(r"^User=(\S+)$", unit, re.M)
        assert user and user.group(1) != "root", "the units run unprivileged"
        assert re.search(r"^Restart=", unit, re.M)
        exec_start = re.search(r"^ExecStart=(\S+) (.*)$", unit, re.M)
        program = exec_start.group(1).rsplit("/", 1)[1]
        args = exec_start.group(2).split()
        config_path = args[args.index("--config-file") + 1]
        assert config_path in configs, f"docs/cluster.md shows no {config_path}"
        # The program accepts every key of the documented file, with the documented values.
        f = cluster.tmp / f"{program}.toml"
        f.write_text(configs[config_path])
        args[args.index("--config-file") + 1] = str(f)
        r = subprocess.run([bin_path(program), *args, "-P"], capture_output=True, text=True, timeout=30,
                           env=cluster.env())
        assert r.returncode == 0, (program, r.stderr)
        shown = tomllib.loads(r.stdout)
        for key, value in tomllib.loads(configs[config_path]).items():
            assert shown[key] == value, (program, key)
        programs.add(program)
    assert programs == {"maelstrom-broker", "maelstrom-worker"}


def test_port_in_use_is_refused(cluster):
    # A second broker on the same port would split the workers and clients between the two.
    cluster.start_broker()
    e = cluster.env()
    r = subprocess.run([bin_path("maelstrom-broker"), "--port", str(cluster.port), "--http-port", "0",
                        "--cache-root", str(cluster.tmp / "second-cache")], capture_output=True, text=True,
                       timeout=30, env=e)
    assert r.returncode != 0
    lines = [l for l in r.stderr.splitlines() if l.strip()]
    assert len(lines) == 1 and f"cannot listen on port {cluster.port}" in lines[0], r.stderr
    assert "choose another --port" in lines[0]


@pytest.mark.parametrize("value", ["0", "1s"])
def test_heartbeat_timeout_below_the_interval_is_refused(cluster, value):
    r = subprocess.run([bin_path("maelstrom-broker"), "--heartbeat-timeout", value, "--port", "0", "--http-port", "0",
                        "--cache-root", str(cluster.tmp / "cache")], capture_output=True, text=True, timeout=30,
                       env=cluster.env())
    lines = [l for l in r.stderr.splitlines() if l.strip()]
    assert r.returncode == 2 and len(lines) == 1, r.stderr
    assert lines[0] == (f'error: command-line option --heartbeat-timeout: invalid value "{value}": must be at least 2s'
                        ' (see maelstrom-broker --help)'), lines[0]


@pytest.mark.parametrize("program", ["maelstrom-run", "maelstrom-worker", "maelstrom-admin", "cargo-maelstrom"])
@pytest.mark.parametrize("value,why", [("localhost", "the port is missing"), ("", "the port is missing"),
                                       ("localhost:99999", "the port must be a number from 1 to 65535"),
                                       ("::1:9001", "write an IPv6 host in brackets")])
def test_a_broker_address_that_cannot_be_dialed_is_refused_at_once(cluster, program, value, why):
    # Checked before anything starts (no connection attempts, no retry loop, no gRPC log lines).
    r = subprocess.run([bin_path(program), "--broker", value], capture_output=True, text=True, timeout=30,
                       env=cluster.env(), cwd=cluster.tmp)
    lines = [l for l in r.stderr.splitlines() if l.strip()]
    assert r.returncode == 2 and len(lines) == 1, r.stderr
    assert lines[0].startswith(f'error: command-line option --broker: invalid value "{value}": '), lines[0]
    assert why in lines[0]


def test_the_documented_roles_example_runs_as_written(cluster, tmp_path):
    """docs/cluster.md's CA, certificates and config files, with its host name, ports and paths
    replaced by this machine's: a worker, a client and an admin each do what their role allows."""
    from cluster_util import free_port
    from testlib import job
    doc = DOC.read_text()
    section = doc[doc.index("### A complete example: mutual TLS with roles"):doc.index("### Role tokens over TLS")]
    port, http_port = free_port(), free_port()
    etc = tmp_path / "etc"
    etc.mkdir()

    def localize(text):
        for a, b in (("broker.example.org:9000", f"localhost:{port}"), ("broker.example.org", "localhost"),
                     ("port = 9000", f"port = {port}"), ("http-port = 9001", f"http-port = {http_port}"),
                     ("/etc/maelstrom/", f"{etc}/"), ("/var/cache/", f"{tmp_path}/cache-"),
                     ("/home/ci/.config/maelstrom/", f"{etc}/"), ("/home/alice/.config/maelstrom/", f"{etc}/")):
            text = text.replace(a, b)
        return text

    script = re.search(r"```sh\n(.*?)```", section, re.S).group(1)
    subprocess.run(["sh", "-e", "-c", localize(script)], cwd=etc, check=True, capture_output=True, timeout=60)
    configs = {m.group(1): localize(m.group(2)) for m in re.finditer(r"```toml\n# (\S+)[^\n]*\n(.*?)```", section, re.S)}
    assert set(configs) == {"/etc/maelstrom/broker.toml", "/etc/maelstrom/worker.toml",
                            "~/.config/maelstrom/run/config.toml", "~/.config/maelstrom/admin/config.toml"}
    for name, text in configs.items():
        if name.startswith("~/.config/maelstrom/"):
            f = cluster.tmp / "config" / name.removeprefix("~/.config/")
        else:
            f = tmp_path / name.rsplit("/", 1)[1]
        f.parent.mkdir(parents=True, exist_ok=True)
        f.write_text(text)
    broker = Proc([bin_path("maelstrom-broker"), "--config-file", str(tmp_path / "broker.toml")],
                  tmp_path / "broker.log", env=cluster.env())
    cluster.procs.append(broker)
    assert broker.p.stdout.readline().startswith(f"listening on port {port}; web page on port {http_port}")
    worker = Proc([bin_path("maelstrom-worker"), "--config-file", str(tmp_path / "worker.toml")],
                  tmp_path / "worker.log", env=cluster.env())
    cluster.procs.append(worker)
    admin = [bin_path("maelstrom-admin")]
    wait_for(lambda: "workers: 1\n" in subprocess.run(admin + ["status"], capture_output=True, text=True, timeout=30,
                                                      env=cluster.env()).stdout, what="the worker connected")
    f = tmp_path / "jobs.json"
    f.write_text(json.dumps(job("echo", "as documented")))
    r = subprocess.run([bin_path("maelstrom-run"), "--file", str(f)], capture_output=True, text=True, timeout=120,
                       env=cluster.env(), cwd=tmp_path)
    assert r.returncode == 0 and r.stdout == "as documented\n", r.stderr
    # The client's certificate (the run configuration's) cannot stop the broker; the admin's can.
    r = subprocess.run(admin + ["-c", str(cluster.tmp / "config/maelstrom/run/config.toml"), "stop"],
                       capture_output=True, text=True, timeout=30, env=cluster.env())
    assert r.returncode == 1 and "CN=client-1 has the client role, not the admin role" in r.stderr, r.stderr
    r = subprocess.run(admin + ["stop"], capture_output=True, text=True, timeout=30, env=cluster.env())
    assert r.returncode == 0, r.stderr
    assert broker.p.wait(timeout=30) == 0 and worker.p.wait(timeout=30) == 0
    log = broker.log_text()
    assert " as CN=worker-1\n" in log and " as CN=client-1\n" in log and "stop requested by CN=admin-1" in log
