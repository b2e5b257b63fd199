#!/bin/bash
# The README's first command, timed to the first served checkout, in a fresh clone + fresh venv:
#   bench/first_command.sh [REPO] [BRANCH]        (defaults: this checkout, its current branch)
# Uses pip's cache as it is (warm after any earlier install), an empty TANDEM_HOME, and polls
# checkout with curl every 50 ms; then times `tandem run -f` alone, once installed. Needs the
# ports the run file fixes (8081-8083, 3500) free.
set -u
repo=${1:-$(git -C "$(dirname "$0")" rev-parse --show-toplevel)}
branch=${2:-$(git -C "$repo" rev-parse --abbrev-ref HEAD)}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
git clone -q --branch "$branch" "$repo" "$work/repo"
cd "$work/repo" || exit 1
export TANDEM_HOME=$work/home
order='{"item": "tea", "qty": 3, "customer": "ann@example.com"}'

first_checkout() {  # seconds from $1 until checkout answers 201 (pid $2 must stay alive)
    while [ "$(curl -s -o /dev/null -w '%{http_code}' -X POST localhost:8081/checkout -d "$order")" != 201 ]; do
        kill -0 "$2" 2>/dev/null || { echo "the run exited; its log:" >&2; cat "$work/run.log" >&2; return 1; }
        sleep 0.05
    done
    echo "$(date +%s.%N) - $1" | bc
}

echo "load average: $(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || uptime)"
start=$(date +%s.%N)
(python3 -m venv .venv && .venv/bin/pip install -q -e . -e ./sdk && date +%s.%N > "$work/installed" \
    && exec .venv/bin/tandem run -f examples/shop/tandem.yaml) > "$work/run.log" 2>&1 &
pid=$!
total=$(first_checkout "$start" $pid) || exit 1
echo "fresh clone + venv: first served checkout after ${total} s (pip: $(echo "$(cat "$work/installed") - $start" | bc) s)"
kill -INT $pid; wait $pid

start=$(date +%s.%N)
.venv/bin/tandem run -f examples/shop/tandem.yaml > "$work/run.log" 2>&1 &
pid=$!
alone=$(first_checkout "$start" $pid) || exit 1
echo "installed: first served checkout after ${alone} s"
kill -INT $pid; wait $pid
