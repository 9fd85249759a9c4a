"""Jobs through a real broker and real workers (separate processes, real containers)."""
import json
import pathlib
import subprocess

import pytest

from cluster_util import BIN_DIR, bb_job, wait_for
from testlib import NOBODY


def test_jobs_run_and_report_states(cluster, busybox_tar):
    cluster.start_broker()
    cluster.start_worker(slots=2)
    cluster.start_worker(slots=2)
    cluster.wait_workers(2)
    jobs = [bb_job(busybox_tar, "echo", "hello", str(i)) for i in range(20)]
    rc, results, err = cluster.client(jobs)
    assert rc == 0, err
    assert len(results) == 20
    for i, r in results.items():
        assert r["result"] == "exited" and r["code"] == 0, r
        assert r["stdout"] == f"hello {i}\n"
        states = r["states"]
        assert states[0] == "waiting_for_artifacts" or states[0] == "pending"
        assert "running" in states and states[-1] == "completed"
        assert states[states.index("running") + 1].startswith("worker ")
    # Both workers took part; the layer was uploaded to the broker once.
    names = {r["states"][r["states"].index("running") + 1] for r in results.values()}
    assert len(names) == 2, names
    assert cluster.status()["completed"] == 20


CASES = [
    ("echo", ["out"], "out\n", 0),
    ("sh", ["-c", "echo err >&2; exit 3"], "", 3),
    ("sh", ["-c", "echo $PATH; pwd"], "/bin\n/\n", 0),
    ("sh", ["-c", "cat /proc/self/status >/dev/null 2>&1; id -u"], "0\n", 0),
]


@pytest.mark.parametrize("program,args,stdout,code", CASES)
def test_results_identical_to_standalone(cluster, busybox_tar, tmp_path, program, args, stdout, code):
    cluster.start_broker()
    cluster.start_worker(slots=1)
    rc, results, err = cluster.client([bb_job(busybox_tar, program, *args)])
    assert rc == 0, err
    r = results[0]
    assert (r["result"], r.get("code"), r["stdout"]) == ("exited", code, stdout), r
    run = BIN_DIR / "maelstrom-run"
    if not run.exists():
        pytest.skip("maelstrom-run is not built: only the cluster side was checked")
    spec = {"layers": [{"tar": str(busybox_tar)}], "environment": {"PATH": "/bin"}, "program": program,
            "arguments": args}
    (tmp_path / "spec.json").write_text(json.dumps(spec))
    s = subprocess.run([str(run), "--one", "--file", str(tmp_path / "spec.json")], capture_output=True, text=True,
                       timeout=120, env=cluster.env(), cwd=tmp_path)
    assert s.returncode == code, s.stderr
    assert s.stdout == r["stdout"]
    if code:
        assert "err" in r["stderr"] and "err" in s.stderr


def test_timeout_reported(cluster, busybox_tar):
    cluster.start_broker()
    cluster.start_worker(slots=2)
    rc, results, err = cluster.client([bb_job(busybox_tar, "sleep", "30", timeout_ms=300),
                                       bb_job(busybox_tar, "echo", "quick", timeout_ms=60000)])
    assert rc == 0, err
    assert results[0]["result"] == "timed_out"
    assert results[1]["result"] == "exited" and results[1]["stdout"] == "quick\n"


def test_worker_started_late_picks_up_work(cluster, busybox_tar):
    cluster.start_broker()
    client = cluster.start_client([bb_job(busybox_tar, "echo", str(i)) for i in range(5)])
    wait_for(lambda: cluster.status()["queued"] == 5, what="jobs queued without workers")
    cluster.start_worker(slots=2)
    out, _ = client.p.communicate(timeout=120)
    assert client.p.returncode == 0, client.log_text()
    results = [json.loads(line) for line in out.splitlines() if '"index"' in line]
    assert sorted(r["stdout"] for r in results) == [f"{i}\n" for i in range(5)]


def test_artifact_uploaded_once_for_many_clients(cluster, busybox_tar):
    cluster.start_broker("--log-level", "debug")
    cluster.start_worker(slots=2)
    jobs = [bb_job(busybox_tar, "true") for _ in range(5)]
    clients = [cluster.start_client(jobs) for _ in range(3)]
    for c in clients:
        c.p.communicate(timeout=120)
        assert c.p.returncode == 0, c.log_text()
    assert cluster.broker.log_text().count("stored sha256:") == 1


def test_admin_status_and_stop(cluster, busybox_tar):
    cluster.start_broker()
    w1 = cluster.start_worker(slots=3)
    w2 = cluster.start_worker(slots=1)
    cluster.wait_workers(2)
    admin = str(BIN_DIR / "maelstrom-admin")
    r = subprocess.run([admin, "-b", cluster.address, "status"], capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stderr
    assert "workers: 2" in r.stdout and "slots: 0 used of 4" in r.stdout
    r = subprocess.run([admin, "-b", cluster.address, "stop"], capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stderr
    for p in (cluster.broker, w1, w2):
        assert p.p.wait(timeout=30) == 0, p.log_text()


def test_a_worker_without_privileges_runs_real_containers(nobody_tmp, cluster, busybox_tar):
    """Workers are meant to run as an ordinary user (the systemd units do): the same jobs, the
    same results, its cache owned by that user. (nobody_tmp comes first: it outlives the worker.)"""
    cache = nobody_tmp / "worker-cache"
    cache.mkdir()
    subprocess.run(["chown", "-R", f"{NOBODY}:{NOBODY}", str(nobody_tmp)], check=True)
    cluster.start_broker()
    worker = cluster.start_worker(2, None, None, "unprivileged", as_user=NOBODY, cache_root=cache)
    cluster.wait_workers(1)
    # setpriv execs the worker: the process started is the worker, running as that user.
    assert pathlib.Path(f"/proc/{worker.p.pid}").stat().st_uid == NOBODY
    mounts = [{"type": "tmp", "mount_point": "/tmp"}, {"type": "proc", "mount_point": "/proc"}]

    def run(*script):
        rc, results, err = cluster.client([bb_job(busybox_tar, "sh", "-c", *script, mounts=mounts)])
        assert rc == 0, err + worker.log_text()
        assert results[0]["states"][results[0]["states"].index("running") + 1].endswith("(unprivileged)")
        return results[0]

    r = run("id -u; echo x > /tmp/f && cat /tmp/f")
    assert (r["result"], r["code"], r["stdout"]) == ("exited", 0, "0\nx\n"), r
    r = run("ls -A /tmp | wc -l")  # after the job above: each job has a /tmp of its own
    assert (r["code"], r["stdout"].strip()) == (0, "0"), r
    r = run("exit 7")
    assert (r["result"], r["code"]) == ("exited", 7), r
    assert worker.alive()
    worker.stop()
