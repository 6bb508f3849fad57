"""`make test`: the suite in one pytest process per core (at most 4), each running every N-th test, side by
side; the first's report is shown as it runs, the others' after it, then one closing line with the counts of
all. `pytest` alone runs the whole suite in one process, and `pytest --shard K/N` one share of it."""
import os
import re
import subprocess
import sys
import tempfile

shards = int(os.environ.get("SHARDS", min(4, len(os.sched_getaffinity(0)))))
logs = [tempfile.TemporaryFile("w+") for _ in range(1, shards)]
command = [sys.executable, "-m", "pytest", "-q", *sys.argv[1:]]
others = [subprocess.Popen(command + [f"--shard={k}/{shards}"], stdout=log, stderr=subprocess.STDOUT)
          for k, log in enumerate(logs, 1)]
first = subprocess.Popen(command + [f"--shard=0/{shards}"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
reports = [""]
print(f"===== share 1 of {shards} =====", flush=True)
for line in first.stdout:  # shown as it comes
    reports[0] += line
    print(line, end="", flush=True)
first.wait()
for k, (run, log) in enumerate(zip(others, logs), 2):
    run.wait()
    log.seek(0)
    reports.append(log.read())
    print(f"===== share {k} of {shards} =====\n{reports[-1]}", flush=True)
counts = {}
for report in reports:
    closing = report.strip().splitlines()[-1] if report.strip() else ""
    for number, word in re.findall(r"(\d+) (passed|failed|skipped|errors?)", closing):
        counts[word] = counts.get(word, 0) + int(number)
print(", ".join(f"{counts.get(word, 0)} {word}" for word in ("passed", "failed"))
      + "".join(f", {counts[word]} {word}" for word in ("skipped", "error", "errors") if counts.get(word)))
sys.exit(max(run.returncode for run in [first, *others]))
