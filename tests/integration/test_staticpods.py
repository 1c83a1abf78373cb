"""The static pod source as the nodelet binary runs it: manifests written,
renamed, modified, broken, fixed and deleted in a temp manifest directory;
the logged ADD/UPDATE/REMOVE events and the read-only /pods PodList."""
import os
import time

import pytest

from test_kubelet_lib import Nodelet, pod_yaml


@pytest.fixture
def node():
    n = Nodelet(extra_args=["--file-check-frequency=1s"]).start()
    yield n
    n.cleanup()


def items_by_name(n):
    return {p["metadata"]["name"]: p for p in n.pods()["items"]}


def test_add_update_remove_and_pods_endpoint(node):
    node.write("web.yaml", pod_yaml("web", extra="    ports:\n    - containerPort: 8080\n"))
    ev = node.wait_events(1)
    assert ev[0][0] == "ADD" and ev[0][1] == "default/web-test-node" and ev[0][3] == "web.yaml"
    uid1 = ev[0][2]
    assert len(uid1) == 32
    pods = items_by_name(node)
    p = pods["web-test-node"]
    md, spec = p["metadata"], p["spec"]
    assert md["namespace"] == "default" and md["uid"] == uid1
    assert md["annotations"]["kubernetes.io/config.hash"] == uid1
    assert md["annotations"]["kubernetes.io/config.source"] == "file"
    assert md["annotations"]["kubernetes.io/config.seen"].endswith("Z")
    assert spec["nodeName"] == "test-node"
    assert {"operator": "Exists", "effect": "NoExecute"} in spec["tolerations"]
    assert spec["restartPolicy"] == "Always" and spec["dnsPolicy"] == "ClusterFirst"
    assert spec["terminationGracePeriodSeconds"] == 30
    c = spec["containers"][0]
    assert c["imagePullPolicy"] == "Always" and c["ports"][0]["protocol"] == "TCP"
    assert c["terminationMessagePath"] == "/dev/termination-log"
    assert p["status"]["phase"] == "Pending"

    # modify in place (IN_CLOSE_WRITE): UPDATE with a new UID
    node.write("web.yaml", pod_yaml("web", image="busybox:1.36"), atomic=False)
    ev = node.wait_events(2)
    assert ev[1][0] == "UPDATE" and ev[1][1] == "default/web-test-node" and ev[1][2] != uid1
    upd = node.lines("static pod UPDATE")[0]
    assert upd["old_uid"] == uid1
    assert items_by_name(node)["web-test-node"]["spec"]["containers"][0]["image"] == "busybox:1.36"

    # the same content again: no event
    node.write("web.yaml", pod_yaml("web", image="busybox:1.36"))
    time.sleep(0.3)
    assert len(node.events()) == 2

    os.unlink(os.path.join(node.manifests, "web.yaml"))
    ev = node.wait_events(3)
    assert ev[2][0] == "REMOVE" and ev[2][2] == ev[1][2]
    assert node.pods()["items"] == []


def test_bad_manifest_skipped_others_untouched_fix_picked_up(node):
    node.write("good.yaml", pod_yaml("good"))
    node.wait_events(1)
    node.write("bad.yaml", pod_yaml("bad", extra="    ports:\n    - containerPort: 8080\n"
                                                 "    - containerPort: 70000\n"))
    node.write("wrongkind.yaml", "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: d}\n")
    node.write("broken.json", '{"apiVersion": "v1", "kind": "Pod",')
    errs = None
    for _ in range(100):
        errs = {os.path.basename(e["file"]): e["error"] for e in node.errors()}
        if len(errs) == 3:
            break
        time.sleep(0.02)
    assert errs["bad.yaml"] == ("spec.containers[0].ports[1].containerPort: Invalid value: 70000: "
                                "must be between 1 and 65535, inclusive")
    assert 'kind: Invalid value: "Deployment"' in errs["wrongkind.yaml"]
    assert "line" in errs["broken.json"]
    assert [e[1] for e in node.events()] == ["default/good-test-node"]
    assert list(items_by_name(node)) == ["good-test-node"]
    # fixing the file picks it up
    node.write("bad.yaml", pod_yaml("bad", extra="    ports:\n    - containerPort: 8080\n"))
    ev = node.wait_events(2)
    assert ev[1][0] == "ADD" and ev[1][1] == "default/bad-test-node"
    assert sorted(items_by_name(node)) == ["bad-test-node", "good-test-node"]
    # the periodic re-check does not repeat errors for unchanged bad files
    n_err = len(node.errors())
    time.sleep(1.3)
    assert len(node.errors()) == n_err


def _log_time(ts):
    # time=2026-11-26T12:00:00.123Z (UTC, ms)
    import calendar
    base, ms = ts.rstrip("Z").split(".")
    return calendar.timegm(time.strptime(base, "%Y-%m-%dT%H:%M:%S")) + int(ms) / 1000.0


def test_rename_into_directory_is_seen_at_once(node):
    lat = []
    for i in range(20):
        tmp = os.path.join(node.tmp, f"p{i}.yaml.tmp")
        with open(tmp, "w") as f:
            f.write(pod_yaml(f"p{i}"))
        t0 = time.time()
        os.rename(tmp, os.path.join(node.manifests, f"p{i}.yaml"))
        node.wait_events(i + 1, timeout=2)
        line = [d for d in node.lines("static pod ADD") if d["pod"] == f"default/p{i}-test-node"][0]
        lat.append(_log_time(line["time"]) - t0)
    lat.sort()
    # rename -> parsed, validated and reported, from the log's own timestamp (ms resolution)
    print(f"rename -> ADD event: median {lat[10]*1000:.1f} ms, max {lat[-1]*1000:.1f} ms")
    assert lat[10] < 0.05
    assert len(node.pods()["items"]) == 20


def test_ignored_files_and_first_document_only(node):
    node.write(".hidden.yaml", pod_yaml("hidden"))
    node.write("notes.txt", pod_yaml("txt"))
    node.write("web.yaml~", pod_yaml("backup"))
    os.mkdir(os.path.join(node.manifests, "sub.yaml"))
    node.write("multi.yml", pod_yaml("first") + "---\n" + pod_yaml("second"))
    ev = node.wait_events(1)
    time.sleep(0.3)
    assert [e[1] for e in node.events()] == ["default/first-test-node"]
    assert node.errors() == []


def test_duplicate_names_and_namespaces(node):
    node.write("a.yaml", pod_yaml("same"))
    node.wait_events(1)
    node.write("b.yaml", pod_yaml("same", image="other"))
    node.write("c.yaml", "apiVersion: v1\nkind: Pod\nmetadata: {name: same, namespace: kube-system}\n"
                         "spec: {containers: [{name: c, image: i}]}\n")
    node.wait_events(2)
    time.sleep(0.2)
    errs = [e for e in node.errors() if e["file"].endswith("b.yaml")]
    assert errs and "duplicate pod name" in errs[0]["error"]
    assert sorted(e[1] for e in node.events()) == ["default/same-test-node", "kube-system/same-test-node"]
    os.unlink(os.path.join(node.manifests, "a.yaml"))
    ev = node.wait_events(4)
    assert ev[2][0] == "REMOVE" and ev[2][3] == "a.yaml"
    assert ev[3][0] == "ADD" and ev[3][3] == "b.yaml"


def test_directory_created_later_is_found_by_recheck(tmp_path):
    n = Nodelet(extra_args=["--file-check-frequency=1s"])
    try:
        os.rmdir(n.manifests)
        n.start()
        os.mkdir(n.manifests)
        n.write("late.yaml", pod_yaml("late"))
        ev = n.wait_events(1, timeout=4)
        assert ev[0][:2] == ("ADD", "default/late-test-node")
        # once found, the directory is watched (no need to wait for a re-check)
        t0 = time.monotonic()
        n.write("later.yaml", pod_yaml("later"))
        n.wait_events(2, timeout=2)
        assert time.monotonic() - t0 < 0.5
    finally:
        n.cleanup()


def test_uid_stable_across_restarts_and_specific_to_node():
    a = Nodelet()
    b = None
    try:
        a.write("web.yaml", pod_yaml("web"))
        a.start()
        uid = a.wait_events(1)[0][2]
        a.stop()
        a.start()
        assert a.wait_events(1)[0][2] == uid  # same file, same node: same UID (log restarts)
        a.stop()
        b = Nodelet(node="other-node")
        b.manifests = a.manifests
        b.args = [x if not x.startswith("--pod-manifest-path") else f"--pod-manifest-path={a.manifests}"
                  for x in b.args]
        b.start()
        ev = b.wait_events(1)
        assert ev[0][1] == "default/web-other-node" and ev[0][2] != uid
    finally:
        a.cleanup()
        if b:
            b.cleanup()


def test_single_manifest_file_path(tmp_path):
    n = Nodelet(manifests=False)
    try:
        path = os.path.join(n.tmp, "only.manifest")
        with open(path, "w") as f:
            f.write(pod_yaml("only"))
        n.args.append(f"--pod-manifest-path={path}")
        n.start()
        assert n.wait_events(1)[0][1] == "default/only-test-node"
    finally:
        n.cleanup()


def test_example_manifests_are_valid(node):
    """The demo's manifests (static-pods/examples) load without errors."""
    import glob
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    examples = sorted(glob.glob(os.path.join(root, "static-pods", "examples", "*.yaml")))
    assert len(examples) >= 3
    for path in examples:
        with open(path) as f:
            node.write(os.path.basename(path), f.read())
    node.wait_events(len(examples))
    assert node.errors() == []
    pods = items_by_name(node)
    assert {"web-test-node", "with-init-test-node", "crashloop-test-node"} <= set(pods)
    web = pods["web-test-node"]["spec"]["containers"][0]
    assert web["image"] == "localhost/nodelet-demo:latest" and web["imagePullPolicy"] == "IfNotPresent"
    assert web["readinessProbe"]["httpGet"]["port"] == "http"
    assert pods["with-init-test-node"]["spec"]["initContainers"][0]["name"] == "prepare"
