#!/usr/bin/env bash
# CPU decoder decode (token generation): Attune against Jlama on one random-weight checkpoint of
# TinyLlama-1.1B's shape (BF16), same prompt token ids, same thread count, greedy, one after the
# other in one run.
#
#   examples/bench/decoder-decode.sh                       # 64 new tokens, 2 threads
#   NEW_TOKENS=32 REPEAT=1 examples/bench/decoder-decode.sh
#
# Environment: MODEL (checkpoint dir, made if absent; default /tmp/tinyllama-random), THREADS (2),
# NEW_TOKENS (64 generated per run, the first from the prefill), PROMPT_TOKENS (32), BATCH (16
# sequences decoded together), WARMUP (16: new tokens of Jlama's one warm-up run), REPEAT (3),
# PROFILE (false: true adds Attune's per-op times), PREFILL_TOKENS (512: then runs
# decoder-prefill.sh on a prompt of that length, Attune and Jlama, into $OUT/prefill; empty: not),
# JDK25 (Temurin 25, for Jlama), OUT (examples/target/decoder-decode).
# Figures recorded in docs/benchmarks.md ("Decoder generation on the CPU").
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
MODEL="${MODEL:-/tmp/tinyllama-random}"
THREADS="${THREADS:-2}"
NEW_TOKENS="${NEW_TOKENS:-64}"
PROMPT_TOKENS="${PROMPT_TOKENS:-32}"
BATCH="${BATCH:-16}"
PROFILE="${PROFILE:-false}"
PREFILL_TOKENS="${PREFILL_TOKENS:-512}"
WARMUP="${WARMUP:-16}"
REPEAT="${REPEAT:-3}"
JDK25="${JDK25:-/usr/lib/jvm/temurin-25-jdk-amd64}"
OUT="${OUT:-$ROOT/examples/target/decoder-decode}"
JLAMA="$ROOT/examples/target/jlama"
mkdir -p "$OUT"
log() { echo "== $* (load average: $(cut -d' ' -f1-3 /proc/loadavg))" >&2; }

# Build Attune (bin/attune builds when sources changed) and find its classpath.
"$ROOT/bin/attune" help > /dev/null 2>&1 || { echo "decoder-decode: building Attune failed (run bin/attune help)" >&2; exit 1; }
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
  "$ROOT/examples/bench/jlama/JlamaDecode.java" 2>&1 | grep -v -e 'incubating' -e '^1 warning' >&2 || true

# (b) Attune in process, through its generator: the machine's read bandwidth and the batch-1
# bound, batch 1 and BATCH sequences together; writes the prompt's ids for Jlama.
log "attune in process, $THREADS threads, batch 1 and $BATCH, $NEW_TOKENS new tokens"
rm -f "$OUT/prompt-ids.txt"
ATTUNE_JAVA_OPTS="${ATTUNE_JAVA_OPTS:--Xmx14g}" "$ROOT/bin/attune" bench decoder-decode --model "$MODEL" \
  --threads "$THREADS" --prompt-tokens "$PROMPT_TOKENS" --new-tokens "$NEW_TOKENS" --batch "$BATCH" \
  --repeat "$REPEAT" --ids-dir "$OUT" --profile "$PROFILE" 2> >(grep -v '^WARNING' >&2) | tee "$OUT/attune.txt"
if [[ ! -s "$OUT/prompt-ids.txt" ]]; then
  echo "decoder-decode: $OUT/prompt-ids.txt missing (step (b), Attune, writes it)" >&2
  exit 1
fi

# (c) Jlama on JDK 25, its own process, same prompt ids and threads, batch 1.
log "jlama (JDK 25), $THREADS threads, $NEW_TOKENS new tokens"
"$JDK25/bin/java" -Xmx6g --add-modules jdk.incubator.vector -Djava.util.concurrent.ForkJoinPool.common.parallelism="$THREADS" \
  -cp "$JLAMA/classes:$JLAMA/lib/*" JlamaDecode "$MODEL" "$THREADS" "$OUT/prompt-ids.txt" "$NEW_TOKENS" "$WARMUP" "$REPEAT" \
  2> >(grep -v -e '^WARNING' -e '^SLF4J' >&2) | tee "$OUT/jlama.txt"

# (c') Prefill of a PREFILL_TOKENS-token prompt, both engines, in the same run.
if [[ -n "$PREFILL_TOKENS" ]]; then
  log "prefill of $PREFILL_TOKENS tokens (decoder-prefill.sh)"
  MODEL="$MODEL" THREADS="$THREADS" TOKENS="$PREFILL_TOKENS" REPEAT="${PREFILL_REPEAT:-2}" WARMUP=1 PROFILE=false \
    LOGPROBS=4 OUT="$OUT/prefill" "$ROOT/examples/bench/decoder-prefill.sh" > "$OUT/prefill.txt"
fi
log "done"

# (d) Both at batch 1, the ratio, and the greedy tokens compared (when step (b) wrote attune.txt).
python3 - "$OUT" <<'PY'
import os, re, sys
out = sys.argv[1]
def kv(line): return dict(re.findall(r'(\w+)=(\S+)', line))
def find(path, prefix):
    if os.path.exists(path):
        for l in open(path):
            if l.startswith(prefix):
                return kv(l)
j, jt = find(f"{out}/jlama.txt", "jlama decode"), find(f"{out}/jlama.txt", "jlama tokens")
a = find(f"{out}/attune.txt", "attune decode batch=1 ")
at = find(f"{out}/attune.txt", "attune tokens")
bw, load = find(f"{out}/attune.txt", "attune bandwidth"), find(f"{out}/attune.txt", "attune load")
bound = float(load["bound_tokens_per_s"]) if load else None
print(f"\nread bandwidth {bw['read_gb_per_s']} GB/s ({bw['threads']} threads); weights read per decode step "
      f"{int(load['weight_bytes_per_step']) / 1e9:.2f} GB; batch-1 bound {bound:.2f} tokens/s" if bw and load else "")
print("\n| decode | prompt tokens | new tokens | Attune (tok/s) | Jlama (tok/s) | Attune / Jlama | Attune / bound | vs Attune batch 1 |")
print("|---|---|---|---|---|---|---|---|")
jr = float(j["median_tokens_per_s"])
ar = float(a["median_tokens_per_s"]) if a else None
print(f"| batch 1 | {j['prompt_tokens']} | {j['new_tokens']} | {f'{ar:.2f}' if ar else '-'} | {jr:.2f} | "
      f"{f'{ar / jr:.2f}x' if ar else '-'} | {f'{100 * ar / bound:.0f}%' if ar and bound else '-'} | 1x |")
for l in (open(f"{out}/attune.txt") if os.path.exists(f"{out}/attune.txt") else []):
    if l.startswith("attune decode batch=") and not l.startswith("attune decode batch=1 "):
        b = kv(l)
        r = float(b["median_tokens_per_s"])
        print(f"| {b['batch']} sequences | {b['prompt_tokens']} | {b['new_tokens']} | {r:.2f} | - | - | - | "
              f"{f'{r / ar:.1f}x' if ar else '-'} |")
if os.path.exists(f"{out}/prefill.txt"):
    print("\nprefill (decoder-prefill.sh):" + "".join("\n" + l.rstrip() for l in open(f"{out}/prefill.txt") if l.startswith("|")))
if at and jt:
    av, jv = at["values"].split(","), jt["values"].split(",")
    same = next((i for i, (x, y) in enumerate(zip(av, jv)) if x != y), min(len(av), len(jv)))
    print(f"\ngreedy tokens: {same} of {min(len(av), len(jv))} the same before the first difference"
          f"\n  attune {','.join(av)}\n  jlama  {','.join(jv)}")
PY
