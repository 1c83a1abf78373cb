"""Durations compared with their peer: Go's own time.ParseDuration and
Duration.String() (golang-go is installed on the test machine), through
nodelet's --sync-frequency flag and its -v=2 effective-configuration log."""
import json
import os
import shutil
import subprocess
import tempfile

import pytest

from test_kubelet_lib import NODELET, parse_line

GO_PROG = r'''
package main

import (
	"bufio"
	"fmt"
	"os"
	"time"
)

func main() {
	s := bufio.NewScanner(os.Stdin)
	for s.Scan() {
		d, err := time.ParseDuration(s.Text())
		if err != nil {
			fmt.Println("ERR")
		} else {
			fmt.Printf("%d %s\n", int64(d), d.String())
		}
	}
}
'''

CASES = ["1m30s", "20s", "1.5h", "300ms", "2h45m", "1h0m0s", "90s", "3600s", "0.5s", ".5s", "1.s",
         "1.25m", "100us", "1500000ns", "10\u00b5s", "1h2m3.004005006s", "+5s", "72h", "1ns",
         "1.0000000001s", "0.3333333333s", "2562047h47m16.854775807s", "9.999999999s",
         "0", "0s", "-1s", "-1.5h",
         "", "1", "s", "1x", "1h 2m", "1.5", "1e3s", "9999999999999h", "--1s", "1sm", " 1s"]


@pytest.fixture(scope="module")
def go_results():
    if not shutil.which("go"):
        pytest.skip("golang-go not installed")
    d = tempfile.mkdtemp(prefix="nodelet-go-")
    try:
        src = os.path.join(d, "main.go")
        with open(src, "w") as f:
            f.write(GO_PROG)
        env = dict(os.environ, GOCACHE=os.path.join(d, "cache"), GO111MODULE="off", HOME=d)
        r = subprocess.run(["go", "run", src], input="\n".join(CASES) + "\n", env=env,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=120)
        assert r.returncode == 0, r.stderr
        lines = r.stdout.splitlines()
        assert len(lines) == len(CASES)
        return dict(zip(CASES, lines))
    finally:
        shutil.rmtree(d, ignore_errors=True)


def nodelet_sync_frequency(value, tmp):
    """(exit code, formatted syncFrequency or None, stderr) for --sync-frequency=value."""
    p = subprocess.Popen([NODELET, f"--sync-frequency={value}", "--v=2", "--healthz-port=0",
                          "--hostname-override=n", f"--root-dir={tmp}"],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    err = ""
    for line in p.stderr:
        err += line
        if "effective configuration" in line:
            cfg = json.loads(parse_line(line)["config"])
            p.terminate()
            p.wait(5)
            return 0, cfg["syncFrequency"], err
    p.wait(5)
    return p.returncode, None, err


def test_durations_match_go(go_results, tmp_path):
    mismatches = []
    for case in CASES:
        go = go_results[case]
        rc, ours, err = nodelet_sync_frequency(case, str(tmp_path))
        if go == "ERR":
            if rc != 1 or "--sync-frequency" not in err:
                mismatches.append((case, "go: error", f"nodelet rc={rc} {ours}"))
            continue
        ns, text = go.split(" ", 1)
        if int(ns) <= 0:
            # valid duration, but syncFrequency must be positive
            if rc != 1 or "syncFrequency (--sync-frequency) must be positive" not in err:
                mismatches.append((case, go, f"nodelet rc={rc} {ours}"))
            continue
        if rc != 0 or ours != text:
            mismatches.append((case, text, f"nodelet rc={rc} {ours} {err[-200:]}"))
    assert not mismatches, mismatches


# The container hash: Go's encoding/json for the {"image","name"} map, then
# the kubelet's hash.DeepHashObject (spew "%#v" of the []byte: "([]uint8)[..]")
# into FNV-1a 32. The spew rendering is reproduced here; the JSON encoding
# (escapes of <, >, &, quotes, control characters, U+2028) is Go's own.
GO_HASH = r'''
package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"os"
	"strings"
)

func main() {
	s := bufio.NewScanner(os.Stdin)
	for s.Scan() {
		var in []string
		if err := json.Unmarshal([]byte(s.Text()), &in); err != nil {
			panic(err)
		}
		b, _ := json.Marshal(map[string]string{"name": in[0], "image": in[1]})
		parts := make([]string, len(b))
		for i, c := range b {
			parts[i] = fmt.Sprint(c)
		}
		h := fnv.New32a()
		fmt.Fprintf(h, "([]uint8)[%s]", strings.Join(parts, " "))
		fmt.Printf("%x\n", h.Sum32())
	}
}
'''

IMAGES = ["foo/image:v1", "localhost/nodelet-demo:latest", "a<b>&c", 'quo"te', "back\\slash",
          "caf\u00e9:1", "line\u2028sep", "emoji\U0001F600", "inner space", "ctl\u0001x",
          "registry.example.com:5000/ns/img@sha256:" + "ab" * 32]


def test_container_hash_matches_go(tmp_path):
    if not shutil.which("go"):
        pytest.skip("golang-go not installed")
    src = tmp_path / "hash.go"
    src.write_text(GO_HASH)
    env = dict(os.environ, GOCACHE=str(tmp_path / "cache"), GO111MODULE="off", HOME=str(tmp_path))
    lines = "\n".join(json.dumps([f"c{i}", img]) for i, img in enumerate(IMAGES)) + "\n"
    r = subprocess.run(["go", "run", str(src)], input=lines, env=env, stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    want = dict(zip([f"c{i}" for i in range(len(IMAGES))], r.stdout.split()))

    from test_kubelet_lib import Nodelet
    n = Nodelet(extra_args=["--v=2"])
    try:
        pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "h"},
               "spec": {"containers": [{"name": f"c{i}", "image": img} for i, img in enumerate(IMAGES)]}}
        n.write("h.json", json.dumps(pod))
        n.start()
        n.wait_events(1)
        import time
        time.sleep(0.1)
        got = {d["container"]: d["hash"] for d in n.lines("static pod container")}
    finally:
        n.cleanup()
    assert got == want
