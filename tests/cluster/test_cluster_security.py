"""TLS with client certificates, shared tokens, and intruders being refused."""
import subprocess

import pytest

from cluster_util import BIN_DIR, bb_job, bin_path, make_certs, wait_for


@pytest.fixture
def certs(tmp_path):
    return make_certs(tmp_path / "certs")


def tls_args(certs, who="client", ca="ca"):
    return ["--tls-ca", str(certs / f"{ca}.pem"), "--tls-cert", str(certs / f"{who}.pem"),
            "--tls-key", str(certs / f"{who}.key")]


def test_mutual_tls_runs_jobs_and_refuses_intruders(cluster, busybox_tar, certs):
    cluster.start_broker("--tls-ca", str(certs / "ca.pem"), "--tls-cert", str(certs / "broker.pem"),
                         "--tls-key", str(certs / "broker.key"))
    cluster.start_worker(2, None, None, None, *tls_args(certs))
    good = ["--tls-ca", str(certs / "ca.pem"), "--tls-cert", str(certs / "client.pem"),
            "--tls-key", str(certs / "client.key")]
    cluster.admin_tls = good
    cluster.wait_workers(1)
    rc, results, err = cluster.client([bb_job(busybox_tar, "echo", "secure")], *good)
    assert rc == 0, err
    assert results[0]["stdout"] == "secure\n"

    # No TLS at all, TLS without a client certificate, a certificate from another CA,
    # and a client that does not trust the broker's CA: all refused.
    intruders = [
        [],
        ["--tls-ca", str(certs / "ca.pem")],
        ["--tls-ca", str(certs / "ca.pem"), "--tls-cert", str(certs / "intruder.pem"),
         "--tls-key", str(certs / "intruder.key")],
        ["--tls-ca", str(certs / "evil-ca.pem"), "--tls-cert", str(certs / "client.pem"),
         "--tls-key", str(certs / "client.key")],
    ]
    for args in intruders:
        rc, results, err = cluster.client([bb_job(busybox_tar, "true")], *args, timeout=60)
        assert rc == 1, (args, err)
        assert "cannot connect to broker at" in err, err
        assert not results
    # An intruding worker is refused too and never gets work.
    cluster.start_worker(1, None, None, "intruder", *tls_args(certs, "intruder"))
    # The admin tool needs credentials to stop the broker.
    r = subprocess.run([str(BIN_DIR / "maelstrom-admin"), "-b", cluster.address, "--tls-ca", str(certs / "ca.pem"),
                        "stop"], capture_output=True, text=True, timeout=60)
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


def test_shared_token_over_tls(cluster, busybox_tar, certs, tmp_path):
    token = tmp_path / "token"
    token.write_text("correct horse battery staple\n")
    wrong = tmp_path / "wrong"
    wrong.write_text("guess\n")
    cluster.start_broker("--tls-cert", str(certs / "broker.pem"), "--tls-key", str(certs / "broker.key"),
                         "--token-file", str(token))
    trust = ["--tls-ca", str(certs / "ca.pem")]
    cluster.start_worker(1, None, None, None, *trust, "--token-file", str(token))
    rc, results, err = cluster.client([bb_job(busybox_tar, "echo", "ok")], *trust, "--token-file", str(token))
    assert rc == 0 and results[0]["stdout"] == "ok\n", err
    rc, _, err = cluster.client([bb_job(busybox_tar, "true")], *trust, "--token-file", str(wrong))
    assert rc == 1 and "wrong token" in err
    rc, _, err = cluster.client([bb_job(busybox_tar, "true")], *trust)
    assert rc == 1 and "requires a token" in err
    w = cluster.start_worker(1, None, None, "bad", *trust, "--token-file", str(wrong))
    assert w.p.wait(timeout=30) == 1
    assert "refused this worker: wrong token" in w.log_text()
    log = cluster.broker.log_text()
    assert "refused client" in log and "refused worker" in log


def test_unreadable_or_non_pem_credentials_are_one_line_errors(cluster, busybox_tar, certs, tmp_path):
    garbage = tmp_path / "garbage.pem"
    garbage.write_text("this is no certificate\n")
    missing = tmp_path / "missing.pem"
    cluster.start_broker()
    cases = [
        ([bin_path("maelstrom-run"), "--broker", cluster.address, "--tls-ca", str(garbage), "--file", "/dev/null"],
         f"CA certificate file '{garbage}' is not PEM"),
        ([bin_path("maelstrom-worker"), "--broker", cluster.address, "--tls-ca", str(certs / "ca.pem"), "--tls-cert",
          str(missing), "--tls-key", str(certs / "client.key"), "--cache-root", str(tmp_path / "w")],
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
