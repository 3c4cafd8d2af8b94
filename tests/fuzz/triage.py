#!/usr/bin/env python3
"""Triage of fuzz_capture artifacts by the stack of each: reruns every
crash-/timeout-/oom-/leak- file once under the fuzzer binary and classifies
its first frame that is neither a sanitizer, libFuzzer nor libc frame:

  libhdf5  the fault is inside libhdf5 (goes to the regression corpus)
  ours     it is in ripple's code (lib/, analysis/, experiments/, the harness): fix it
  other    anywhere else (zlib, ...): look at it

Usage: triage.py FUZZER ARTIFACT... [--tsv OUT] [--copy-libhdf5 DIR]
Prints one line per artifact (kind, verdict, signature of the first three
frames) and a summary by verdict and unique signature."""
import argparse, hashlib, os, re, shutil, subprocess, sys

SKIP = re.compile(r"__interceptor_|__asan|__sanitizer|__lsan|__ubsan|fuzzer::|LLVMFuzzerRunDriver|"
                  r"^(malloc|calloc|realloc|free|abort|raise|main|_start)\b|MallocHook|libc\.so|__libc|"
                  r"__restore_rt|^__mem|^mem(cpy|move|set|cmp)|^str(len|cmp|ncmp|chr)")
FRAME = re.compile(r"^\s*#(\d+) 0x[0-9a-f]+ (?:in (\S+) )?(.*)$")
OURS = re.compile(r"/(lib/src|analysis|experiments|tests/fuzz)/[^ ]+\.c")


def frames_of(report):
    """Frames of the first stack trace after the ERROR line."""
    out, started = [], False
    for line in report.splitlines():
        if not started and ("ERROR:" in line or "runtime error:" in line):
            started = True
            continue
        m = FRAME.match(line)
        if started and m:
            if out and int(m.group(1)) == 0:
                break  # the next trace (e.g. where freed / allocated)
            out.append((m.group(2) or "", m.group(3)))
    return out


def classify(report):
    kind = "crash"
    if "libFuzzer: timeout" in report:
        kind = "timeout"
    elif "out-of-memory" in report or "allocation-size-too-big" in report:
        kind = "oom"
    elif "LeakSanitizer" in report:
        kind = "leak"
    m = re.search(r"runtime error:.*", report)
    if m:  # UBSan: our code is the only instrumented code
        loc = re.search(r"^(\S+\.c):\d+:\d+: runtime error", report, re.M)
        return kind, "ours", "ubsan " + (loc.group(1).split("/")[-1] if loc else "?"), m.group(0)[:160]
    kept = [(fn, where) for fn, where in frames_of(report) if not SKIP.search(fn + " " + where)]
    if not kept:
        return kind, "other", "no-frames", ""
    fn, where = kept[0]
    if OURS.search(where) or fn == "LLVMFuzzerTestOneInput":
        verdict = "ours"
    elif "libhdf5" in where:
        verdict = "libhdf5"
    else:
        verdict = "other"
    sig = " < ".join(f or re.sub(r"^.*/", "", w.strip().split()[0].strip("()")) for f, w in kept[:3])
    ours = next((f"{f} {w.split()[0]}" for f, w in kept if OURS.search(w)), "")
    return kind, verdict, sig, ours


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("fuzzer")
    ap.add_argument("artifacts", nargs="+")
    ap.add_argument("--tsv")
    ap.add_argument("--timeout", type=int, default=5, help="seconds before a rerun counts as a hang (5)")
    ap.add_argument("--copy-libhdf5", metavar="DIR", help="copy the libhdf5 cases here, named by content hash")
    a = ap.parse_args()
    rows = []
    for art in a.artifacts:
        if not os.path.isfile(art):
            continue
        try:
            r = subprocess.run([a.fuzzer, f"-timeout={a.timeout}", "-rss_limit_mb=2048", "-runs=1", art],
                               capture_output=True, text=True, errors="replace", timeout=120)
            rep = r.stdout + r.stderr
            if r.returncode == 0:
                rows.append((art, "none", "fixed", "does not fail now", ""))
                continue
        except subprocess.TimeoutExpired:
            rows.append((art, "timeout", "other", "no libFuzzer report in 120 s", ""))
            continue
        kind, verdict, sig, ours = classify(rep)
        if kind == "oom" and sig == "no-frames":
            # the RSS limit fired (no stack): again, with a malloc limit that names the allocation
            try:
                r = subprocess.run([a.fuzzer, f"-timeout={a.timeout}", "-rss_limit_mb=4096", "-malloc_limit_mb=2048",
                                    "-runs=1", art], capture_output=True, text=True, errors="replace", timeout=120)
                kind, verdict, sig, ours = classify(r.stdout + r.stderr)
            except subprocess.TimeoutExpired:
                pass
        rows.append((art, kind, verdict, sig, ours))
        if verdict == "libhdf5" and a.copy_libhdf5:
            os.makedirs(a.copy_libhdf5, exist_ok=True)
            h = hashlib.sha1(open(art, "rb").read()).hexdigest()[:16]
            shutil.copy(art, os.path.join(a.copy_libhdf5, f"{kind}-{h}.h5"))
    for row in rows:
        print("\t".join(row))
    if a.tsv:
        with open(a.tsv, "w") as f:
            f.write("artifact\tkind\tverdict\tsignature\tour_frame\n")
            for row in rows:
                f.write("\t".join(row) + "\n")
    counts, sigs = {}, {}
    for _, kind, verdict, sig, _ in rows:
        counts[(verdict, kind)] = counts.get((verdict, kind), 0) + 1
        sigs.setdefault(verdict, set()).add(sig)
    print("# summary: " + ", ".join(f"{v} {k}: {n}" for (v, k), n in sorted(counts.items())), file=sys.stderr)
    for v, s in sorted(sigs.items()):
        print(f"# {v}: {len(s)} unique signatures", file=sys.stderr)
        for x in sorted(s):
            print(f"#   {x}", file=sys.stderr)
    return 1 if any(r[2] in ("ours", "other") for r in rows) else 0


if __name__ == "__main__":
    sys.exit(main())
