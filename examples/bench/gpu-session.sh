#!/usr/bin/env bash
# The one prepared run for a lent GPU machine (no Java, no Maven, no network there; the working
# tree plus what it carries must stay within 64 MiB, so the Java side travels as one archive).
#
#   examples/bench/gpu-session.sh prepare   # here: builds, packs target/gpu-session.tar.xz (about 20 MB):
#                                           # a jlink runtime, the kernels jar and its tests, the examples
#                                           # classes, JCuda with its driver binding only, Jackson, and
#                                           # JUnit's console launcher
#   examples/bench/gpu-session.sh run       # there, carrying target/gpu-session.tar.xz:
#     1. the kernels module's gpu-tagged tests (backend lifecycle, GEMM, attention, encoder ops, OOM);
#     2. GpuBackendBenchmark twice with one fresh CUDA_CACHE_PATH: the PTX JIT cold, then from the
#        cache; weight upload GB/s; the waiting thread's CPU time during a long synchronize;
#     3. bin/gpu-bench --quick: the kernels against PyTorch on the same GPU.
#   Results in $OUT (default target/gpu-session/out): gpu-tests.txt, backend-cold.txt,
#   backend-warm.txt, gpu-bench.md, gpu-bench.json, session.log. Exit status: 0 when every step
#   passed, else the number of steps that failed.
#
# With the device tool: run(command="examples/bench/gpu-session.sh run",
#                           carry=["target/gpu-session.tar.xz"], timeout_s=540)
# Figures go to docs/benchmarks.md ("GPU kernels vs PyTorch", "CUDA backend: load and wait").
set -uo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
ARCHIVE="$ROOT/target/gpu-session.tar.xz"

prepare() {
  set -e
  cd "$ROOT"
  mvn -B -q -ntp -DskipTests install -pl kernels,examples -am
  mvn -B -q -ntp test-compile -pl kernels
  local stage="$ROOT/target/gpu-session/stage"
  rm -rf "$stage" && mkdir -p "$stage/lib"
  cp kernels/target/attune-kernels-*.jar "$stage/lib/"
  jar --create --file "$stage/lib/attune-kernels-tests.jar" -C kernels/target/test-classes .
  jar --create --file "$stage/lib/attune-examples.jar" -C examples/target/classes .
  mvn -B -q -ntp dependency:build-classpath -pl kernels -Dmdep.includeScope=compile \
    -Dmdep.outputFile="$stage/cp.txt" > /dev/null
  local jar
  for jar in $(tr ':' ' ' < "$stage/cp.txt"); do
    case "$jar" in
      *jcuda-natives*)
        # Only the driver API's JNI library is loaded (PrimaryContext stages /lib/libJCudaDriver-*);
        # the rest of the natives jar (NVPTX compiler, runtime, NVRTC) is 23 MB that is never used.
        local nat="$ROOT/target/gpu-session/natives"
        rm -rf "$nat" && mkdir -p "$nat"
        (cd "$nat" && unzip -q "$jar" 'lib/libJCudaDriver-*' && jar --create --file "$stage/lib/jcuda-driver-natives.jar" lib)
        ;;
      *junit* | *opentest4j* | *apiguardian*) ;; # in the console launcher
      *) cp "$jar" "$stage/lib/" ;;
    esac
  done
  rm "$stage/cp.txt"
  # JUnit's console launcher at the platform version of the build's JUnit (5.x.y -> 1.x.y).
  local jupiter platform
  jupiter="$(grep -m1 '<junit.version>' pom.xml | sed -E 's/.*<junit.version>([^<]*)<.*/\1/')"
  platform="1.${jupiter#5.}"
  mvn -B -q -ntp dependency:copy -Dartifact="org.junit.platform:junit-platform-console-standalone:$platform" \
    -DoutputDirectory="$stage" > /dev/null
  mv "$stage"/junit-platform-console-standalone-*.jar "$stage/junit-console.jar"
  jlink --add-modules java.base,java.management,java.logging,jdk.incubator.vector,jdk.unsupported,jdk.zipfs \
    --strip-debug --no-man-pages --no-header-files --compress=2 --output "$stage/jre" 2> /dev/null
  tar -C "$stage" -cJf "$ARCHIVE" .
  echo "gpu-session: $(du -h "$ARCHIVE" | cut -f1) in $ARCHIVE; the working tree is $(git ls-files -z | xargs -0 du -cb 2> /dev/null | tail -1 | cut -f1) bytes"
}

run() {
  cd "$ROOT"
  local out="${OUT:-$ROOT/target/gpu-session/out}"
  mkdir -p "$out"
  local log="$out/session.log"
  if [[ ! -f "$ARCHIVE" ]]; then
    echo "gpu-session: $ARCHIVE is missing: run 'examples/bench/gpu-session.sh prepare' here and carry it" | tee "$log" >&2
    return 2
  fi
  local gs=/tmp/attune-gpu-session
  rm -rf "$gs" && mkdir -p "$gs" && tar -C "$gs" -xJf "$ARCHIVE"
  local java="$gs/jre/bin/java"
  local opts=(-Xmx24g --add-modules jdk.incubator.vector)
  local failed=0
  step() { echo "== $* ($(date -u +%H:%M:%S))" | tee -a "$log" >&2; }
  { nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader; nproc; } >> "$log" 2>&1

  step "1. gpu-tagged tests of the kernels module"
  timeout 240 "$java" "${opts[@]}" -jar "$gs/junit-console.jar" execute --disable-banner --disable-ansi-colors \
    --class-path "$(echo "$gs"/lib/*.jar | tr ' ' ':')" --select-package dev.attune.kernels \
    --include-tag gpu --fail-if-no-tests --details tree > "$out/gpu-tests.txt" 2>&1 || { failed=$((failed + 1)); step "   tests failed"; }
  tail -15 "$out/gpu-tests.txt" >> "$log"

  step "2. CUDA backend: open and module load with a cold, then a warm JIT cache; upload; CPU while waiting"
  export CUDA_CACHE_PATH="$gs/jit-cache"
  rm -rf "$CUDA_CACHE_PATH"
  local pass
  for pass in cold warm; do
    timeout 150 "$java" "${opts[@]}" -cp "$(echo "$gs"/lib/*.jar | tr ' ' ':')" \
      dev.attune.examples.bench.GpuBackendBenchmark --upload-mib 512 --wait-ms 1000 \
      > "$out/backend-$pass.txt" 2>&1 || { failed=$((failed + 1)); step "   $pass run failed"; }
    cat "$out/backend-$pass.txt" >> "$log"
  done
  echo "JIT cache: $(du -sh "$CUDA_CACHE_PATH" 2> /dev/null | cut -f1)" >> "$log"

  step "3. kernels against PyTorch (bin/gpu-bench --quick)"
  timeout 200 "$ROOT/bin/gpu-bench" --quick --out "$out/gpu-bench.md" > /dev/null 2>> "$log" \
    || { failed=$((failed + 1)); step "   gpu-bench failed"; }
  step "done, $failed step(s) failed"
  return "$failed"
}

case "${1:-}" in
  prepare) prepare ;;
  run) run ;;
  *)
    echo "usage: examples/bench/gpu-session.sh prepare|run" >&2
    exit 2
    ;;
esac
