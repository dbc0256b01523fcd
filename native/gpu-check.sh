#!/usr/bin/env bash
# One-call GPU check of the CUDA backend.
#
#   native/gpu-check.sh prepare   on a build machine (JDK 25, Maven, network for one jar): builds the
#                                 modules, stages jars + test classes + the JUnit console launcher in
#                                 .gpu/, builds a small Java runtime there with jlink, and checks what it
#                                 can without a GPU (runtime starts, harness runs on the CPU, GPU tests
#                                 report as skipped, this script's syntax, torch_step.py compiles).
#   native/gpu-check.sh profile   on the GPU machine, after a run: per-op step profiles (device waited for
#                                 after every backend call) and update-round times of every model at batch
#                                 256, then oialr4j and PyTorch steps of mlp and vit-small at batch 1024,
#                                 and (when $OUT is set) a JFR recording of vit-small's dense steps into
#                                 $OUT for a host-side profile. Under 6 minutes.
#   native/gpu-check.sh [run]     on the GPU machine (no JDK or Maven needed; python3 + PyTorch for the
#                                 comparison): runs the parity suite and the GPU kernel tests, times
#                                 training steps of every registered model (dense, r = 0.25 and 0.1 of
#                                 min(m, n)) with oialr4j and with PyTorch eager fp32, and prints one table
#                                 last. Needs .gpu/ from prepare (carry it). Finishes in under 6 minutes.
#
#   native/gpu-check.sh prepare-e2e   here: the CLI jar, a smaller runtime (.gpu/jre-min) and the first
#                                 30 000 training images of the bundled data set with the full test set
#                                 (.gpu/e2e; the whole set does not fit the device tool's 64 MiB)
#   native/gpu-check.sh e2e       on the GPU machine: './oialr4j compare --device cuda' for mlp (10 epochs),
#                                 vit-small and resnet20 (5 epochs) on that subset, delay and update-every
#                                 halved so the schedule falls on the same epochs as on the full set, with
#                                 the GPU's memory in use logged every second. Run dirs land in $OUT.
#   native/gpu-check.sh prepare-verify  here, after prepare and prepare-e2e: stages the JUnit launcher and the
#                                 test classes in .gpu/verify so that one call can run the parity suite with
#                                 the smaller runtime and the CLI jar, then the end-to-end runs
#   native/gpu-check.sh verify    on the GPU machine: the parity suite and GPU kernel tests (jre-min, the CLI
#                                 jar), then the e2e runs; for a session with one device call to spend
#   native/gpu-check.sh hide-data / restore-data
#                                 here, around a device-tool call: the device tool copies the tracked files
#                                 plus what is carried, at most 64 MiB, and the bundled data set alone is
#                                 30 MiB. hide-data takes data/fashion-mnist/*.gz out of git's index (and
#                                 ignores them) without touching the files; restore-data puts them back.
#
# Device-tool calls, after 'prepare' (and 'prepare-e2e') and 'hide-data' here:
#   run(command="bash native/gpu-check.sh", carry=[".gpu"], timeout_s=420)
#   run(command="bash native/gpu-check.sh profile", carry=[".gpu"], timeout_s=420)
#   run(command="bash native/gpu-check.sh e2e", carry=[".gpu/jre-min", ".gpu/e2e"], timeout_s=300)
#   run(command="bash native/gpu-check.sh verify", carry=[".gpu/jre-min", ".gpu/e2e", ".gpu/verify"], timeout_s=480)
# then 'restore-data'.
#
# Models come from dev.oialr4j.cuda.StepBenchmark.MODELS (one line per model there; PyTorch builders in
# native/torch_step.py). Budget per phase (upper bounds, enforced by timeout): parity 140 s, oialr4j
# timing 40 s per model, PyTorch timing 25 s per model; with the three models (mlp, resnet20, vit-small)
# that is at most 335 s plus start-up, under 6 minutes.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
GPU_DIR="$ROOT/.gpu"
JUNIT_VERSION=6.1.3
JAVA_MODULES=java.base,java.logging,jdk.incubator.vector,jdk.unsupported,jdk.jfr
JOPTS=(--add-modules jdk.incubator.vector --enable-native-access=ALL-UNNAMED -Xmx8g)
GPU_TESTS=(BackendParityTest CudaKernelsGpuTest CudaSigmaSvdGpuTest CudaDriverGpuTest)
BATCH=256
MODE=${1:-run}

classpath() {
  local cp=""
  for j in "$GPU_DIR"/lib/oialr4j-*.jar; do cp="$cp:$j"; done
  echo "${cp#:}:$GPU_DIR/test-classes"
}

run_parity() {  # $1: expect a GPU (1) or not (0); $2, $3: runtime and class path (default: prepare's)
  local select=() jre=${2:-$GPU_DIR/jre} cp=${3:-$(classpath)} launcher=${4:-$GPU_DIR/lib}
  for t in "${GPU_TESTS[@]}"; do select+=(--select-class "dev.oialr4j.cuda.$t"); done
  timeout 140 "$jre/bin/java" "${JOPTS[@]}" -jar "$launcher/junit-platform-console-standalone-$JUNIT_VERSION.jar" \
    execute --disable-banner --disable-ansi-colors --details=tree --class-path "$cp" "${select[@]}"
}

prepare() {
  cd "$ROOT"
  . .mvn/find-jdk.sh
  oialr4j_find_jdk
  echo "prepare: building with JAVA_HOME=$JAVA_HOME"
  ./mvnw -q -pl native -am package -DskipTests
  rm -rf "$GPU_DIR"
  mkdir -p "$GPU_DIR/lib"
  cp java-api/target/oialr4j-api-*.jar kernels/target/oialr4j-kernels-*.jar native/target/oialr4j-native-*.jar \
     "$GPU_DIR/lib/"
  cp -r native/target/test-classes "$GPU_DIR/test-classes"
  unzip -l kernels/target/oialr4j-kernels-*.jar | grep -q 'dev/oialr4j/kernels/oialr4j.fatbin' \
    || { echo "prepare: the kernels jar has no fatbin (nvcc missing?)" >&2; exit 1; }
  ./mvnw -q dependency:copy -Dartifact=org.junit.platform:junit-platform-console-standalone:$JUNIT_VERSION \
    -DoutputDirectory="$GPU_DIR/lib"
  "$JAVA_HOME/bin/jlink" --add-modules "$JAVA_MODULES" --strip-debug --no-man-pages --no-header-files \
    --compress=zip-6 --output "$GPU_DIR/jre"
  local mib
  mib=$(du -sm "$GPU_DIR" | cut -f1)
  echo "prepare: .gpu is $mib MiB (runtime $(du -sm "$GPU_DIR/jre" | cut -f1) MiB)"
  [ "$mib" -lt 60 ] || { echo "prepare: .gpu is too large to carry ($mib MiB >= 60)" >&2; exit 1; }
  bash -n "$ROOT/native/gpu-check.sh"
  python3 -c "import py_compile; py_compile.compile('$ROOT/native/torch_step.py', cfile='$GPU_DIR/torch_step.pyc', doraise=True)"
  rm -f "$GPU_DIR/torch_step.pyc"
  echo "prepare: models: $("$GPU_DIR/jre/bin/java" "${JOPTS[@]}" -cp "$(classpath)" dev.oialr4j.cuda.StepBenchmark --list-models 2>/dev/null)"
  "$GPU_DIR/jre/bin/java" "${JOPTS[@]}" -cp "$(classpath)" dev.oialr4j.cuda.StepBenchmark --device cpu --warmup 1 \
    --steps 2 --fractions 0.1 2>/dev/null | grep -q '^RESULT' || { echo "prepare: the step harness failed on the CPU" >&2; exit 1; }
  echo "prepare: step harness runs (CPU smoke run)"
  local out
  out=$(run_parity 0 2>&1) || { echo "$out" >&2; echo "prepare: the test launcher failed" >&2; exit 1; }
  echo "$out" | grep -E 'tests (successful|aborted|failed)' | sed 's/^/prepare: /'; echo 'prepare: (aborted = skipped by a JUnit assumption: the CUDA cases without a GPU)'
  echo "prepare: done; on the GPU machine run: bash native/gpu-check.sh   (carry .gpu)"
}

cuda_libraries() {  # puts the toolkit's libraries, else PyTorch's copies, on LD_LIBRARY_PATH
  local extra=/usr/local/cuda/lib64
  local torch_libs
  torch_libs=$(python3 - <<'PY' 2>/dev/null || true
import glob, os
try:
    import nvidia
    roots = [os.path.dirname(p) for p in nvidia.__path__]
except Exception:
    roots = []
dirs = set()
for r in roots:
    for lib in glob.glob(os.path.join(r, "nvidia", "*", "lib", "lib*.so*")):
        dirs.add(os.path.dirname(lib))
print(":".join(sorted(dirs)))
PY
)
  [ -n "$torch_libs" ] && extra="$extra:$torch_libs"
  export LD_LIBRARY_PATH="$extra${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
}

profile() {
  [ -x "$GPU_DIR/jre/bin/java" ] || { echo "gpu-check: $GPU_DIR is missing; run 'native/gpu-check.sh prepare' first" >&2; exit 1; }
  cd "$ROOT"
  cuda_libraries
  local start=$SECONDS models
  models=$("$GPU_DIR/jre/bin/java" "${JOPTS[@]}" -cp "$(classpath)" dev.oialr4j.cuda.StepBenchmark --list-models 2>/dev/null)
  echo "== per-op profiles and update rounds (batch $BATCH)"
  for m in $models; do
    timeout 70 "$GPU_DIR/jre/bin/java" "${JOPTS[@]}" -cp "$(classpath)" dev.oialr4j.cuda.StepBenchmark --device cuda \
      --batch $BATCH --warmup 10 --steps 30 --profile 5 --rounds 5 --models "$m" 2>&1 | grep -v '^WARNING' \
      | awk -F'\t' '$1 != "PROFILE" || $6 + 0 >= 0.05' || echo "($m: profile stopped)"
  done
  echo "== batch 1024"
  for m in mlp vit-small; do
    timeout 45 "$GPU_DIR/jre/bin/java" "${JOPTS[@]}" -cp "$(classpath)" dev.oialr4j.cuda.StepBenchmark --device cuda \
      --batch 1024 --warmup 10 --steps 30 --models "$m" 2>&1 | grep '^RESULT' || echo "($m: oialr4j timing stopped)"
    timeout 30 python3 "$ROOT/native/torch_step.py" --batch 1024 --models "$m" 2>&1 | grep '^RESULT' \
      || echo "($m: PyTorch timing stopped)"
  done
  if [ -n "${OUT:-}" ]; then
    echo "== host-side flight recording of vit-small dense steps -> \$OUT/vit-small-dense.jfr"
    timeout 60 "$GPU_DIR/jre/bin/java" "${JOPTS[@]}" \
      -XX:StartFlightRecording=filename="$OUT/vit-small-dense.jfr",settings=profile -cp "$(classpath)" \
      dev.oialr4j.cuda.StepBenchmark --device cuda --batch $BATCH --warmup 200 --steps 1500 --fractions 0 \
      --models vit-small 2>&1 | grep '^RESULT' || echo "(flight recording stopped)"
  fi
  echo "== profile done in $((SECONDS - start)) s"
}

run() {
  [ -x "$GPU_DIR/jre/bin/java" ] || { echo "gpu-check: $GPU_DIR is missing; run 'native/gpu-check.sh prepare' first" >&2; exit 1; }
  cd "$ROOT"
  local start=$SECONDS
  # cuBLAS / cuSOLVER: the toolkit's, else the copies that come with PyTorch's wheels.
  cuda_libraries
  local gpu="unknown GPU"
  command -v nvidia-smi >/dev/null && gpu=$(nvidia-smi --query-gpu=name,driver_version --format=csv,noheader | head -1)
  echo "== GPU: $gpu"
  local models
  models=$("$GPU_DIR/jre/bin/java" "${JOPTS[@]}" -cp "$(classpath)" dev.oialr4j.cuda.StepBenchmark --list-models 2>/dev/null | tr ' ' ',')

  echo "== parity suite and GPU kernel tests"
  local parity_log="$GPU_DIR/parity.log" parity_status=0
  run_parity 1 > "$parity_log" 2>&1 || parity_status=$?
  grep -v '^WARNING' "$parity_log" | tail -60
  local summary
  summary=$(grep -E 'tests (successful|failed|aborted)' "$parity_log" | sed 's/[^0-9a-z ]//g' | tr -s ' ' | paste -sd, -)

  echo "== oialr4j training steps (batch $BATCH)"
  local java_out="$GPU_DIR/steps-java.tsv" torch_out="$GPU_DIR/steps-torch.tsv"
  : > "$java_out"
  : > "$torch_out"
  # One process per model, each under its own timeout, so a slow model cannot starve the others.
  for m in ${models//,/ }; do
    timeout 40 "$GPU_DIR/jre/bin/java" "${JOPTS[@]}" -cp "$(classpath)" dev.oialr4j.cuda.StepBenchmark --device cuda \
      --batch $BATCH --models "$m" 2>&1 | grep -v '^WARNING' | tee -a "$java_out" || echo "($m: oialr4j timing stopped)"
  done
  echo "== PyTorch eager fp32 training steps (batch $BATCH)"
  for m in ${models//,/ }; do
    timeout 25 python3 "$ROOT/native/torch_step.py" --batch $BATCH --models "$m" 2>&1 | tee -a "$torch_out" \
      || echo "($m: PyTorch timing stopped)"
  done

  echo
  echo "== summary: $gpu; batch $BATCH; $((SECONDS - start)) s"
  echo "parity (exit $parity_status; aborted = skipped by assumption, which on a GPU means something is missing): ${summary:-no summary, see $parity_log}"
  python3 - "$java_out" "$torch_out" <<'PY'
import sys
def load(path):
    rows = {}
    try:
        for line in open(path):
            f = line.rstrip("\n").split("\t")
            if f[0] == "RESULT":
                rows[(f[1], f[2])] = float(f[5])
    except OSError:
        pass
    return rows
java, torch = load(sys.argv[1]), load(sys.argv[2])
collect = {}
try:
    for line in open(sys.argv[1]):
        f = line.rstrip("\n").split("\t")
        if f[0] == "RESULT" and len(f) > 9:
            collect[(f[1], f[2])] = float(f[9])
except OSError:
    pass
keys = list(dict.fromkeys(list(java) + list(torch)))
print("%-10s %-8s %12s %12s %11s %15s %15s" % ("model", "variant", "oialr4j ms", "pytorch ms", "ours/torch",
                                                "ours vs dense", "jvm gc ms/step"))
for m, v in keys:
    j, t, d = java.get((m, v)), torch.get((m, v)), java.get((m, "dense"))
    fmt = lambda x: "%.3f" % x if x is not None else "n/a"
    ratio = "%.2fx" % (j / t) if j and t else "n/a"
    speed = "%.2fx faster" % (d / j) if j and d and v != "dense" else ""
    print("%-10s %-8s %12s %12s %11s %15s %15s" % (m, v, fmt(j), fmt(t), ratio, speed, fmt(collect.get((m, v)))))
PY
}

DATA_FILES=(data/fashion-mnist/train-images-idx3-ubyte.gz data/fashion-mnist/train-labels-idx1-ubyte.gz
            data/fashion-mnist/t10k-images-idx3-ubyte.gz data/fashion-mnist/t10k-labels-idx1-ubyte.gz)
EXCLUDE_LINE='/data/fashion-mnist/*.gz'

hide_data() {
  cd "$ROOT"
  git rm -q --cached "${DATA_FILES[@]}"
  grep -qxF "$EXCLUDE_LINE" .git/info/exclude 2>/dev/null || echo "$EXCLUDE_LINE" >> .git/info/exclude
  echo "hide-data: the data set is out of git's index (files untouched); run 'native/gpu-check.sh restore-data' after the device call"
}

restore_data() {
  cd "$ROOT"
  if [ -f .git/info/exclude ]; then
    grep -vxF "$EXCLUDE_LINE" .git/info/exclude > .git/info/exclude.tmp || true
    mv .git/info/exclude.tmp .git/info/exclude
  fi
  git reset -q -- "${DATA_FILES[@]}"
  git status --short -- data/ | grep . && { echo "restore-data: data/ still differs from HEAD" >&2; exit 1; }
  echo "restore-data: the data set is back in git's index"
}

prepare_e2e() {
  cd "$ROOT"
  . .mvn/find-jdk.sh
  oialr4j_find_jdk
  ./mvnw -q -pl cli -am package -DskipTests
  rm -rf "$GPU_DIR/e2e" "$GPU_DIR/jre-min"
  mkdir -p "$GPU_DIR/e2e/fm"
  cp cli/target/oialr4j.jar "$GPU_DIR/e2e/"
  python3 - "$ROOT/data/fashion-mnist" "$GPU_DIR/e2e/fm" 30000 <<'PY'
import gzip, struct, sys
src, dst, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
for kind, header in (("images-idx3", 16), ("labels-idx1", 8)):
    test = gzip.open(f"{src}/t10k-{kind}-ubyte.gz").read()
    open(f"{dst}/t10k-{kind}-ubyte.gz", "wb").write(gzip.compress(test, 9))
    data = gzip.open(f"{src}/train-{kind}-ubyte.gz").read()
    dims = struct.unpack(">" + "I" * (header // 4), data[:header])
    per = 1
    for d in dims[2:]:
        per *= d
    head = struct.pack(">" + "I" * (header // 4), dims[0], n, *dims[2:])
    open(f"{dst}/train-{kind}-ubyte.gz", "wb").write(gzip.compress(head + data[header:header + n * per], 9))
PY
  "$JAVA_HOME/bin/jlink" --add-modules java.base,java.logging,jdk.incubator.vector,jdk.unsupported --strip-debug \
    --no-man-pages --no-header-files --compress=zip-9 --output "$GPU_DIR/jre-min"
  strip --strip-unneeded "$GPU_DIR/jre-min/lib/server/libjvm.so" 2>/dev/null || true
  local mib
  mib=$(du -smc "$GPU_DIR/e2e" "$GPU_DIR/jre-min" | tail -1 | cut -f1)
  echo "prepare-e2e: .gpu/e2e + .gpu/jre-min = $mib MiB"
  [ "$mib" -lt 61 ] || { echo "prepare-e2e: too large to carry beside the tracked files" >&2; exit 1; }
  "$GPU_DIR/jre-min/bin/java" --add-modules jdk.incubator.vector -jar "$GPU_DIR/e2e/oialr4j.jar" --version 2>/dev/null \
    || { echo "prepare-e2e: the runtime cannot start the CLI" >&2; exit 1; }
}

prepare_verify() {
  cd "$ROOT"
  [ -d "$GPU_DIR/test-classes" ] && [ -f "$GPU_DIR/e2e/oialr4j.jar" ] \
    || { echo "prepare-verify: run 'prepare' and 'prepare-e2e' first" >&2; exit 1; }
  rm -rf "$GPU_DIR/verify"
  mkdir -p "$GPU_DIR/verify"
  cp "$GPU_DIR/lib/junit-platform-console-standalone-$JUNIT_VERSION.jar" "$GPU_DIR/verify/"
  cp -r "$GPU_DIR/test-classes" "$GPU_DIR/verify/test-classes"
  local mib
  mib=$(du -smc "$GPU_DIR/e2e" "$GPU_DIR/jre-min" "$GPU_DIR/verify" | tail -1 | cut -f1)
  echo "prepare-verify: .gpu/e2e + .gpu/jre-min + .gpu/verify = $mib MiB"
  [ "$mib" -lt 62 ] || { echo "prepare-verify: too large to carry beside the tracked files" >&2; exit 1; }
  local out
  out=$(run_parity 0 "$GPU_DIR/jre-min" "$GPU_DIR/e2e/oialr4j.jar:$GPU_DIR/verify/test-classes" "$GPU_DIR/verify" 2>&1) \
    || { echo "$out" >&2; echo "prepare-verify: the test launcher failed with the small runtime" >&2; exit 1; }
  echo "$out" | grep -E 'tests (successful|aborted|failed)' | sed 's/^/prepare-verify: /'
}

verify() {
  [ -d "$GPU_DIR/verify" ] || { echo "gpu-check: .gpu/verify is missing; run 'native/gpu-check.sh prepare-verify' first" >&2; exit 1; }
  cd "$ROOT"
  cuda_libraries
  local start=$SECONDS log="$GPU_DIR/verify/parity.log" status=0
  echo "== parity suite and GPU kernel tests"
  run_parity 1 "$GPU_DIR/jre-min" "$GPU_DIR/e2e/oialr4j.jar:$GPU_DIR/verify/test-classes" "$GPU_DIR/verify" > "$log" 2>&1 \
    || status=$?
  grep -v '^WARNING' "$log" | grep -E '✘|[Ee]xception|expected|tests (successful|failed|aborted)' | head -40
  echo "== parity: exit $status, $((SECONDS - start)) s"
  [ -n "${OUT:-}" ] && cp "$log" "$OUT/parity.log"
  e2e
  echo "== verify done in $((SECONDS - start)) s; parity exit $status"
}

e2e() {
  [ -x "$GPU_DIR/jre-min/bin/java" ] || { echo "gpu-check: .gpu/jre-min is missing; run 'native/gpu-check.sh prepare-e2e' first" >&2; exit 1; }
  cd "$ROOT"
  cuda_libraries
  local out=${OUT:-$GPU_DIR/e2e-out}
  mkdir -p "$out"
  local java=("$GPU_DIR/jre-min/bin/java" --add-modules jdk.incubator.vector --enable-native-access=ALL-UNNAMED
              -XX:+UseG1GC -Xmx16g -jar "$GPU_DIR/e2e/oialr4j.jar" compare --device cuda --data-dir "$GPU_DIR/e2e/fm")
  command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,driver_version --format=csv,noheader
  nvidia-smi --query-gpu=timestamp,memory.used,memory.total --format=csv,noheader -l 1 > "$out/memory.csv" 2>&1 &
  local smi=$!
  one() {
    local name=$1 limit=$2 t0=$SECONDS
    shift 2
    timeout "$limit" "${java[@]}" --out "$out/$name" "$@" > "$out/$name.log" 2>&1
    echo "== $name: exit $?, $((SECONDS - t0)) s wall: $*"
    grep -v '^WARNING' "$out/$name.log" | grep -v '^[[:space:]]*at ' | tail -17
  }
  one mlp 90 --epochs 10 --delay 500 --update-every 50
  one vit-small 90 --model vit-small --epochs 5 --lr 1e-3 --delay 234 --update-every 58 --cutoff 0.3
  one resnet20 110 --model resnet20 --epochs 5 --delay 234 --update-every 58
  kill "$smi" 2>/dev/null || true
  echo "== most GPU memory in use during the runs: $(awk -F', ' '{print $2}' "$out/memory.csv" | sort -n | tail -1)"
}

case "$MODE" in
  prepare) prepare ;;
  run) run ;;
  profile) profile ;;
  prepare-e2e) prepare_e2e ;;
  prepare-verify) prepare_verify ;;
  verify) verify ;;
  e2e) e2e ;;
  hide-data) hide_data ;;
  restore-data) restore_data ;;
  *) echo "usage: native/gpu-check.sh [prepare|run|profile|prepare-e2e|e2e|prepare-verify|verify|hide-data|restore-data]" >&2; exit 2 ;;
esac
