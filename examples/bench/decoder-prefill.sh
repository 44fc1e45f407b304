#!/usr/bin/env bash
# CPU decoder prefill: Attune against Jlama on one random-weight checkpoint of TinyLlama-1.1B's
# shape (BF16), same prompt token ids, same thread count, one after the other in one run.
# Figures recorded in docs/benchmarks.md ("Decoder prefill on the CPU").
#
#   examples/bench/decoder-prefill.sh                      # 128 and 512 tokens, 2 threads
#   TOKENS=128 REPEAT=3 examples/bench/decoder-prefill.sh
#
# Environment: MODEL (checkpoint dir, made if absent; default /tmp/tinyllama-random), THREADS (2),
# TOKENS (128,512), WARMUP (1), REPEAT (3), LOGPROBS (8 positions cross-checked), PROFILE (true:
# one more Attune pass timed per op), JDK25 (Temurin 25, for Jlama), OUT (examples/target/decoder-prefill).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
MODEL="${MODEL:-/tmp/tinyllama-random}"
THREADS="${THREADS:-2}"
TOKENS="${TOKENS:-128,512}"
WARMUP="${WARMUP:-1}"
REPEAT="${REPEAT:-3}"
LOGPROBS="${LOGPROBS:-8}"
PROFILE="${PROFILE:-true}"
JDK25="${JDK25:-/usr/lib/jvm/temurin-25-jdk-amd64}"
OUT="${OUT:-$ROOT/examples/target/decoder-prefill}"
JLAMA="$ROOT/examples/target/jlama"
mkdir -p "$OUT"
log() { echo "== $* (load average: $(cut -d' ' -f1-3 /proc/loadavg))" >&2; }

# Build Attune (bin/attune builds when sources changed) and find its classpath.
"$ROOT/bin/attune" help > /dev/null 2>&1 || { echo "decoder-prefill: building Attune failed (run bin/attune help)" >&2; exit 1; }
CP="$ROOT/kernels/target/classes:$ROOT/spark-plugin/target/classes:$ROOT/examples/target/classes:$(cat "$ROOT/examples/target/attune.classpath")"

# (a) The checkpoint.
if [[ ! -f "$MODEL/model.safetensors" ]]; then
  log "writing the random TinyLlama-shaped checkpoint to $MODEL (2.2 GB)"
  java -Xmx3g -cp "$CP" dev.attune.model.llama.RandomDecoderCheckpoint "$MODEL" \
    "$ROOT/spark-plugin/src/test/resources/tokenizers/llama2"
fi

# Jlama, fetched by Maven (standalone pom, not in the reactor), compiled against by JDK 25.
if [[ ! -f "$JLAMA/lib/jlama-core-0.8.4.jar" ]]; then
  log "fetching jlama-core with Maven"
  mvn -q -B -f "$ROOT/examples/bench/jlama/pom.xml" dependency:copy-dependencies \
    -DoutputDirectory="$JLAMA/lib" >&2
fi
mkdir -p "$JLAMA/classes"
"$JDK25/bin/javac" -nowarn --add-modules jdk.incubator.vector -cp "$JLAMA/lib/*" -d "$JLAMA/classes" \
  "$ROOT/examples/bench/jlama/JlamaPrefill.java" 2>&1 | grep -v -e 'incubating' -e '^1 warning' >&2 || true

# (b) Attune in process: forward + log-probs, after warm-up; writes the prompts' ids for the others.
log "attune in process, $THREADS threads, tokens $TOKENS"
ATTUNE_JAVA_OPTS="${ATTUNE_JAVA_OPTS:--Xmx14g}" "$ROOT/bin/attune" bench decoder-prefill --model "$MODEL" \
  --threads "$THREADS" --tokens "$TOKENS" --warmup "$WARMUP" --repeat "$REPEAT" --logprobs "$LOGPROBS" \
  --ids-dir "$OUT" --profile "$PROFILE" 2> >(grep -v '^WARNING' >&2) | tee "$OUT/attune.txt"

# (b') Attune whole process: bin/attune loglik on the same text, one row, cold JVM.
IFS=',' read -r -a LENS <<< "$TOKENS"
: > "$OUT/loglik.txt"
for n in "${LENS[@]}"; do
  log "attune loglik (whole process), $n tokens"
  rm -f "$OUT/loglik-$n.out.jsonl"
  start=$(date +%s.%N)
  ATTUNE_JAVA_OPTS="${ATTUNE_JAVA_OPTS:--Xmx14g}" "$ROOT/bin/attune" loglik --model "$MODEL" \
    --input "$OUT/loglik-$n.jsonl" --output "$OUT/loglik-$n.out.jsonl" --threads "$THREADS" --device cpu \
    --batch-size 1 2>&1 | grep -v '^WARNING' | grep 'prefill tokens/s\|loaded in' | tee -a "$OUT/loglik.txt" >&2
  end=$(date +%s.%N)
  echo "loglik tokens=$n wall_seconds=$(echo "$end - $start" | bc)" | tee -a "$OUT/loglik.txt" >&2
done

# (c) Jlama on JDK 25, its own process, same ids and threads.
log "jlama (JDK 25), $THREADS threads"
IDS=()
for n in "${LENS[@]}"; do IDS+=("$OUT/ids-$n.txt"); done
"$JDK25/bin/java" -Xmx6g --add-modules jdk.incubator.vector -Djava.util.concurrent.ForkJoinPool.common.parallelism="$THREADS" \
  -cp "$JLAMA/classes:$JLAMA/lib/*" JlamaPrefill "$MODEL" "$THREADS" "$WARMUP" "$REPEAT" "$LOGPROBS" "${IDS[@]}" \
  2> >(grep -v -e '^WARNING' -e '^SLF4J' >&2) | tee "$OUT/jlama.txt"
log "done"

# (d) Both, the ratio, GFLOP/s and the log-prob cross-check.
python3 - "$OUT" "${LENS[@]}" <<'PY'
import re, sys
out, lens = sys.argv[1], sys.argv[2:]
def kv(line): return dict(re.findall(r'(\w+)=(\S+)', line))
def find(path, prefix, n):
    for l in open(path):
        if l.startswith(prefix) and f"tokens={n} " in l + " ":
            return kv(l)
MATMUL = 1.034e9  # matmul parameters: 22 layers (q, k, v, o, gate, up, down) + lm_head
print("\n| tokens | Attune in process (tok/s) | Attune fwd only | Attune loglik whole process | Jlama (tok/s) | Attune / Jlama | Attune GFLOP/s | Jlama GFLOP/s |")
print("|---|---|---|---|---|---|---|---|")
for n in lens:
    a, j = find(f"{out}/attune.txt", "attune prefill", n), find(f"{out}/jlama.txt", "jlama prefill", n)
    ll = [l for l in open(f"{out}/loglik.txt")]
    w = find(f"{out}/loglik.txt", "loglik", n)
    pts = None
    for i, l in enumerate(ll):
        if l.startswith("loglik tokens=" + n + " ") and i > 0:
            m = re.search(r'\(([\d.]+) prefill tokens/s\)', ll[i - 1]); pts = m and m.group(1)
    at, jt = float(a["median_tokens_per_s"]), float(j["median_tokens_per_s"])
    whole = f"{pts} (excl. load); {int(n) / float(w['wall_seconds']):.2f} incl. JVM start + load" if w else "-"
    print(f"| {n} | {at:.2f} | {float(a['forward_only_median_tokens_per_s']):.2f} | {whole} | {jt:.2f} | {at / jt:.2f}x | "
          f"{2 * MATMUL * at / 1e9:.1f} | {2 * MATMUL * jt / 1e9:.1f} |")
for n in lens:
    a, j = find(f"{out}/attune.txt", "attune logprobs", n), find(f"{out}/jlama.txt", "jlama logprobs", n)
    if a and j:
        av = [float(x) for x in a["values"].split(",")]; jv = [float(x) for x in j["values"].split(",")]
        d = [abs(x - y) for x, y in zip(av, jv)]
        print(f"\nlog-probs, {n} tokens, positions 1..{len(d)}: attune {av}\n  jlama {jv}\n  max |diff| = {max(d):.2e}")
PY
