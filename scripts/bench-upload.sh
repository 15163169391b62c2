#!/usr/bin/env bash
# Upload throughput, egocap's queue against curl: the same random file sent
# to the same local tus server (@tus/server + @tus/file-store, as the tests
# use) in the same run. curl sends it as one PATCH; egocap sends it through
# its journal in chunks (4 MiB by default), as a phone would. Prints MB/s
# for each (median of RUNS), egocap's share of curl's rate (goal >= 90 %)
# and egocap's CPU time per MB.
#
#   bash scripts/bench-upload.sh            # 256 MB, 3 runs each
#   SIZE_MB=64 RUNS=5 CHUNK_MB=1 bash scripts/bench-upload.sh
# Uses target/release/egocap (built if missing) or $EGOCAP_BIN.
set -euo pipefail
cd "$(dirname "$0")/.."
root="$(pwd)"
. bindings/paths.sh

size_mb="${SIZE_MB:-256}"
runs="${RUNS:-3}"
chunk_mb="${CHUNK_MB:-4}"
bin="${EGOCAP_BIN:-$target_dir/release/egocap}"
[ -x "$bin" ] || cargo build --release -p egocap-cli
bash scripts/install-tus-server.sh >/dev/null

work="$(mktemp -d)"
server_pid=""
cleanup() {
    [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT

# The server exits when its stdin closes: keep a pipe open for it.
mkfifo "$work/stdin"
node tests/tus/server.mjs --modules "$tools/tus" --store "$work/store" --port 0 <"$work/stdin" >"$work/server.out" 2>&1 &
server_pid=$!
exec 9>"$work/stdin"
for _ in $(seq 100); do
    grep -q '^listening' "$work/server.out" 2>/dev/null && break
    sleep 0.1
done
port="$(sed -n 's/^listening 127.0.0.1:\([0-9]*\).*/\1/p' "$work/server.out")"
[ -n "$port" ] || { cat "$work/server.out" >&2; echo "bench-upload: the tus server did not start" >&2; exit 1; }
endpoint="http://127.0.0.1:$port/files/"

head -c "$((size_mb << 20))" /dev/urandom >"$work/payload.bin"
size="$(stat -c %s "$work/payload.bin")"
echo "bench-upload: $(nproc) core(s), $(sed -n 's/^model name[^:]*: //p' /proc/cpuinfo | head -1)"
echo "bench-upload: $size bytes to $endpoint, $runs run(s) each"

median() { sort -g | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }

# Alternate the two, and empty the store after each upload, so neither
# side inherits the other's dirty pages or a fuller disk.
for run in $(seq "$runs"); do
    location="$(curl -s -D - -o /dev/null -X POST -H 'Tus-Resumable: 1.0.0' -H "Upload-Length: $size" "$endpoint" |
        awk 'tolower($1) == "location:" { print $2 }' | tr -d '\r')"
    seconds="$(curl -s -o /dev/null -w '%{time_total}' -X PATCH -H 'Expect:' -H 'Tus-Resumable: 1.0.0' \
        -H 'Upload-Offset: 0' -H 'Content-Type: application/offset+octet-stream' -T "$work/payload.bin" "$location")"
    awk -v s="$seconds" -v b="$size" -v r="$run" 'BEGIN { printf "curl   run %d: %.2f s, %.1f MB/s\n", r, s, b / 1e6 / s }'
    awk -v s="$seconds" -v b="$size" 'BEGIN { print b / 1e6 / s }' >>"$work/curl.rates"
    rm -f "$work/store/"*; sync

    "$bin" bench upload --server "$endpoint" --file "$work/payload.bin" --chunk-mb "$chunk_mb" --runs 1 >"$work/egocap.out"
    sed -n "s/^run 0: /egocap run $run: /p" "$work/egocap.out"
    sed -n 's/^run 0: [0-9.]* s, \([0-9.]*\) MB\/s.*/\1/p' "$work/egocap.out" >>"$work/egocap.rates"
    sed -n 's/.*CPU \([0-9.]*\) ms per MB/\1/p' "$work/egocap.out" >>"$work/egocap.cpu"
    rm -f "$work/store/"*; sync
done
curl_rate="$(median <"$work/curl.rates")"
egocap_rate="$(median <"$work/egocap.rates")"
egocap_cpu="$(median <"$work/egocap.cpu")"
echo "medians: curl $curl_rate MB/s, egocap $egocap_rate MB/s ($chunk_mb MiB chunks), egocap CPU $egocap_cpu ms per MB"
awk -v e="$egocap_rate" -v c="$curl_rate" 'BEGIN { printf "egocap reaches %.0f %% of curl'"'"'s rate (goal >= 90 %%)\n", 100 * e / c }'
