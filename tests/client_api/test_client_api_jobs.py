"""maelstrom-client end to end: jobs run through the ClientProcess service from Python."""
from client_util import completed, job, stubs


def test_exit_code_and_output(client):
    c = completed(client.run(job("sh", "-c", "echo out; echo err >&2; exit 3")))
    assert c.client_job_id >= 1
    done = c.result.outcome.completed
    assert done.exited == 3
    assert done.effects.stdout.inline == b"out\n"
    assert done.effects.stderr.inline == b"err\n"
