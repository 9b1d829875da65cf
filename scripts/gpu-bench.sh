#!/usr/bin/env bash
# prelabel's GPU benchmark, run ON the GPU host from the bundle that scripts/gpu-stage unpacked.
#
# ============================== RUNBOOK (device `run` tool) ==============================
# Limits that shape it: 15 min of device time per session, all calls together, machine start
# (1-3 min) and idle gaps included; 10 min per command; the machine goes back ~30 s after a call
# returns, and with it /tmp (where the parts wait); one call carries at most 64 MiB: the working
# tree (~27 MiB of tracked files travel every time) + the carried paths. Hence one part per call,
# calls back to back with no work in between, and the benchmark in the same call as the last part.
#
# 0. HERE, before touching the device (no device time):
#      scripts/gpu-bundle            # refreshes .gpu/ from the current tree (cached: only what
#                                    # changed is rebuilt; recompressing takes ~4-5 min on 2 cores)
#      scripts/gpu-bundle --check    # must print "per call: ... of 64 MiB" without TOO BIG
#      grep '^part ' .gpu/MANIFEST   # the parts: 4 at the time of writing (part-00..part-03,
#                                    # 35 MiB each, the last ~25 MiB)
#      scripts/gpu-dry-run           # optional (~1 min): the same flow on this CPU
#    then `status` (free): can_start_another must be true; note budget_left_s.
#
# 1. run  carry [".gpu/part-00", ".gpu/MANIFEST"]   timeout_s 60
#         command: nvidia-smi -L; bash scripts/gpu-stage .gpu/part-00
#    ~1.5-3.5 min of device time (machine start + transfer); expect "STATE have 1/4".
# 2. run  carry [".gpu/part-01", ".gpu/MANIFEST"]   timeout_s 60   command: bash scripts/gpu-stage .gpu/part-01
# 3. run  carry [".gpu/part-02", ".gpu/MANIFEST"]   timeout_s 60   command: bash scripts/gpu-stage .gpu/part-02
#    ~15-30 s each (transfer of ~62 MiB, sha256, and the gap until the next call); "have 2/4", "have 3/4".
# 4. run  carry [".gpu/part-03", ".gpu/MANIFEST"]   timeout_s 450
#         command: bash scripts/gpu-stage .gpu/part-03 && bash scripts/gpu-bench.sh
#    ~10 s to join, check and unpack (499 MiB), then the benchmark: ~3-4 min expected on an H200,
#    never more than its budget (330 s; prefix PRELABEL_GPU_BENCH_BUDGET=S to lower it when
#    budget_left_s - 120 is less). Results come back in files_at: SUMMARY.md (also the end of
#    output_tail), results.json, gpu-bench.tar.gz.
# 5. give_back at once.
# Total: ~8-10 min of the 15. With more or fewer parts (the tree or the bundle changed), same
# pattern: part-00 first with nvidia-smi -L, the last one with `&& bash scripts/gpu-bench.sh`.
#
# When something goes wrong:
#   - Every gpu-stage call ends with "gpu-stage: STATE have K/N; missing ..." or "STATE unpacked".
#     A part refused (size or sha256): repeat that same call once.
#   - STATE lists as missing a part sent earlier: the machine went cold between calls (a fresh one
#     started; its /tmp is empty). If >= ~7 min of device time are left, send the missing parts
#     again (any order), the call with the last missing one ending in `&& bash scripts/gpu-bench.sh`;
#     else stop and report what is known.
#   - "already running": wait for the call in flight, never start a second.
#   - Call 4 timed out (rc 124/137): $OUT still comes back (SUMMARY.md/results.json are rewritten
#     after every step; each step also has its own cap, so this should not happen). If the machine
#     is still warm and >= 4 min are left, rerun only the missing steps, timeout_s 240:
#       PRELABEL_GPU_BENCH_STEPS=bench-ssd-sw,batch PRELABEL_GPU_BENCH_BUDGET=200 bash scripts/gpu-bench.sh
#     (`scripts/gpu-stage --status` says whether /tmp/prelabel-gpu/root is still unpacked).
#   - A step failed: its rc and stderr tail are in SUMMARY.md; the other steps ran anyway. Exit
#     code 14 from prelabel = ONNX Runtime or the device could not be used: read the facts at the
#     top of SUMMARY.md (lib_* NOT FOUND, ldd_provider_cuda_missing, glibc_check) before retrying
#     anything; a retry costs a full restaging (~3-5 min).
#   - gpu-bench.sh exits 3 only when the bundle is not unpacked (then it prints gpu-stage --status).
# ===========================================================================================
#
# By hand on any GPU host (no `run` tool): copy the tracked files and .gpu/ there, then
#   scripts/gpu-stage .gpu/part-*  &&  OUT=/some/dir scripts/gpu-bench.sh
#
# Steps, in priority order (later ones are skipped cleanly when the time budget runs short):
#   run-nvdec        prelabel run, 1080p H.264, YOLOv8n, --device cuda --decoder nvdec --json-summary:
#                    did NVDEC really decode (frames.hw_decoded), or why not (video.decoder)
#   bench-yolo-sw    prelabel bench, 1080p, YOLOv8n, cuda, --decoder software, batch 1,8,32
#   bench-yolo-nvdec the same with --decoder nvdec (decode ceiling row: NVDEC decode fps)
#   bench-ssd-sw     prelabel bench, 768x576 H.264, the bundled SSD (fixed batch 1), software decode
#   bench-ssd-nvdec  the same with nvdec
#   batch            prelabel batch: 8 links to the 1080p clip, cuda, --max-in-flight-videos 4,
#                    --batch-size 32, the GPU's default decoder (nvdec): end-to-end fps across
#                    videos = frames / wall time (model load included)
#   bench-yolo-64    prelabel bench, 1080p, YOLOv8n, cuda, software, batch 64
#   bench-yolo-4s    prelabel bench, 1080p, YOLOv8n, cuda, nvdec, batch 32, 4 detector sessions
#                    instead of 2 (head decode + NMS run on the sessions' CPU threads: does a
#                    third and fourth thread raise the rate?)
#   bench-yolo-trt   --device tensorrt, batch 8, only where TensorRT 10 (libnvinfer.so.10) is found
# Which decoder ran: `prelabel bench` reports it per batch size (batches[].flow.decoder and
# .hw_decoded_frames in each step's JSON), the run-nvdec step in its summary, and the NVDEC
# utilisation sampled with nvidia-smi during each step (SUMMARY.md: "gpu max%/dec max%").
#
# Env: OUT (default /tmp/prelabel-gpu/out), PRELABEL_GPU_STAGE (default /tmp/prelabel-gpu),
#   PRELABEL_GPU_BENCH_BUDGET (seconds, default 330), PRELABEL_GPU_BENCH_STEPS (comma list),
#   PRELABEL_GPU_BENCH_DEVICE (default cuda), PYTHON (default python3: the one with nvidia/ libs),
#   PRELABEL_GPU_EXTRA_LD (colon-separated library folders searched right after the bundle's lib/,
#   e.g. where SUMMARY.md said a CUDA library was NOT FOUND but you know it is),
#   PRELABEL_GPU_BENCH_DRY=1: a CPU dry run of the whole flow (device auto, frame strides, batch
#   sizes 1,2, 2 videos; figures meaningless) — scripts/gpu-dry-run uses it.
set -uo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
t0=$(date +%s)
stage="${PRELABEL_GPU_STAGE:-/tmp/prelabel-gpu}"
b="$stage/root"
OUT="${OUT:-$stage/out}"
dry="${PRELABEL_GPU_BENCH_DRY:-0}"
budget="${PRELABEL_GPU_BENCH_BUDGET:-330}"
only="${PRELABEL_GPU_BENCH_STEPS:-}"
py="${PYTHON:-python3}"
device="${PRELABEL_GPU_BENCH_DEVICE:-cuda}"
[[ "$dry" == 1 ]] && device="${PRELABEL_GPU_BENCH_DEVICE:-auto}"
reserve=15     # seconds kept for packing the results

log() { echo "gpu-bench [$(( $(date +%s) - t0 ))s]: $*" >&2; }
if [[ ! -x "$b/bin/prelabel" ]]; then
  log "no bundle at $b (run scripts/gpu-stage with every part first)"
  [[ -x scripts/gpu-stage ]] && scripts/gpu-stage --status || true
  exit 3
fi
mkdir -p "$OUT"
work="$stage/bench-$(date -u +%Y%m%dT%H%M%SZ)"
mkdir -p "$work/steps"
: > "$work/steps.tsv"
log "results in $work, copied to $OUT after every step; budget ${budget}s; device $device$([[ $dry == 1 ]] && echo ' (DRY RUN)')"

# --- environment facts --------------------------------------------------------------------------
facts="$work/env.txt"
fact() { printf '%s=%s\n' "$1" "$2" >> "$facts"; }
: > "$facts"
fact date "$(date -u +%Y-%m-%dT%H:%M:%SZ)"
fact dry_run "$dry"
fact device_flag "$device"
fact host "$(uname -srm)"
fact os "$( (. /etc/os-release 2>/dev/null && echo "$PRETTY_NAME") || echo unknown)"
host_glibc="$(getconf GNU_LIBC_VERSION 2>/dev/null | awk '{print $2}')"
fact glibc "$host_glibc"
fact cores "$(nproc)"
fact mem_total "$(awk '/MemTotal/ {printf "%.0f GiB", $2 / 1048576}' /proc/meminfo)"
while IFS='=' read -r k v; do fact "bundle_$k" "$v"; done < "$b/BUILD_INFO"
need_glibc="$(sed -n 's/^glibc_needed=//p' "$b/BUILD_INFO")"
if [[ -n "$need_glibc" && -n "$host_glibc" ]] && [[ "$(printf '%s\n%s\n' "$need_glibc" "$host_glibc" | sort -V | head -1)" != "$need_glibc" ]]; then
  fact glibc_check "TOO OLD: the bundle needs glibc $need_glibc, the host has $host_glibc (every step will fail to start)"
else
  fact glibc_check "ok (needs $need_glibc, host $host_glibc)"
fi
if command -v nvidia-smi >/dev/null; then
  nvidia-smi > "$work/nvidia-smi.txt" 2>&1
  nvidia-smi -q > "$work/nvidia-smi-q.txt" 2>&1
  fact gpu "$(nvidia-smi --query-gpu=name,compute_cap,driver_version,memory.total --format=csv,noheader 2>&1 | head -1)"
  fact cuda_driver_api "$(sed -n 's/.*CUDA Version: *\([0-9.]*\).*/\1/p' "$work/nvidia-smi.txt" | head -1)"
else
  fact gpu "none (nvidia-smi not found)"
fi
fact python "$(command -v "$py") $("$py" -c 'import sys; print(sys.version.split()[0])' 2>&1)"
"$py" -m pip list 2>/dev/null | grep -iE '^(nvidia|torch |onnx|tensorrt|cuda)' > "$work/pip-gpu-packages.txt" || true
fact pip_gpu_packages "$(tr -s ' ' < "$work/pip-gpu-packages.txt" | tr '\n' ';' | cut -c1-600)"

# CUDA 13 / cuDNN 9 (/ TensorRT 10) libraries: the Python environment's nvidia/ packages first,
# then the CUDA toolkit, then the loader cache.
nvidia_dirs=$("$py" - <<'PY' 2>>"$work/find-libs.log"
import os, site, sys
dirs = []
try:
    import nvidia
    dirs += list(nvidia.__path__)
except Exception as e:
    print(f"import nvidia: {e}", file=sys.stderr)
try:
    sps = site.getsitepackages() + [site.getusersitepackages()]
except Exception:
    sps = []
for sp in sps + sys.path:
    for sub in ("nvidia", "tensorrt_libs", "tensorrt"):
        d = os.path.join(sp, sub)
        if os.path.isdir(d):
            dirs.append(d)
seen = set()
for d in dirs:
    d = os.path.realpath(d)
    if d not in seen:
        seen.add(d)
        print(d)
PY
)
fact nvidia_python_dirs "$(echo "$nvidia_dirs" | tr '\n' ' ')"
search_dirs=()
while read -r d; do [[ -n "$d" ]] && search_dirs+=("$d"); done <<<"$nvidia_dirs"
for d in /usr/local/cuda/lib64 /usr/local/cuda/targets/x86_64-linux/lib /usr/local/cuda-13*/lib64 /usr/lib/x86_64-linux-gnu; do
  [[ -d "$d" ]] && search_dirs+=("$d")
done
ld_dirs=()
IFS=: read -r -a extra_ld <<<"${PRELABEL_GPU_EXTRA_LD:-}"
add_dir() { local d; for d in "${ld_dirs[@]}"; do [[ "$d" == "$1" ]] && return; done; ld_dirs+=("$1"); }
find_lib() {  # prints the path of library $1, or nothing
  local d hit
  for d in "${search_dirs[@]}"; do
    hit=$(find "$d" -maxdepth 4 -name "$1" \( -type f -o -type l \) 2>/dev/null | head -1)
    [[ -n "$hit" ]] && { echo "$hit"; return; }
  done
  ldconfig -p 2>/dev/null | awk -v l="$1" '$1 == l {print $NF; exit}'
}
for d in "${extra_ld[@]}"; do [[ -n "$d" ]] && { add_dir "$d"; search_dirs=("$d" "${search_dirs[@]}"); }; done
[[ -n "${PRELABEL_GPU_EXTRA_LD:-}" ]] && fact extra_ld "$PRELABEL_GPU_EXTRA_LD"
cuda_ok=1
for l in libcudart.so.13 libcublas.so.13 libcublasLt.so.13 libcurand.so.10 libcufft.so.12 libnvrtc.so.13 \
         libnvJitLink.so.13 libcudnn.so.9; do
  p=$(find_lib "$l")
  if [[ -n "$p" ]]; then fact "lib_$l" "$p"; add_dir "$(dirname "$p")"; else fact "lib_$l" "NOT FOUND"; cuda_ok=0; fi
done
fact cuda_libs "$([[ $cuda_ok == 1 ]] && echo complete || echo 'INCOMPLETE: --device cuda will fail with exit 14 (see the lib_* NOT FOUND; PRELABEL_GPU_EXTRA_LD)')"
trt=""
p=$(find_lib libnvinfer.so.10)
if [[ -n "$p" ]]; then
  trt="$p"; fact lib_libnvinfer.so.10 "$p"; add_dir "$(dirname "$p")"
  for l in libnvonnxparser.so.10 libnvinfer_plugin.so.10; do
    q=$(find_lib "$l"); fact "lib_$l" "${q:-NOT FOUND}"; [[ -n "$q" ]] && add_dir "$(dirname "$q")"
  done
else
  fact lib_libnvinfer.so.10 "NOT FOUND (TensorRT 10 absent: the tensorrt step is skipped)"
fi
# The driver's libraries (FFmpeg dlopens libcuda.so.1 and libnvcuvid.so.1; ORT's CUDA EP needs libcuda).
for l in libcuda.so.1 libnvcuvid.so.1; do
  p=$(ldconfig -p 2>/dev/null | awk -v l="$l" '$1 == l {print $NF; exit}')
  if [[ -n "$p" ]]; then fact "driver_$l" "$p (loader cache)"; continue; fi
  p=$(find /usr/local/nvidia /usr/lib/x86_64-linux-gnu /usr/lib64 /usr/lib/wsl/lib -maxdepth 3 -name "$l" 2>/dev/null | head -1)
  if [[ -n "$p" ]]; then fact "driver_$l" "$p (not in the loader cache: added to LD_LIBRARY_PATH)"; add_dir "$(dirname "$p")"
  else fact "driver_$l" "NOT FOUND$([[ $l == libnvcuvid.so.1 ]] && echo ': NVDEC cannot work (the container lacks the driver video capability)')"; fi
done

# The bundle's libraries first; lib-compat (libstdc++/libgcc_s) only if the host's are too old.
ldpath="$b/lib"
[[ ${#ld_dirs[@]} -gt 0 ]] && ldpath="$ldpath:$(IFS=:; echo "${ld_dirs[*]}")"
if LD_LIBRARY_PATH="$ldpath" ldd "$b/bin/prelabel" 2>&1 | grep -qE "(GLIBCXX|CXXABI|GCC)_[0-9.]*' not found"; then
  ldpath="$b/lib:$b/lib-compat${ldpath#"$b/lib"}"
  fact libstdcxx "the host's libstdc++/libgcc_s are older than the bundle needs: using lib-compat/"
else
  fact libstdcxx "host's"
fi
fact LD_LIBRARY_PATH "$ldpath"
export ORT_DYLIB_PATH="$b/lib/libonnxruntime.so.1.31.1"
fact ORT_DYLIB_PATH "$ORT_DYLIB_PATH"
run_env=(env "LD_LIBRARY_PATH=$ldpath" "ORT_DYLIB_PATH=$ORT_DYLIB_PATH")

# ldd: everything but glibc & co. must come from the bundle (or, for the providers, CUDA dirs).
system_re='/(linux-vdso\.so\.1|ld-linux-x86-64\.so\.2|libc\.so\.6|libm\.so\.6|libmvec\.so\.1|libpthread\.so\.0|libdl\.so\.2|librt\.so\.1|libresolv\.so\.2|libutil\.so\.1|libanl\.so\.1|libstdc\+\+\.so\.6|libgcc_s\.so\.1)$'
{
  for f in bin/prelabel lib/libonnxruntime.so.1.31.1 lib/libonnxruntime_providers_cuda.so lib/libonnxruntime_providers_tensorrt.so; do
    echo "== ldd $f"; "${run_env[@]}" ldd "$b/$f" 2>&1
  done
} > "$work/ldd.txt"
missing=$("${run_env[@]}" ldd "$b/bin/prelabel" 2>&1 | grep -E 'not found' | sed 's/^[[:space:]]*//' | tr '\n' ';')
leaks=$("${run_env[@]}" ldd "$b/bin/prelabel" 2>/dev/null | awk '$2 == "=>" && $3 ~ /^\// {print $3}' |
        grep -v "^$b/" | grep -vE "$system_re" | tr '\n' ' ')
fact ldd_prelabel_missing "${missing:-none}"
fact ldd_prelabel_outside_bundle "${leaks:-none (only glibc & co. come from the host)}"
fact ldd_provider_cuda_missing "$("${run_env[@]}" ldd "$b/lib/libonnxruntime_providers_cuda.so" 2>&1 | grep 'not found' | awk '{print $1}' | tr '\n' ' ')"
fact ldd_provider_cuda_resolved "$("${run_env[@]}" ldd "$b/lib/libonnxruntime_providers_cuda.so" 2>&1 | awk '$1 ~ /^lib(cudart|cublas|cublasLt|curand|cuda)\.so/ {print $1 "=>" $3}' | tr '\n' ' ')"
if command -v cuobjdump >/dev/null; then
  fact cuobjdump_provider_elf "$(timeout 30 cuobjdump --list-elf "$b/lib/libonnxruntime_providers_cuda.so" 2>&1 | grep -oE 'sm_[0-9]+a?' | sort | uniq -c | tr -s ' ' | tr '\n' ';')"
fi
fact prelabel_version "$("${run_env[@]}" "$b/bin/prelabel" --version 2>&1 | head -1)"
log "environment: $(grep -E '^(gpu|glibc_check|ldd_prelabel_missing|ldd_prelabel_outside_bundle|driver_libnvcuvid.so.1)=' "$facts" | tr '\n' ' ')"

# --- GPU utilisation sampler (nvidia-smi every 0.5 s; decoder utilisation shows NVDEC at work) --
sampler=""
if command -v nvidia-smi >/dev/null; then
  ( while :; do
      s=$(nvidia-smi --query-gpu=utilization.gpu,utilization.decoder,memory.used,clocks.sm --format=csv,noheader,nounits 2>/dev/null | head -1)
      echo "$(date +%s.%N | cut -c1-14),${s// /}"
      sleep 0.5
    done ) > "$work/gpu-samples.csv" 2>/dev/null &
  sampler=$!
fi
cleanup() { [[ -n "$sampler" ]] && kill "$sampler" 2>/dev/null; }
trap cleanup EXIT

# --- the summariser (SUMMARY.md + results.json; rerun after every step) -------------------------
cat > "$work/summarize.py" <<'PY'
import json, os, sys
work, out, bundle, repo = sys.argv[1:5]
def read(p, default=""):
    try:
        with open(p, errors="replace") as f: return f.read()
    except OSError: return default
def short(text):  # paths as $B (the bundle), $W (this run's folder), ./ (the repository copy)
    return text.replace(work, "$W").replace(bundle, "$B").replace(repo + "/", "./")
facts = {}
for line in read(os.path.join(work, "env.txt")).splitlines():
    k, _, v = line.partition("=")
    facts[k] = v
samples = []
for line in read(os.path.join(work, "gpu-samples.csv")).splitlines():
    parts = line.split(",")
    try: samples.append((float(parts[0]), *[float(x) for x in parts[1:5]]))
    except (ValueError, IndexError): pass
def steady(report):
    """Rates from the median latencies, which leave out the first calls (session warm-up)."""
    rows = []
    stride = report.get("frame_stride", 1) or 1
    sessions = report.get("sessions", 1) or 1
    for b in report.get("batches", []):
        inf, full = b.get("inference") or {}, b.get("full") or {}
        li, lf = inf.get("latency_ms") or {}, full.get("latency_ms") or {}
        row = {"batch_size": b.get("batch_size"), "inference_fps": inf.get("fps"), "full_fps": full.get("fps")}
        if li.get("p50"): row["inference_fps_from_p50"] = round(sessions * 1000.0 / li["p50"] * stride, 1)
        if lf.get("p50"): row["full_fps_from_p50"] = round(b["batch_size"] * stride * 1000.0 / lf["p50"], 1)
        rows.append(row)
    return {"decode_fps": (report.get("decode") or {}).get("fps"), "batches": rows}
steps = []
for line in read(os.path.join(work, "steps.tsv")).splitlines():
    name, status, rc, start, end, kind = line.split("\t")[:6]
    d = os.path.join(work, "steps", name)
    step = {"name": name, "status": status, "rc": None if rc == "" else int(rc), "seconds": round(float(end) - float(start), 1),
            "command": short(read(d + ".cmd").strip()), "kind": kind}
    inside = [s for s in samples if float(start) <= s[0] <= float(end)]
    if inside:
        step["gpu_util_max"] = max(s[1] for s in inside); step["decoder_util_max"] = max(s[2] for s in inside)
        step["gpu_mem_max_mib"] = max(s[3] for s in inside)
    for ext in ("json", "stdout.json"):
        text = read(f"{d}.{ext}")
        if text.strip():
            try: step["report"] = json.loads(text); break
            except ValueError: step["report_unparsed"] = text[-2000:]
    err = read(d + ".stderr")
    step["stderr_tail"] = short("\n".join(err.splitlines()[-15:]))
    rep = step.get("report") if isinstance(step.get("report"), dict) else None
    if kind == "bench":
        i = err.rfind("\nprelabel bench:")
        step["table"] = short(err[i + 1:].rstrip()) if i >= 0 else ""
        if rep: step["derived"] = steady(rep)
    if kind == "batch" and rep:
        vids = rep.get("videos", [])
        frames = sum(v.get("frames", 0) or 0 for v in vids)
        step["derived"] = {"videos": len(vids), "frames": frames, "wall_seconds (process start and model load included)": step["seconds"],
                           "end_to_end_fps": round(frames / step["seconds"], 1) if step["seconds"] else None,
                           "statuses": sorted({str(v.get("status")) for v in vids})}
    if kind == "run" and rep:
        step["derived"] = {"decoder": rep.get("video", {}).get("decoder"), "hw_decoded": rep.get("frames", {}).get("hw_decoded"),
                           "decoded": rep.get("frames", {}).get("decoded"), "device": rep.get("model", {}).get("device")}
    steps.append(step)
res = {"facts": facts, "steps": steps}
tmp = os.path.join(out, "results.json.tmp")
with open(tmp, "w") as f: json.dump(res, f, indent=1)
os.replace(tmp, os.path.join(out, "results.json"))
md = ["# prelabel GPU benchmark" + (" (DRY RUN on CPU: figures meaningless)" if facts.get("dry_run") == "1" else ""),
      "", "$B = the bundle (" + bundle + "), $W = this run's folder (" + work + ")", ""]
for k in ("date", "gpu", "cuda_driver_api", "os", "glibc_check", "cores", "bundle_commit", "bundle_cuda_provider_sm",
          "driver_libcuda.so.1", "driver_libnvcuvid.so.1", "cuda_libs", "lib_libcudart.so.13", "lib_libcudnn.so.9", "lib_libnvinfer.so.10",
          "libstdcxx", "ldd_prelabel_missing", "ldd_prelabel_outside_bundle", "ldd_provider_cuda_missing",
          "runtime_libs_from_host", "runtime_libs_from_bundle", "cuobjdump_provider_elf"):
    if k in facts: md.append(f"- {k}: {short(facts[k])}")
md += ["", "| step | status | s | gpu max% | dec max% | mem MiB |", "|---|---|---|---|---|---|"]
for s in steps:
    md.append(f"| {s['name']} | {s['status']} | {s['seconds']} | {s.get('gpu_util_max', '–')} | {s.get('decoder_util_max', '–')} | {s.get('gpu_mem_max_mib', '–')} |")
for s in steps:
    if s["status"].startswith("skipped"):
        continue
    md += ["", f"## {s['name']}: {s['status']} ({s['seconds']} s)", "", "```", s["command"]]
    if s["status"] == "ok" and s.get("table"):
        md.append(s["table"])
        for r in (s.get("derived") or {}).get("batches", []):
            if "inference_fps_from_p50" in r:
                md.append(f"batch {r['batch_size']}: from p50 latencies (warm-up left out): inference ~{r['inference_fps_from_p50']} fps, "
                          f"full ~{r.get('full_fps_from_p50', '?')} fps")
    else:
        if s["status"] != "ok":
            md.append("--- stderr (last 15 lines) ---"); md.append(s["stderr_tail"])
        if s.get("derived"): md.append(json.dumps(s["derived"]))
    md.append("```")
with open(os.path.join(out, "SUMMARY.md.tmp"), "w") as f: f.write("\n".join(md) + "\n")
os.replace(os.path.join(out, "SUMMARY.md.tmp"), os.path.join(out, "SUMMARY.md"))
PY
publish() {
  "$py" "$work/summarize.py" "$work" "$OUT" "$b" "$root" 2>>"$work/summarize.err" || log "summarize failed (see summarize.err)"
  cp "$OUT/SUMMARY.md" "$work/" 2>/dev/null
  # Label rows are left out (8 x ~3 MB on the real run; only their counts matter here).
  tar -czf "$OUT/gpu-bench.tar.gz.tmp" --exclude='*.label_row.json' -C "$(dirname "$work")" "$(basename "$work")" 2>/dev/null &&
    mv "$OUT/gpu-bench.tar.gz.tmp" "$OUT/gpu-bench.tar.gz"
}

# --- steps --------------------------------------------------------------------------------------
wanted() { [[ -z "$only" || ",$only," == *",$1,"* ]]; }
step_env=()   # extra VAR=value for the next step only
record() { printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$@" >> "$work/steps.tsv"; }
# step NAME KIND CAP_SECONDS MIN_SECONDS -- prelabel ARGS...  (JSON on stdout for run/batch, --out for bench)
step() {
  local name=$1 kind=$2 cap=$3 min=$4; shift 5
  wanted "$name" || return 0
  local now left start end rc status
  now=$(date +%s); left=$(( budget - (now - t0) - reserve ))
  if (( left < min )); then
    log "$name: skipped (${left}s left of the budget, needs ${min}s)"
    record "$name" "skipped: time budget (${left}s left, needs ${min}s)" "" "$now" "$now" "$kind"; publish; return 0
  fi
  (( cap > left )) && cap=$left
  printf '%q ' "$@" > "$work/steps/$name.cmd"
  log "$name: started (cap ${cap}s)"
  start=$(date +%s.%N | cut -c1-14)
  timeout -k 5 "$cap" "${run_env[@]}" "${step_env[@]}" "$@" > "$work/steps/$name.stdout" 2> "$work/steps/$name.stderr"
  rc=$?
  step_env=()
  end=$(date +%s.%N | cut -c1-14)
  case $rc in
    0) status=ok ;;
    124|137) status="TIMEOUT after ${cap}s" ;;
    *) status="FAILED rc $rc" ;;
  esac
  [[ $kind != bench && -s "$work/steps/$name.stdout" ]] && cp "$work/steps/$name.stdout" "$work/steps/$name.stdout.json"
  log "$name: $status ($(awk -v a="$start" -v b="$end" 'BEGIN {printf "%.1f", b - a}')s)"
  [[ $status == ok ]] || tail -5 "$work/steps/$name.stderr" | sed 's/^/    /' >&2
  record "$name" "$status" "$rc" "$start" "$end" "$kind"
  publish
}
skip() { wanted "$1" || return 0; local now; now=$(date +%s); log "$1: skipped ($2)"; record "$1" "skipped: $2" "" "$now" "$now" "$3"; publish; }

P="$b/bin/prelabel"
clip1080="$b/assets/vtest_1080p_h264.mp4"
clip576="$b/assets/vtest_h264.mp4"
yolo="$b/assets/yolov8n_random.onnx"
ssd="$root/models/ssdlite_mobilenet_v2_coco_300.onnx"   # tracked: travels with every call
if [[ "$dry" == 1 ]]; then
  sizes=1,2; big=32; yolo_x=(--frame-stride 25 --inference-frames 4 --threads 2); ssd_x=(--frame-stride 50 --inference-frames 4 --threads 2)
  run_x=(--frame-stride 25 --threads 2 --batch-size 2); copies=2; in_flight=2; batch_bs=2; batch_x=(--frame-stride 25 --threads 2)
else
  # Every frame of the clips for the inference ceiling, so that session warm-up (cuDNN's
  # algorithm search on each new batch shape) weighs less in the figure.
  sizes=1,8,32; big=64; yolo_x=(--inference-frames 300); ssd_x=(--inference-frames 795); run_x=(--batch-size 32); copies=8; in_flight=4; batch_bs=32; batch_x=()
fi
have_yolo=1; [[ -f "$yolo" ]] || have_yolo=0

if (( have_yolo )); then
  # The loader's own record of every library the process loads (dlopen'ed ones too: ORT, its CUDA
  # provider, cuDNN, the driver's libcuda and libnvcuvid): which came from the host.
  step_env=(LD_DEBUG=libs "LD_DEBUG_OUTPUT=$work/lddebug-run")
  step run-nvdec run 90 20 -- "$P" run "$clip1080" --model "$yolo" --device "$device" --decoder nvdec --json-summary --quiet \
    --out "$work/run-nvdec.label_row.json" "${run_x[@]}"
  if compgen -G "$work/lddebug-run.*" >/dev/null; then
    grep -h 'calling init:' "$work"/lddebug-run.* | awk '{print $NF}' | sort -u > "$work/loaded-libs.txt"
    fact runtime_libs_from_host "$(grep -v "^$b/" "$work/loaded-libs.txt" | grep -vE "$system_re" | tr '\n' ' ' | cut -c1-900)"
    fact runtime_libs_from_bundle "$(grep -c "^$b/" "$work/loaded-libs.txt") (loaded-libs.txt)"
    rm -f "$work"/lddebug-run.*
    publish
  fi
  if [[ "$dry" == 1 ]]; then
    # On this CPU-only machine --device cuda must fail, with exit code 14, and be recorded.
    step dry-cuda-must-fail run 60 10 -- "$P" run "$clip1080" --model "$yolo" --device cuda --json-summary --quiet \
      --out "$work/dry-cuda.label_row.json" "${run_x[@]}"
  fi
  for dec in sw nvdec; do
    d=$([[ $dec == sw ]] && echo software || echo nvdec)
    step "bench-yolo-$dec" bench 150 40 -- "$P" bench --model "$yolo" --video "$clip1080" --device "$device" --decoder "$d" \
      --batch-sizes "$sizes" --out "$work/steps/bench-yolo-$dec.json" "${yolo_x[@]}"
  done
else
  for n in run-nvdec bench-yolo-sw bench-yolo-nvdec; do skip "$n" "no YOLO graph in the bundle" run; done
fi
for dec in sw nvdec; do
  d=$([[ $dec == sw ]] && echo software || echo nvdec)
  step "bench-ssd-$dec" bench 90 25 -- "$P" bench --model "$ssd" --video "$clip576" --device "$device" --decoder "$d" \
    --batch-sizes 1 --out "$work/steps/bench-ssd-$dec.json" "${ssd_x[@]}"
done
if (( have_yolo )); then
  mdir="$work/batch"; mkdir -p "$mdir"
  : > "$mdir/videos.jsonl"
  for i in $(seq 0 $((copies - 1))); do
    ln -sf "$clip1080" "$mdir/v$i.mp4"
    printf '{"path": "v%d.mp4", "data_hash": "00000000-0000-4000-8000-%012d", "title": "v%d.mp4"}\n' "$i" "$i" "$i" >> "$mdir/videos.jsonl"
  done
  step batch batch 120 30 -- "$P" batch --manifest "$mdir/videos.jsonl" --out-dir "$mdir/labels" --model "$yolo" \
    --device "$device" --max-in-flight-videos "$in_flight" --batch-size "$batch_bs" --json-summary "${batch_x[@]}"
  if [[ "$dry" == 1 ]]; then
    skip bench-yolo-64 "dry run" bench
  else
    step bench-yolo-64 bench 90 45 -- "$P" bench --model "$yolo" --video "$clip1080" --device "$device" --decoder software \
      --batch-sizes "$big" --out "$work/steps/bench-yolo-64.json" "${yolo_x[@]}"
  fi
  if [[ "$dry" == 1 ]]; then
    skip bench-yolo-4s "dry run" bench
  else
    step bench-yolo-4s bench 90 45 -- "$P" bench --model "$yolo" --video "$clip1080" --device "$device" --decoder nvdec \
      --inference-sessions 4 --batch-sizes 32 --out "$work/steps/bench-yolo-4s.json" "${yolo_x[@]}"
  fi
  if [[ -n "$trt" ]]; then
    step bench-yolo-trt bench 200 90 -- "$P" bench --model "$yolo" --video "$clip1080" --device tensorrt --decoder software \
      --batch-sizes "$([[ $dry == 1 ]] && echo 1 || echo 8)" --out "$work/steps/bench-yolo-trt.json" "${yolo_x[@]}"
  else
    skip bench-yolo-trt "TensorRT 10 not found (no libnvinfer.so.10 in the Python environment, CUDA toolkit or loader cache)" bench
  fi
fi

cleanup; sampler=""
publish
log "done in $(( $(date +%s) - t0 ))s; $OUT: $(cd "$OUT" && ls | tr '\n' ' ')"
cat "$OUT/SUMMARY.md"
exit 0
