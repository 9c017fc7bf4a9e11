"""modelgate sandbox: real loads, malicious pickles, the fallback rungs.

Each malicious pickle's side effect is harmless (touch a marker, chmod a
scratch file, reach 192.0.2.1 = TEST-NET-1, or a listener on 127.0.0.1 of
this test) and each test proves it did not happen. Run as root on a kernel
with user namespaces, Landlock and seccomp user notification (the project's
machines); the probe test states what is expected there.
"""
import json
import os
import pickle
import socket
import stat
import subprocess
import sys
import time

import pytest

from conftest import BIN, run

PY = "/usr/bin/python3"  # Debian's, with python3-torch
RUNGS = {"full": [], "no-namespaces": ["--no-namespaces"]}


def have_torch():
    return subprocess.run([PY, "-c", "import torch"],
                          capture_output=True).returncode == 0


class R:
    """A pickle that calls f(*a) when loaded."""

    def __init__(self, f, a):
        self.f, self.a = f, a

    def __reduce__(self):
        return (self.f, self.a)


def sandbox(tmp_path, *args, timeout=120):
    """Run modelgate sandbox with --events; returns (rc, records, stderr)."""
    ev = tmp_path / "events.jsonl"
    p = run("sandbox", "--events", str(ev), *args, timeout=timeout)
    recs = [json.loads(line) for line in ev.read_text().splitlines()]
    return p.returncode, recs, p.stderr.decode(errors="replace"), p.stdout


def events(recs):
    return [r for r in recs if r["type"] == "event"]


def denied(recs):
    return [r for r in events(recs) if r["policy"] == "deny"]


def start(recs):
    assert recs[0]["type"] == "start", recs[0]
    return recs[0]


def finish(recs):
    assert recs[-1]["type"] == "exit", recs[-1]
    return recs[-1]


def write_pickle(path, obj):
    path.write_bytes(pickle.dumps(obj))
    return str(path)


def payloads(d, port=None):
    """name -> (object, rule expected to be denied)."""
    exec_ = exec
    return {
        "os.system": (R(os.system, (f"touch {d}/marker",)),
                      "process.spawn"),
        "subprocess.Popen": (R(subprocess.Popen,
                               (["touch", f"{d}/marker"],)),
                             "process.spawn"),
        "tcp": (R(exec_, ("import socket; socket.create_connection("
                          "('192.0.2.1', 9), timeout=2)",)), "net.socket"),
        "udp": (R(exec_, ("import socket; s = socket.socket(socket.AF_INET,"
                          " socket.SOCK_DGRAM); s.sendto(b'x', "
                          "('192.0.2.1', 9))",)), "net.socket"),
        "write-outside": (R(exec_, (f"open('{d}/marker', 'w').write('x')",)),
                          "fs.write_outside"),
        "chmod": (R(os.chmod, (f"{d}/victim", 0o777)), "fs.perm_change"),
        "thread-forks": (R(exec_, (
            "import threading, subprocess\n"
            "t = threading.Thread(target=lambda: subprocess.run("
            f"['touch', '{d}/marker']))\nt.start(); t.join()",)),
            "process.spawn"),
    }


PAYLOADS = list(payloads("/x"))


def prepare(tmp_path, name):
    d = tmp_path / "scratch"
    d.mkdir()
    victim = d / "victim"
    victim.write_text("v")
    victim.chmod(0o644)
    obj, rule = payloads(str(d))[name]
    return d, write_pickle(tmp_path / "evil.pkl", obj), rule


def assert_no_side_effect(d, name):
    assert not (d / "marker").exists(), f"{name}: the marker was written"
    mode = stat.S_IMODE((d / "victim").stat().st_mode)
    assert mode == 0o644, f"{name}: chmod happened ({oct(mode)})"


def test_probe_matches_this_machine():
    p = run("sandbox", "--probe")
    assert p.returncode == 0
    f = json.loads(p.stdout)
    userns = subprocess.run(["unshare", "-Urn", "true"],
                            capture_output=True).returncode == 0
    assert f["user_namespaces"] == userns
    with open("/proc/sys/kernel/seccomp/actions_avail") as fh:
        assert f["seccomp_notify"] == ("user_notif" in fh.read())
    # The project's machines (reference B1): everything is there.
    assert f["landlock_abi"] >= 4
    assert f["isolation"] == "full"


def test_benign_pickle_load(tmp_path):
    pk = write_pickle(tmp_path / "ok.pkl", {"w": [1.0, 2.0], "n": "x"})
    rc, recs, err, _ = sandbox(tmp_path, "--pickle-load", pk,
                               "--python", PY)
    assert rc == 0, err
    assert start(recs)["isolation"] == "full"
    assert denied(recs) == []
    ev = events(recs)
    assert ev[0]["rule"] == "exec.start" and ev[0]["decision"] == "allow"
    assert ev[0]["args"]["argv"][-1] == pk
    end = finish(recs)
    assert end["status"] == "exited" and end["code"] == 0
    assert end["denied"] == 0 and end["exit"] == 0


@pytest.mark.skipif(not have_torch(), reason="needs Debian python3-torch")
def test_benign_torch_load_same_result_as_outside(tmp_path):
    m = tmp_path / "m.pt"
    subprocess.run([PY, "-c", "import torch, sys; torch.save({'w': "
                    "torch.arange(12.).reshape(3, 4), 'b': torch.ones(2)}, "
                    "sys.argv[1])", str(m)], check=True)
    rc, recs, err, _ = sandbox(tmp_path, "--torch-load", str(m),
                               "--python", PY)
    assert rc == 0, err
    assert denied(recs) == [], denied(recs)
    show = ("import sys, torch; o = torch.load(sys.argv[1], "
            "weights_only=False); print({k: v.tolist() for k, v in "
            "o.items()})")
    outside = subprocess.run([PY, "-I", "-B", "-c", show, str(m)],
                             capture_output=True, check=True).stdout
    rc, recs, err, inside = sandbox(tmp_path, "--", PY, "-I", "-B", "-c",
                                    show, str(m))
    assert rc == 0, err
    assert denied(recs) == []
    assert inside == outside and b"[[0.0, 1.0, 2.0, 3.0]" in inside


@pytest.mark.parametrize("rung", list(RUNGS))
@pytest.mark.parametrize("name", PAYLOADS)
def test_malicious_pickle_denied(tmp_path, name, rung):
    d, pk, rule = prepare(tmp_path, name)
    rc, recs, err, _ = sandbox(tmp_path, *RUNGS[rung], "--pickle-load", pk,
                               "--python", PY)
    assert rc == 1, err
    assert start(recs)["isolation"] == rung
    hits = [e for e in denied(recs) if e["rule"] == rule]
    assert hits, (rule, events(recs))
    for e in hits:
        assert e["decision"] == "deny" and e["errno"] is not None
    if name in ("tcp", "udp"):
        assert hits[0]["args"]["family"] == "AF_INET"
    if name == "thread-forks":  # reported from the thread, not the main one
        assert hits[0]["tid"] != hits[0]["tgid"]
    if name == "chmod":
        assert hits[0]["args"]["path"].endswith("/victim")
    assert finish(recs)["denied"] >= 1
    assert_no_side_effect(d, name)


@pytest.mark.parametrize("rung", list(RUNGS))
@pytest.mark.parametrize("kind", ["tcp", "udp"])
def test_loopback_listener_not_reached(tmp_path, kind, rung):
    """A listener of this test on 127.0.0.1 receives nothing."""
    typ = socket.SOCK_STREAM if kind == "tcp" else socket.SOCK_DGRAM
    srv = socket.socket(socket.AF_INET, typ)
    srv.bind(("127.0.0.1", 0))
    if kind == "tcp":
        srv.listen(4)
    srv.setblocking(False)
    port = srv.getsockname()[1]
    code = ("import socket; socket.create_connection(('127.0.0.1', %d), "
            "timeout=2)" % port if kind == "tcp" else
            "import socket; s = socket.socket(socket.AF_INET, "
            "socket.SOCK_DGRAM); s.sendto(b'x', ('127.0.0.1', %d))" % port)
    pk = write_pickle(tmp_path / "net.pkl", R(exec, (code,)))
    rc, recs, err, _ = sandbox(tmp_path, *RUNGS[rung], "--pickle-load", pk,
                               "--python", PY)
    assert rc == 1, err
    assert [e for e in denied(recs) if e["rule"] == "net.socket"]
    time.sleep(0.2)
    with pytest.raises(BlockingIOError):
        if kind == "tcp":
            srv.accept()
        else:
            srv.recvfrom(16)
    srv.close()


@pytest.mark.parametrize("name", PAYLOADS)
def test_monitor_mode_records_the_same_attempts(tmp_path, name):
    d, pk, rule = prepare(tmp_path, name)
    rc, recs, err, _ = sandbox(tmp_path, "--pickle-load", pk, "--python",
                               PY)
    enforce_rules = {e["rule"] for e in denied(recs)}
    (tmp_path / "events.jsonl").unlink()
    rc, recs, err, _ = sandbox(tmp_path, "--mode", "monitor",
                               "--pickle-load", pk, "--python", PY)
    assert rc == 1, err
    assert start(recs)["mode"] == "monitor"
    monitor = denied(recs)
    assert enforce_rules <= {e["rule"] for e in monitor}, (enforce_rules,
                                                           monitor)
    assert rule in {e["rule"] for e in monitor}
    # Let through and recorded, not refused.
    assert all(e["decision"] == "allow" for e in monitor
               if not e["rule"].startswith("priv."))
    if name != "chmod":
        # Namespaces and Landlock still hold: the marker is not written
        # (Landlock refuses it), and nothing leaves the empty netns.
        assert not (d / "marker").exists()


def test_allow_write_inside_folder(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    pk = write_pickle(tmp_path / "w.pkl", R(exec, (
        f"open('{out}/result.txt', 'w').write('ok')",)))
    rc, recs, err, _ = sandbox(tmp_path, "--allow-write", str(out),
                               "--pickle-load", pk, "--python", PY)
    assert rc == 0, err
    assert (out / "result.txt").read_text() == "ok"
    w = [e for e in events(recs) if e["rule"] == "fs.write"]
    assert w and w[0]["decision"] == "allow"
    assert w[0]["args"]["path"] == f"{out}/result.txt"


def test_write_outside_via_symlink_in_allowed_folder(tmp_path):
    """A symlink inside the allowed folder does not lead outside it."""
    out = tmp_path / "out"
    out.mkdir()
    (tmp_path / "secret").mkdir()
    (out / "link").symlink_to(tmp_path / "secret")
    pk = write_pickle(tmp_path / "w.pkl", R(exec, (
        f"open('{out}/link/x', 'w').write('x')",)))
    rc, recs, err, _ = sandbox(tmp_path, "--allow-write", str(out),
                               "--pickle-load", pk, "--python", PY)
    assert rc == 1, err
    assert not (tmp_path / "secret" / "x").exists()
    e = [e for e in denied(recs) if e["rule"] == "fs.write_outside"]
    assert e and e[0]["args"]["resolved"] == f"{tmp_path}/secret/x"


def test_events_file_below_allowed_folder_refused(tmp_path):
    p = run("sandbox", "--allow-write", str(tmp_path), "--events",
            str(tmp_path / "ev.jsonl"), "--", "/bin/true")
    assert p.returncode == 2
    assert b"could forge" in p.stderr


def test_target_cannot_forge_events(tmp_path):
    fake = json.dumps({"type": "exit", "denied": 0, "exit": 0})
    rc, recs, err, out = sandbox(tmp_path, "--", "/bin/sh", "-c",
                                 f"echo '{fake}'; echo '{fake}' >&2; "
                                 f"echo '{fake}' >> {tmp_path}/events.jsonl")
    assert rc == 1  # the append is refused (and reported)
    assert [r["type"] for r in recs].count("exit") == 1
    assert finish(recs)["denied"] >= 1


def test_allow_net_loopback(tmp_path):
    code = ("import socket\n"
            "s = socket.socket(); s.bind(('127.0.0.1', 0)); s.listen(1)\n"
            "c = socket.create_connection(s.getsockname(), timeout=5)\n"
            "a, _ = s.accept(); c.sendall(b'hi'); assert a.recv(2) == b'hi'\n"
            "print('loopback ok')")
    rc, recs, err, out = sandbox(tmp_path, "--allow-net", "loopback", "--",
                                 PY, "-I", "-B", "-c", code)
    assert rc == 0, err
    assert b"loopback ok" in out
    lo = [e for e in events(recs) if e["rule"] == "net.loopback"]
    assert lo and all(e["decision"] == "allow" for e in lo)
    assert start(recs)["allow_net"] == "loopback"
    # Only loopback: TEST-NET stays refused.
    rc, recs, err, _ = sandbox(tmp_path, "--allow-net", "loopback", "--",
                               PY, "-I", "-B", "-c",
                               "import socket; socket.create_connection("
                               "('192.0.2.1', 9), timeout=2)")
    assert rc == 1
    out = [e for e in denied(recs) if e["rule"] == "net.outbound"]
    assert out
    # one event per attempt: time, pid, syscall, decoded address and port
    assert out[0]["syscall"] == "connect" and out[0]["tgid"] > 0
    assert isinstance(out[0]["ts"], float)
    assert out[0]["args"]["family"] == "AF_INET"
    assert out[0]["args"]["addr"] == "192.0.2.1"
    assert out[0]["args"]["port"] == 9
    p = run("sandbox", "--no-namespaces", "--allow-net", "loopback", "--",
            "/bin/true")
    assert p.returncode == 2


def test_namespaces_refused_by_the_kernel_fall_back(tmp_path):
    """Not --no-namespaces: the kernel itself refuses the clone. In a user
    namespace of our own whose max_user_namespaces is 0 (the host's limit
    is untouched), clone(CLONE_NEWUSER) fails with ENOSPC; the sandbox
    detects it, takes the no-namespaces rung, says so, and still denies."""
    d, pk, rule = prepare(tmp_path, "os.system")
    ev = tmp_path / "events.jsonl"
    script = ('echo 0 > /proc/sys/user/max_user_namespaces || exit 99\n'
              'exec "$@"')
    p = subprocess.run(["unshare", "-Ur", "/bin/sh", "-c", script, "sh",
                        BIN, "sandbox", "--events", str(ev), "--pickle-load",
                        pk, "--python", PY], capture_output=True,
                       timeout=120)
    if p.returncode == 99 or b"unshare" in p.stderr[:200]:
        pytest.skip("cannot make a user namespace with no nested ones: "
                    + p.stderr.decode(errors="replace"))
    recs = [json.loads(line) for line in ev.read_text().splitlines()]
    assert p.returncode == 1, p.stderr
    assert start(recs)["isolation"] == "no-namespaces"
    assert start(recs)["namespaces"] == []
    assert b"isolation no-namespaces" in p.stderr
    assert [e for e in denied(recs) if e["rule"] == rule]
    assert finish(recs)["isolation"] == "no-namespaces"
    assert_no_side_effect(d, "os.system")


def test_no_landlock_rung_refuses_unbacked_writes(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    rc, recs, err, _ = sandbox(tmp_path, "--no-landlock", "--allow-write",
                               str(out), "--", "/bin/sh", "-c",
                               f"echo x > {out}/f")
    assert start(recs)["isolation"] == "no-landlock"
    assert start(recs)["landlock_abi"] == 0
    assert rc == 1, err
    assert [e for e in denied(recs) if e["rule"] == "fs.write_unenforced"]
    assert not (out / "f").exists()


def test_no_isolation_refused_unless_told(tmp_path):
    p = run("sandbox", "--no-seccomp", "--", "/bin/echo", "ran")
    assert p.returncode == 2
    assert b"refusing to run" in p.stderr and b"ran" not in p.stdout
    rc, recs, err, out = sandbox(tmp_path, "--no-seccomp",
                                 "--unsafe-no-sandbox", "--", "/bin/echo",
                                 "ran")
    assert out == b"ran\n"
    assert start(recs)["isolation"] == "unmonitored"
    assert rc == 2  # nothing was watched: never reported clean


HYGIENE = r"""
import json, os, resource
st = dict(l.split(':', 1) for l in open('/proc/self/status') if ':' in l)
print(json.dumps({
  'pid': os.getpid(), 'sid_is_pid': os.getsid(0) == os.getpid(),
  'fds': sorted(int(f) for f in os.listdir('/proc/self/fd')),
  'env': sorted(os.environ),
  'nnp': st['NoNewPrivs'].strip(), 'capeff': st['CapEff'].strip(),
  'capbnd': st['CapBnd'].strip(),
  'ifaces': sorted(l.split(':')[0].strip()
                   for l in open('/proc/net/dev').readlines()[2:]),
  'core': resource.getrlimit(resource.RLIMIT_CORE)[0],
  'fsize': resource.getrlimit(resource.RLIMIT_FSIZE)[0],
}))
"""


@pytest.mark.parametrize("rung", list(RUNGS))
def test_process_hygiene(tmp_path, rung):
    env = dict(os.environ, NO_COLOR="1", MG_SECRET_TOKEN="hunter2")
    # modelgate itself inherits an open descriptor (50, no close-on-exec):
    # the target must not.
    held = os.open(tmp_path, os.O_RDONLY)
    os.dup2(held, 50, inheritable=True)
    try:
        p = subprocess.run([BIN, "sandbox", *RUNGS[rung], "--setenv",
                            "FOO=bar", "--", PY, "-I", "-B", "-c", HYGIENE],
                           capture_output=True, env=env, pass_fds=(50,),
                           timeout=120)
    finally:
        os.close(50)
        os.close(held)
    assert p.returncode == 0, p.stderr
    h = json.loads(p.stdout)
    assert h["env"] == ["FOO", "HOME", "LANG", "PATH"]
    assert h["fds"] in ([0, 1, 2], [0, 1, 2, 3])  # 3: listdir's own
    assert h["nnp"] == "1"
    assert int(h["capeff"], 16) == 0 and int(h["capbnd"], 16) == 0
    assert h["sid_is_pid"]
    assert h["core"] == 0 and h["fsize"] == 1 << 30
    if rung == "full":
        assert h["pid"] == 1
        assert h["ifaces"] == ["lo"]


def test_chown_xattr_utime_denied(tmp_path):
    """The rest of the permission family: chown, setxattr, utime are
    refused wherever the file is, and did not happen."""
    victim = tmp_path / "victim"
    victim.write_text("v")
    os.utime(victim, (1_000_000, 1_000_000))
    code = ("import os, sys\np = sys.argv[1]\n"
            "for f in (lambda: os.chown(p, 1, 1),\n"
            "          lambda: os.setxattr(p, 'user.mg', b'1'),\n"
            "          lambda: os.utime(p, (0, 0))):\n"
            "    try:\n        f(); print('done')\n"
            "    except OSError as e:\n        print(e.errno)\n")
    rc, recs, err, out = sandbox(tmp_path, "--", PY, "-I", "-B", "-c", code,
                                 str(victim))
    assert rc == 1, err
    assert b"done" not in out
    hits = [e for e in denied(recs) if e["rule"] == "fs.perm_change"]
    calls = {e["syscall"] for e in hits}
    assert calls & {"chown", "fchownat"}, calls
    assert "setxattr" in calls and "utimensat" in calls, calls
    assert all(e["errno"] == "EPERM" for e in hits)
    assert all(e["args"]["path"].endswith("/victim") for e in hits)
    st = victim.stat()
    assert (st.st_uid, st.st_gid) == (os.getuid(), os.getgid())
    assert int(st.st_mtime) == 1_000_000
    try:
        assert "user.mg" not in os.listxattr(victim)
    except OSError:
        pass  # no user xattrs on this file system: nothing to set either


def test_timeout_kills_the_target(tmp_path):
    t0 = time.monotonic()
    rc, recs, err, _ = sandbox(tmp_path, "--timeout", "1", "--",
                               "/bin/sleep", "30")
    assert time.monotonic() - t0 < 15
    assert rc == 1, err
    assert finish(recs)["status"] == "timeout"


def test_exit_statuses(tmp_path):
    assert run("sandbox", "--", "/bin/true").returncode == 0
    assert run("sandbox", "--", "/bin/false").returncode == 2
    p = run("sandbox", "--", "/nonexistent/cmd")
    assert p.returncode == 2
    bad = tmp_path / "notelf"
    bad.write_bytes(b"\x00\x01\x02\x03")
    bad.chmod(0o755)
    rc, recs, err, _ = sandbox(tmp_path, "--", str(bad))
    assert rc == 2
    assert "could not execute" in err and finish(recs)["exec_errno"] == 8
    assert run("sandbox", "--bogus").returncode == 2
    assert run("sandbox", "--mode", "audit", "--", "/bin/true").returncode \
        == 2
    assert run("sandbox").returncode == 2
    p = run("sandbox", "--help")
    assert p.returncode == 0 and b"--torch-load" in p.stdout


def test_exec_after_start_and_fileless_exec_denied(tmp_path):
    rc, recs, err, _ = sandbox(tmp_path, "--", "/bin/sh", "-c",
                               "exec /bin/true")
    assert rc == 1, err
    e = [e for e in denied(recs) if e["rule"] == "process.exec"]
    assert e and e[0]["args"]["path"] == "/bin/true"
    code = ("import os\nfd = os.memfd_create('x')\n"
            "os.write(fd, open('/bin/true', 'rb').read())\n"
            "os.execve(fd, ['true'], {})")
    rc, recs, err, _ = sandbox(tmp_path, "--", PY, "-I", "-B", "-c", code)
    assert rc == 1, err
    assert [e for e in denied(recs) if e["rule"] == "exec.fileless"]


def test_privileged_calls_refused_even_in_monitor_mode(tmp_path):
    code = ("import ctypes, os\nlibc = ctypes.CDLL(None, use_errno=True)\n"
            "assert libc.ptrace(0, 0, 0, 0) == -1\n"  # PTRACE_TRACEME
            "assert libc.unshare(0x10000000) == -1\n"  # CLONE_NEWUSER
            "print('refused')")
    rc, recs, err, out = sandbox(tmp_path, "--mode", "monitor", "--", PY,
                                 "-I", "-B", "-c", code)
    assert b"refused" in out, err
    assert rc == 1
    rules = {e["rule"]: e for e in denied(recs)}
    for r in ("priv.ptrace", "priv.namespace"):
        assert rules[r]["decision"] == "deny"
        assert rules[r]["errno"] == "EPERM"


def test_text_events_without_events_file(tmp_path):
    p = run("sandbox", "--", "/bin/sh", "-c", "exec /bin/true")
    assert p.returncode == 1
    err = p.stderr.decode()
    assert "deny process.exec (high) execve" in err
    assert "isolation full" in err and "exit 1" in err
