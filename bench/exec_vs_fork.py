#!/usr/bin/env python3
"""What a process per test costs, and how much of it a fork server would save.

    bench/exec_vs_fork.py TEST_BINARY...     (Rust test binaries, e.g. target/debug/deps/NAME-HASH)

For each binary it runs every test alone, one after another, twice over, both times started by
one server process of the binary (bench/fork_server_probe.c, preloaded and stopped before the
binary's own initialization): once forked and exec'd as `BIN --exact --nocapture NAME` (what
cargo-maelstrom runs in each container, here without the container), once only forked, going on
into the already loaded harness. It prints the mean wall time per test of each, the median of
ROUNDS (default 3) rounds. It also prints what one CPUID instruction costs here: glibc and
libgcc probe the CPU with it while starting every process (its cache sizes, one descriptor at a
time), and in a virtual machine each one traps to the hypervisor.
"""
import os
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
CPUID_C = r"""
#include <cpuid.h>
#include <stdio.h>
#include <time.h>
int main(void) {
  unsigned a, b, c, d;
  struct timespec t0, t1;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  for (int i = 0; i < 2000; i++) __cpuid_count(4, i & 3, a, b, c, d);
  clock_gettime(CLOCK_MONOTONIC, &t1);
  printf("%.2f\n", ((t1.tv_sec - t0.tv_sec) * 1e9 + (t1.tv_nsec - t0.tv_nsec)) / 2000 / 1000.0);
  return 0;
}
"""


def build(tmp):
    probe = os.path.join(tmp, "fork_server_probe.so")
    subprocess.run(["cc", "-O2", "-shared", "-fPIC", os.path.join(HERE, "fork_server_probe.c"), "-o", probe],
                   check=True)
    src = os.path.join(tmp, "cpuid.c")
    with open(src, "w") as f:
        f.write(CPUID_C)
    cpuid = os.path.join(tmp, "cpuid")
    subprocess.run(["cc", "-O2", src, "-o", cpuid], check=True)
    return probe, cpuid


def test_names(binary):
    out = subprocess.run([binary, "--list"], capture_output=True, text=True, check=True).stdout
    return [line.rsplit(": ", 1)[0] for line in out.splitlines() if line.endswith(": test")]


def start_server(binary, env, probe):
    """The binary, stopped in the probe's constructor, serving requests: (process, requests, statuses)."""
    r_in, w_in = os.pipe()
    r_out, w_out = os.pipe()
    penv = dict(env, LD_PRELOAD=probe, PROBE_SLOT="3", PROBE_IN=str(r_in), PROBE_OUT=str(w_out))
    server = subprocess.Popen([binary, "--exact", "--nocapture", "PLACEHOLDER"], stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL, pass_fds=(r_in, w_out), env=penv)
    os.close(r_in)
    os.close(w_out)
    return server, w_in, os.fdopen(r_out)


def time_each(requests, statuses, kind, names):
    """Mean seconds per test, started the `kind` way ("E" or "F"); and how many failed."""
    failed = 0
    t0 = time.perf_counter()
    for n in names:
        os.write(requests, f"{kind} {n}\n".encode())
        status = statuses.readline()
        if not status:
            sys.exit("the probe server stopped (a test name too long, or the binary is not a Rust test binary?)")
        failed += int(status) != 0
    return (time.perf_counter() - t0) / len(names), failed


def main():
    if len(sys.argv) > 1 and sys.argv[1] in ("-h", "--help"):
        print(__doc__.strip())
        return
    if len(sys.argv) < 2:
        sys.exit("usage: bench/exec_vs_fork.py TEST_BINARY...")
    rounds = int(os.environ.get("ROUNDS", "3"))
    env = dict(os.environ, RUST_BACKTRACE="0")
    with tempfile.TemporaryDirectory() as tmp:
        probe, cpuid = build(tmp)
        cost = subprocess.run([cpuid], capture_output=True, text=True, check=True).stdout.strip()
        print(f"one CPUID instruction: {cost} us")
        for binary in sys.argv[1:]:
            names = test_names(binary)
            if not names:
                print(f"{binary}: no tests")
                continue
            ex, fk = [], []
            server, requests, statuses = start_server(binary, env, probe)
            for _ in range(rounds):
                e, ef = time_each(requests, statuses, "E", names)
                f, ff = time_each(requests, statuses, "F", names)
                if ef != ff:
                    print(f"note: {ef} tests failed when exec'd, {ff} when forked")
                ex.append(e)
                fk.append(f)
            os.close(requests)
            server.wait()
            print(f"{os.path.basename(binary)}: {len(names)} tests, per test: "
                  f"exec {statistics.median(ex) * 1000:.2f} ms, fork {statistics.median(fk) * 1000:.2f} ms")


if __name__ == "__main__":
    main()
