#!/usr/bin/env bash
# make trace-screenshot: docs/profiling/trace.png, a --profile trace as a
# browser shows it. Profiles one step of the FMP MNIST net (the bench-ops
# configuration), opens profile/trace.json in speedscope (an offline trace
# viewer, npm's speedscope 1.25.0, MIT) in Debian's headless Chromium, and
# saves the page. speedscope reads the trace's op events on numbered
# threads; the profiler's own span (a named pseudo-process) and the
# events' arguments, which it would print into every label, are left out
# of the copy it is given. Installs chromium (apt, as root) and fetches
# speedscope into target/speedscope the first time.
set -euo pipefail
cd "$(dirname "$0")/.."

bin=${PAPERLAB:-target/release/paperlab}
out=${OUT:-docs/profiling/trace.png}
viewer=target/speedscope
if ! command -v chromium >/dev/null; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "trace-screenshot: installing Debian's chromium"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
  else
    echo "trace-screenshot: chromium is missing. Run:  sudo apt-get install chromium" >&2
    exit 1
  fi
fi
if [ ! -f "$viewer/index.html" ]; then
  echo "trace-screenshot: fetching speedscope 1.25.0 from npm's registry"
  tmp=$(mktemp -d)
  (cd "$tmp" && npm pack --silent speedscope@1.25.0 >/dev/null && tar xzf speedscope-1.25.0.tgz)
  mkdir -p "$viewer"
  cp -r "$tmp/package/dist/release/." "$viewer/"
  rm -rf "$tmp"
fi

work=$(mktemp -d -t trace_screenshot.XXXXXX)
server=
cleanup() {
  [ -n "$server" ] && kill "$server" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT
"$bin" train-fmp --config experiments/fmp-mnist.toml --dataset fashion-mnist --filters 8 \
  --train-limit 300 --test-limit 50 --batch-size 50 --tests 1 --epochs 1 --threads 2 \
  --update-impl foreach --profile 1 --name trace --out "$work" --quiet >/dev/null
mkdir -p "$work/site" && cp -r "$viewer/." "$work/site/"
.venv/bin/python - "$work/train-fmp/trace/profile/trace.json" "$work/site/trace.json" <<'EOF'
import json, sys
trace = json.load(open(sys.argv[1]))
trace["traceEvents"] = [
    {k: v for k, v in e.items() if k != "args"}
    for e in trace["traceEvents"]
    if e.get("ph") == "X" and isinstance(e.get("pid"), int) and isinstance(e.get("tid"), int)
]
json.dump(trace, open(sys.argv[2], "w"))
EOF
port=$(.venv/bin/python -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
.venv/bin/python -m http.server "$port" --bind 127.0.0.1 --directory "$work/site" >/dev/null 2>&1 &
server=$!
sleep 1
mkdir -p "$(dirname "$out")"
url="http://127.0.0.1:$port/index.html#profileURL=http://127.0.0.1:$port/trace.json&title=train-fmp%20--profile%201"
# speedscope draws with WebGL: SwiftShader renders it without a GPU.
chromium --headless=new --no-sandbox --use-angle=swiftshader --enable-unsafe-swiftshader \
  --hide-scrollbars --window-size=1600,560 --virtual-time-budget=8000 \
  --screenshot="$out" "$url" >/dev/null 2>&1
echo "trace-screenshot: wrote $out"
