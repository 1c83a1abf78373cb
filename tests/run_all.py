#!/usr/bin/python3
"""Run every test of nodelet and print one closing line:

    N passed, N failed, N skipped

Unit tests are cmocka binaries (each test case counts), fuzz targets run for a
bounded time on their seed corpus (each target counts once), integration tests
are pytest (each test counts). Exit status is non-zero when anything failed.
"""
import argparse
import os
import re
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def run_unit(binaries, sanitize):
    passed = failed = 0
    env = dict(os.environ)
    if sanitize:
        env.setdefault("ASAN_OPTIONS", "detect_leaks=1:abort_on_error=0")
        env.setdefault("UBSAN_OPTIONS", "print_stacktrace=1:halt_on_error=1")
    for b in binaries:
        name = os.path.basename(b)
        p = subprocess.run([b], cwd=ROOT, env=env, stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, text=True, timeout=600)
        out = p.stdout
        ok = sum(int(m) for m in re.findall(r"\[  PASSED  \] (\d+) test", out))
        bad = sum(int(m) for m in re.findall(r"\[  FAILED  \] (\d+) test", out))
        if p.returncode != 0 and bad == 0:
            bad = 1  # crashed or sanitizer report
        passed += ok
        failed += bad
        status = "ok" if bad == 0 else "FAILED"
        print(f"unit  {name}: {ok} passed, {bad} failed [{status}]")
        if bad:
            sys.stdout.write(out[-6000:])
    return passed, failed


def run_fuzz(targets, seconds):
    passed = failed = 0
    for t in targets:
        name = os.path.basename(t)
        seeds = os.path.join(ROOT, "tests", "fuzz", "corpus", name)
        with tempfile.TemporaryDirectory(prefix=f"fuzz-{name}-") as work:
            args = [t, f"-max_total_time={seconds}", "-rss_limit_mb=2048",
                    "-timeout=10", f"-artifact_prefix={work}/", work]
            if os.path.isdir(seeds):
                args.append(seeds)
            p = subprocess.run(args, cwd=ROOT, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True,
                               timeout=seconds + 300)
            if p.returncode == 0:
                passed += 1
                print(f"fuzz  {name}: ok ({seconds}s)")
            else:
                failed += 1
                print(f"fuzz  {name}: FAILED")
                sys.stdout.write(p.stdout[-6000:])
                for f in os.listdir(work):
                    if f.startswith(("crash-", "leak-", "timeout-", "oom-")):
                        print(f"  artifact: {f}")
    return passed, failed


def run_integration(build, sanitize, extra):
    env = dict(os.environ)
    env["NODELET_BUILD"] = os.path.join(ROOT, build)
    env["NODELET_SANITIZE"] = "1" if sanitize else "0"
    if sanitize:
        # Short-lived helpers exit with allocations still live on purpose.
        env.setdefault("ASAN_OPTIONS", "detect_leaks=0")
    with tempfile.NamedTemporaryFile(suffix=".xml") as x:
        cmd = ["/usr/bin/python3", "-m", "pytest", "-q", "-rfEs", "-p", "no:cacheprovider",
               f"--junitxml={x.name}", os.path.join(ROOT, "tests", "integration")] + extra
        p = subprocess.run(cmd, cwd=ROOT, env=env)
        if p.returncode == 5:  # no tests collected
            return 0, 0, 0
        try:
            tree = ET.parse(x.name)
        except ET.ParseError:
            return 0, 1, 0
        passed = failed = skipped = 0
        for suite in tree.getroot().iter("testsuite"):
            tests = int(suite.get("tests", 0))
            f = int(suite.get("failures", 0)) + int(suite.get("errors", 0))
            s = int(suite.get("skipped", 0))
            passed += tests - f - s
            failed += f
            skipped += s
        if p.returncode not in (0, 5) and failed == 0:
            failed = 1
        return passed, failed, skipped


def run_extra(commands):
    """Each extra check prints its own "N passed, N failed[, N skipped]" line."""
    passed = failed = skipped = 0
    for cmd in commands:
        print(f"extra {cmd}")
        p = subprocess.run(cmd, shell=True, cwd=ROOT, stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, text=True)
        sys.stdout.write(p.stdout[-20000:])
        m = None
        for line in p.stdout.splitlines():
            mm = re.match(r"^(?:\w+: )?(\d+) passed, (\d+) failed(?:, (\d+) skipped)?$", line.strip())
            if mm:
                m = mm
        if m:
            passed += int(m.group(1))
            failed += int(m.group(2))
            skipped += int(m.group(3) or 0)
        if p.returncode != 0 and not (m and int(m.group(2))):
            failed += 1
    return passed, failed, skipped


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default="build")
    ap.add_argument("--sanitize", default="0")
    ap.add_argument("--unit", default="")
    ap.add_argument("--fuzz", default="")
    ap.add_argument("--fuzz-seconds", type=int, default=5)
    ap.add_argument("--extra", default="", help="commands separated by ';;'")
    ap.add_argument("--only", choices=["unit", "fuzz", "integration", "extra"])
    ap.add_argument("pytest_args", nargs="*")
    a = ap.parse_args()
    sanitize = a.sanitize == "1"
    passed = failed = skipped = 0
    if a.only in (None, "unit"):
        p, f = run_unit(a.unit.split(), sanitize)
        passed += p
        failed += f
    if a.only in (None, "fuzz"):
        p, f = run_fuzz(a.fuzz.split(), a.fuzz_seconds)
        passed += p
        failed += f
    if a.only in (None, "integration"):
        p, f, s = run_integration(a.build, sanitize, a.pytest_args)
        passed += p
        failed += f
        skipped += s
    if a.only in (None, "extra") and a.extra.strip():
        p, f, s = run_extra([c.strip() for c in a.extra.split(";;") if c.strip()])
        passed += p
        failed += f
        skipped += s
    print(f"{passed} passed, {failed} failed, {skipped} skipped")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
