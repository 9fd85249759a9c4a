"""Uploads are bound to the client session the broker asked (a ticket in its request) and to the
size and limits the broker takes; per-client upload concurrency and cache use are bounded. The
misbehaving client is mael-rogue-peer."""
import hashlib
import json
import os
import subprocess

from cluster_util import bb_job, bin_path, rogue, tar_of


def jobs_file(tmp_path, jobs, name="jobs.json"):
    f = tmp_path / name
    f.write_text("\n".join(json.dumps(j) for j in jobs) + "\n")
    return f


def test_an_upload_in_another_clients_name_is_refused(cluster, busybox_tar, tmp_path):
    cluster.start_broker()
    cluster.start_worker(1)
    cluster.wait_workers(1)
    layer = tar_of(tmp_path / "victim.tar", {"data": b"the victim's layer\n"})
    job = bb_job(busybox_tar, "cat", "/data")
    job["layers"].append({"tar": str(layer)})
    # The victim holds its upload until told: the attacker goes first.
    victim = subprocess.Popen([bin_path("mael-rogue-peer"), "client", "--broker", cluster.address, "--jobs",
                               str(jobs_file(tmp_path, [job])), "--uploads", "hold"], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True)
    try:
        requests = []
        while len(requests) < 2:  # busybox and the victim's own layer
            event = json.loads(victim.stdout.readline())
            if event["event"] == "request":
                requests.append(event)
                victim.stdin.write("go\n" if len(requests) == 1 else "")
                victim.stdin.flush()
        mine = [r for r in requests if r["digest"] == hashlib.sha256(layer.read_bytes()).hexdigest()][0]
        # Its id and the digest are easy to guess; the ticket is not.
        for ticket in ("", "00" * 32):
            rc, events, err = rogue("upload", "--broker", cluster.address, "--client-id", str(mine["client_id"]),
                                    "--digest", mine["digest"], "--ticket", ticket, "--size", "4096")
            assert rc == 0, err
            assert events[-1]["status"]["code"] == 7, events  # PERMISSION_DENIED
            assert "ticket is not one the broker issued" in events[-1]["status"]["message"]
        victim.stdin.write("go\n")
        victim.stdin.flush()
        out, _ = victim.communicate(timeout=120)
    finally:
        if victim.poll() is None:
            victim.kill()
            victim.wait()
    done = [json.loads(l) for l in out.splitlines() if '"done"' in l]
    assert len(done) == 1 and done[0]["result"] == "exited" and done[0]["stdout"] == "the victim's layer\n", out
    assert "its ticket is not the one the broker gave client" in cluster.broker.log_text()


def test_an_upload_bigger_than_the_cache_is_refused_at_once(cluster, busybox_tar, tmp_path):
    cluster.start_broker("--cache-size", "10 MB")
    cache = cluster.tmp / "broker-cache"
    job = bb_job(busybox_tar, "true")
    declared = 20_000_000
    rc, events, err = rogue("client", "--broker", cluster.address, "--jobs", str(jobs_file(tmp_path, [job])),
                            "--uploads", f"declare={declared}")
    assert rc == 0, err
    upload = [e for e in events if e["event"] == "upload"][0]
    assert upload["status"]["code"] == 11, upload  # OUT_OF_RANGE, before the bytes
    assert "more than the broker takes from a client (10000000 bytes: its cache-size)" in upload["status"]["message"]
    assert upload["sent"] < declared
    done = [e for e in events if e["event"] == "done"][0]
    assert done["result"] == "error" and "more than the broker takes from a client" in done["error"]
    # Nothing of it is left in the cache.
    assert sum(f.stat().st_size for f in cache.rglob("*") if f.is_file()) < 1_000_000


def test_max_upload_size_bounds_uploads_below_the_cache(cluster, busybox_tar, tmp_path):
    cluster.start_broker("--max-upload-size", "1 MB")
    big = tmp_path / "big.tar"
    tar_of(big, {"blob": os.urandom(1_500_000)})
    job = bb_job(busybox_tar, "true")
    job["layers"].append({"tar": str(big)})
    rc, results, err = cluster.client([job])
    assert rc == 0, err
    assert results[0]["result"] == "error", results
    assert "more than the broker takes from a client (1000000 bytes: its max-upload-size)" in results[0]["error"]


def test_uploads_per_client_are_bounded(cluster, busybox_tar, tmp_path):
    cluster.start_broker("--max-uploads-per-client", "2")
    jobs = [{"layers": [{"tar": str(tar_of(tmp_path / f"l{i}.tar", {"f": os.urandom(200_000)}))}],
             "program": "true"} for i in range(6)]
    rc, events, err = rogue("client", "--broker", cluster.address, "--jobs", str(jobs_file(tmp_path, jobs)),
                            "--uploads", "parallel", "--expect-refused", "4")
    assert rc == 0, err
    assert [e["refused"] for e in events if e["event"] == "parallel"] == [4], events
    uploads = [e for e in events if e["event"] == "upload"]
    refused = [u for u in uploads if not u["held"]]
    assert len(refused) == 4 and all(u["status"]["code"] == 8 for u in refused), uploads  # RESOURCE_EXHAUSTED
    assert all("too many uploads at once from this client" in u["status"]["message"] for u in refused)
    assert [u["status"]["code"] for u in uploads if u["held"]] == [0, 0]


def test_a_clients_share_of_the_cache_is_bounded(cluster, busybox_tar, tmp_path):
    cluster.start_broker("--client-cache-limit", "2.5 MB")
    # One job with three 1 MB layers (a client's layers are taken one job at a time): two uploads
    # held open fill 2 of its 2.5 MB, the third is refused.
    layers = [tar_of(tmp_path / f"l{i}.tar", {"f": os.urandom(1_000_000)}) for i in range(3)]
    jobs = [{"layers": [{"tar": str(l)} for l in layers], "program": "true"}]
    rc, events, err = rogue("client", "--broker", cluster.address, "--jobs", str(jobs_file(tmp_path, jobs)),
                            "--uploads", "parallel", "--expect-refused", "1")
    assert rc == 0, err
    refused = [e for e in events if e["event"] == "upload" and not e["held"]]
    assert len(refused) == 1 and refused[0]["status"]["code"] == 8, events
    assert "this client's layers fill its share of the broker's cache (2500000 bytes: client-cache-limit)" in \
        refused[0]["status"]["message"]


def test_a_client_over_its_share_still_gets_every_job_done(cluster, busybox_tar, tmp_path):
    """Uploads over the share wait for the client's earlier jobs to end, then go: busybox (2 MB) and
    one 1 MB layer fit at a time, four jobs with a layer each all run."""
    cluster.start_broker("--client-cache-limit", "3.5 MB")
    cluster.start_worker(1)
    cluster.wait_workers(1)
    jobs = []
    for i in range(4):
        j = bb_job(busybox_tar, "echo", str(i))
        j["layers"].append({"tar": str(tar_of(tmp_path / f"l{i}.tar", {"f": os.urandom(1_000_000)}))})
        jobs.append(j)
    rc, results, err = cluster.client(jobs)
    assert rc == 0, err
    assert sorted(r["stdout"] for r in results.values()) == ["0\n", "1\n", "2\n", "3\n"], results
