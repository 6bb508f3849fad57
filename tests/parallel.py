"""`make test`: the suite in one pytest process per core (at most 4), each running every N-th test, side by
side; prints each process's report, then one closing line with the counts of all. `pytest` alone runs the
whole suite in one process, and `pytest --shard K/N` one share of it."""
import os
import re
import subprocess
import sys
import tempfile

shards = int(os.environ.get("SHARDS", min(4, len(os.sched_getaffinity(0)))))
logs = [tempfile.TemporaryFile("w+") for _ in range(shards)]
runs = [subprocess.Popen([sys.executable, "-m", "pytest", "-q", f"--shard={k}/{shards}", *sys.argv[1:]],
                         stdout=log, stderr=subprocess.STDOUT) for k, log in enumerate(logs)]
counts = {}
for k, (run, log) in enumerate(zip(runs, logs)):
    run.wait()
    log.seek(0)
    report = log.read()
    print(f"===== share {k + 1} of {shards} =====\n{report}", flush=True)
    closing = report.strip().splitlines()[-1] if report.strip() else ""
    for number, word in re.findall(r"(\d+) (passed|failed|skipped|errors?|deselected)", closing):
        counts[word] = counts.get(word, 0) + int(number)
print(", ".join(f"{counts.get(word, 0)} {word}" for word in ("passed", "failed"))
      + "".join(f", {counts[word]} {word}" for word in ("skipped", "error", "errors") if counts.get(word)))
sys.exit(max(run.returncode for run in runs))
