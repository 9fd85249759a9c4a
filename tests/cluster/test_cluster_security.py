"""TLS with client certificates, role tokens, and intruders and peers in the wrong role being refused.

Every peer has a role (worker, client, admin) with its own credential: a certificate naming it
(OU=maelstrom-ROLE) or one of the broker's three token files."""
import subprocess

import pytest

from cluster_util import (BIN_DIR, bb_job, bin_path, broker_cert_args, broker_token_args, cert_args, make_certs,
                          make_tokens, rogue, wait_for)


@pytest.fixture
def certs(tmp_path):
    return make_certs(tmp_path / "certs")


def admin(cluster, *args):
    return subprocess.run([str(BIN_DIR / "maelstrom-admin"), "-b", cluster.address, *args], capture_output=True,
                          text=True, timeout=60, env=cluster.env())


def test_mutual_tls_runs_jobs_and_refuses_intruders(cluster, busybox_tar, certs):
    cluster.start_broker(*broker_cert_args(certs))
    cluster.admin_tls = cert_args(certs, "admin")
    cluster.start_worker(2, None, None, None, *cert_args(certs, "worker"))
    cluster.wait_workers(1)
    good = cert_args(certs, "client")
    rc, results, err = cluster.client([bb_job(busybox_tar, "echo", "secure")], *good)
    assert rc == 0, err
    assert results[0]["stdout"] == "secure\n"

    # No TLS at all, TLS without a client certificate, a certificate from another CA, a client
    # that does not trust the broker's CA, and a certificate of the right CA without a role.
    intruders = [
        ([], None),
        (["--tls-ca", str(certs / "ca.pem")], "requires a client certificate"),
        (cert_args(certs, "intruder"), None),
        (cert_args(certs, "client", ca="evil-ca"), None),
        (cert_args(certs, "norole"), "CN=norole has no role, not the client role needed to submit jobs"),
    ]
    for args, why in intruders:
        rc, results, err = cluster.client([bb_job(busybox_tar, "true")], *args, timeout=60)
        assert rc == 1, (args, err)
        assert "cannot connect to broker at" in err, err
        if why:
            assert why in err, err
        assert not results
    # An intruding worker is refused too and never gets work.
    cluster.start_worker(1, None, None, "intruder", *cert_args(certs, "intruder"))
    # The admin tool needs credentials to stop the broker.
    r = admin(cluster, "--tls-ca", str(certs / "ca.pem"), "stop")
    assert r.returncode == 1 and r.stderr.startswith("error: broker at"), r.stderr
    assert cluster.broker.alive()
    rc, results, err = cluster.client([bb_job(busybox_tar, "echo", "still")], *good)
    assert rc == 0 and results[0]["stdout"] == "still\n", err
    names = [w["name"] for w in cluster.status()["workers"]]
    assert names == ["w1"], names
    log = cluster.broker.log_text()
    assert "refused client" in log and "requires a client certificate" in log
    # Certificates from another CA (client and worker) fail the handshake: logged in one line each.
    assert "warning: refused a connection: TLS handshake failed (SSL_ERROR_SSL" in log
    assert "certificate verify failed" in log
    assert "Handshake failed" not in log  # gRPC's raw line went through our log instead


def test_a_certificate_serves_only_its_own_role(cluster, busybox_tar, certs):
    cluster.start_broker(*broker_cert_args(certs))
    cluster.admin_tls = cert_args(certs, "admin")
    # A client's certificate cannot open a worker session: the worker says why and exits.
    w = cluster.start_worker(1, None, None, "impostor", *cert_args(certs, "client"))
    assert w.p.wait(timeout=30) == 1
    assert ("refused this worker: CN=client has the client role, not the worker role needed to run jobs as a worker: "
            "give this program a worker certificate (OU=maelstrom-worker in its subject)") in w.log_text()
    # Nor can a worker's certificate submit jobs, or an admin's run them.
    rc, _, err = cluster.client([bb_job(busybox_tar, "true")], *cert_args(certs, "worker"), timeout=60)
    assert rc == 1 and "CN=worker has the worker role, not the client role needed to submit jobs" in err, err
    w = cluster.start_worker(1, None, None, "admin-as-worker", *cert_args(certs, "admin"))
    assert w.p.wait(timeout=30) == 1
    # A client's certificate can neither read the status nor stop the broker.
    for cmd, what in (("status", "read the broker's status"), ("stop", "stop the broker")):
        r = admin(cluster, *cert_args(certs, "client"), cmd)
        assert r.returncode == 1, r.stderr
        assert r.stderr.splitlines() == [
            f"error: broker at {cluster.address}: CN=client has the client role, not the admin role needed to {what}: "
            "give this program an admin certificate (OU=maelstrom-admin in its subject)"], r.stderr
    assert cluster.broker.alive()
    # The right ones work, and the broker logs who did what.
    good = cluster.start_worker(1, None, None, "good", *cert_args(certs, "worker"))
    cluster.wait_workers(1)
    rc, results, err = cluster.client([bb_job(busybox_tar, "echo", "ok")], *cert_args(certs, "client"))
    assert rc == 0 and results[0]["stdout"] == "ok\n", err
    r = admin(cluster, *cert_args(certs, "admin"), "stop")
    assert r.returncode == 0, r.stderr
    assert cluster.broker.p.wait(timeout=30) == 0
    assert good.p.wait(timeout=30) == 0
    log = cluster.broker.log_text()
    assert "(good, 1 slots) connected from 127.0.0.1:" in log and " as CN=worker\n" in log
    assert "(mael-test-client) connected from 127.0.0.1:" in log and " as CN=client\n" in log
    assert "stop requested by CN=admin from 127.0.0.1:" in log
    assert "refused worker from 127.0.0.1:" in log and "refused admin from 127.0.0.1:" in log


def test_role_tokens_over_tls(cluster, busybox_tar, certs, tmp_path):
    tokens = make_tokens(tmp_path / "tokens")
    wrong = tmp_path / "wrong"
    wrong.write_text("guess\n")
    cluster.start_broker("--tls-cert", str(certs / "broker.pem"), "--tls-key", str(certs / "broker.key"),
                         *broker_token_args(tokens))
    trust = ["--tls-ca", str(certs / "ca.pem")]
    cluster.admin_tls = trust + ["--token-file", str(tokens["admin"])]
    cluster.start_worker(1, None, None, None, *trust, "--token-file", str(tokens["worker"]))
    rc, results, err = cluster.client([bb_job(busybox_tar, "echo", "ok")], *trust, "--token-file",
                                      str(tokens["client"]))
    assert rc == 0 and results[0]["stdout"] == "ok\n", err
    rc, _, err = cluster.client([bb_job(busybox_tar, "true")], *trust, "--token-file", str(wrong))
    assert rc == 1 and "wrong token" in err
    rc, _, err = cluster.client([bb_job(busybox_tar, "true")], *trust)
    assert rc == 1 and "requires a token" in err
    rc, _, err = cluster.client([bb_job(busybox_tar, "true")], *trust, "--token-file", str(tokens["worker"]))
    assert rc == 1 and "the worker token has the worker role, not the client role" in err, err
    # The client's token is no worker's: the broker that took it for a session is this fix's first item.
    for bad in (wrong, tokens["client"], tokens["admin"]):
        w = cluster.start_worker(1, None, None, "bad", *trust, "--token-file", str(bad))
        assert w.p.wait(timeout=30) == 1
        assert "refused this worker: " in w.log_text()
    r = admin(cluster, *trust, "--token-file", str(tokens["client"]), "stop")
    assert r.returncode == 1 and "not the admin role needed to stop the broker" in r.stderr, r.stderr
    assert "give this program the admin token (the broker's admin-token-file)" in r.stderr
    assert cluster.broker.alive()
    assert cluster.status()["completed"] == 1
    log = cluster.broker.log_text()
    assert "refused client" in log and "refused worker" in log and "refused admin" in log


def test_token_setups_that_would_blur_the_roles_are_refused(cluster, tmp_path):
    tokens = make_tokens(tmp_path / "tokens")
    same = tmp_path / "same"
    same.write_text(tokens["client"].read_text())

    def broker(*args):
        r = subprocess.run([bin_path("maelstrom-broker"), "--port", "0", "--cache-root", str(tmp_path / "c"), *args],
                           capture_output=True, text=True, timeout=30, env=cluster.env())
        lines = [l for l in r.stderr.splitlines() if l.strip()]
        assert r.returncode == 1 and len(lines) == 1 and lines[0].startswith("error: "), r.stderr
        return lines[0]

    # The single shared token of earlier releases: one line saying what to give instead.
    line = broker("--token-file", str(tokens["client"]))
    assert "worker-token-file, client-token-file and admin-token-file" in line, line
    line = broker("--worker-token-file", str(tokens["worker"]), "--client-token-file", str(tokens["client"]))
    assert "all three of worker-token-file, client-token-file and admin-token-file" in line, line
    line = broker("--worker-token-file", str(tokens["worker"]), "--client-token-file", str(tokens["client"]),
                  "--admin-token-file", str(same))
    assert "three different tokens" in line, line


def test_client_credentials_get_no_other_clients_jobs(cluster, busybox_tar, tmp_path):
    """A peer with a client's token registers as a worker advertising 1,000 slots, to receive other
    clients' jobs with their secrets, download their layers and forge their results: refused at
    every step, and the victim's job runs on a real worker."""
    tokens = make_tokens(tmp_path / "tokens")
    cluster.start_broker(*broker_token_args(tokens))
    cluster.admin_tls = ["--token-file", str(tokens["admin"])]
    client = ["--token-file", str(tokens["client"])]
    rc, events, err = rogue("worker", "--broker", cluster.address, *client, "--slots", "1000", "--download",
                            "--forge", "forged\n", timeout=60)
    assert rc == 0, err
    assert [e["event"] for e in events] == ["end"], events
    assert events[-1]["status"]["code"] == 7  # PERMISSION_DENIED
    assert "not the worker role needed to run jobs as a worker" in events[-1]["status"]["message"]
    cluster.start_worker(1, None, None, "real", "--token-file", str(tokens["worker"]))
    cluster.wait_workers(1)
    job = bb_job(busybox_tar, "sh", "-c", "echo secret=$SECRET", environment=["PATH=/bin", "SECRET=hunter2"])
    rc, results, err = cluster.client([job], *client)
    assert rc == 0 and results[0]["stdout"] == "secret=hunter2\n", err
    assert "(real)" in " ".join(results[0]["states"])
    log = cluster.broker.log_text()
    assert "refused worker from 127.0.0.1" in log and "the client token has the client role" in log
    assert "rogue" not in [w["name"] for w in cluster.status()["workers"]]


def test_downloads_need_the_worker_role(cluster, busybox_tar, tmp_path):
    tokens = make_tokens(tmp_path / "tokens")
    cluster.start_broker(*broker_token_args(tokens))
    cluster.admin_tls = ["--token-file", str(tokens["admin"])]
    cluster.start_worker(1, None, None, "real", "--token-file", str(tokens["worker"]))
    rc, results, err = cluster.client([bb_job(busybox_tar, "true")], "--token-file", str(tokens["client"]))
    assert rc == 0, err
    # The layer is in the broker's cache now. A worker's token lets a worker download it...
    rc, events, err = rogue("download", "--broker", cluster.address, "--token-file", str(tokens["worker"]),
                            "--digest", busybox_digest(busybox_tar))
    assert rc == 0 and events[-1]["status"]["code"] == 0 and events[-1]["bytes"] > 0, (events, err)
    # ... a client's token does not.
    rc, events, err = rogue("download", "--broker", cluster.address, "--token-file", str(tokens["client"]),
                            "--digest", busybox_digest(busybox_tar))
    assert rc == 0 and events[-1]["status"]["code"] == 7, events
    assert "not the worker role needed to download layers" in events[-1]["status"]["message"]
    assert events[-1]["bytes"] == 0


def busybox_digest(tar):
    import hashlib
    return hashlib.sha256(tar.read_bytes()).hexdigest()


def test_unreadable_or_non_pem_credentials_are_one_line_errors(cluster, busybox_tar, certs, tmp_path):
    garbage = tmp_path / "garbage.pem"
    garbage.write_text("this is no certificate\n")
    missing = tmp_path / "missing.pem"
    cluster.start_broker()
    cases = [
        ([bin_path("maelstrom-run"), "--broker", cluster.address, "--tls-ca", str(garbage), "--file", "/dev/null"],
         f"CA certificate file '{garbage}' is not PEM"),
        ([bin_path("maelstrom-worker"), "--broker", cluster.address, "--tls-ca", str(certs / "ca.pem"), "--tls-cert",
          str(missing), "--tls-key", str(certs / "worker.key"), "--cache-root", str(tmp_path / "w")],
         f"cannot read TLS certificate file '{missing}'"),
        ([bin_path("maelstrom-admin"), "--broker", cluster.address, "--tls-ca", str(garbage), "status"],
         f"CA certificate file '{garbage}' is not PEM"),
        ([bin_path("maelstrom-broker"), "--port", "0", "--tls-cert", str(garbage), "--tls-key", str(certs / "broker.key"),
          "--cache-root", str(tmp_path / "b")],
         f"TLS certificate file '{garbage}' is not PEM"),
    ]
    for cmd, message in cases:
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=60, env=cluster.env())
        assert r.returncode == 1, (cmd, r.stderr)
        lines = r.stderr.splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0], (cmd, lines)
    assert cluster.status()["clients"] == []  # nobody got in; the broker still answers
