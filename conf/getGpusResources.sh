#!/bin/sh
# GPU discovery script for Spark resource scheduling. Prints exactly one JSON line on stdout,
#
#   {"name": "gpu", "addresses": ["0", "1", ...]}
#
# as spark.{executor,driver,worker}.resource.gpu.discoveryScript expects. Any GPU model counts, so a
# host with a T4 beside an A100 lists both; Attune plans each device on its own.
#
#   addresses   nvidia-smi indices (default), or with ATTUNE_GPU_ADDRESS_FORMAT=pci the PCI bus ids
#               in the CUDA driver's form "0000:3b:00.0". Attune's probe accepts both (and GPU UUIDs);
#               indices are read as nvidia-smi counts them, i.e. in PCI bus order.
#   no GPU      no nvidia-smi on PATH, nvidia-smi failing or finding no device: "addresses": [] and a
#               note on stderr; the exit status is 0, so Spark reports that it got fewer GPUs than
#               it asked for (a clearer message than a failed script).
#   CUDA_VISIBLE_DEVICES
#               when set, only the GPUs it lists, in its order, read as the CUDA driver reads it:
#               indices and (possibly abbreviated) GPU UUIDs; an empty value hides every GPU; at the
#               first entry the driver cannot use (a negative or unknown index, a PCI bus id, an
#               unknown UUID) the list ends. Indices are taken to count as nvidia-smi's do, which on
#               a host with different GPU models holds only with CUDA_DEVICE_ORDER=PCI_BUS_ID.
#   ATTUNE_GPU_RESOURCE_NAME
#               the resource name to print (default gpu; match spark.attune.gpu.resourceName).
#
# Needs only a POSIX shell, awk and nvidia-smi. Test: conf/test-getGpusResources.sh.
set -eu

name="${ATTUNE_GPU_RESOURCE_NAME:-gpu}"
format="${ATTUNE_GPU_ADDRESS_FORMAT:-index}"

note() {
  printf 'getGpusResources.sh: %s\n' "$*" >&2
}

emit_none() {
  printf '{"name": "%s", "addresses": []}\n' "$name"
  exit 0
}

case "$format" in
  index | pci) ;;
  *)
    note "ATTUNE_GPU_ADDRESS_FORMAT must be index or pci, got '$format'"
    exit 2
    ;;
esac

if ! command -v nvidia-smi >/dev/null 2>&1; then
  note "nvidia-smi not found on PATH: reporting no GPU"
  emit_none
fi

if ! gpus="$(nvidia-smi --query-gpu=index,pci.bus_id,name --format=csv,noheader)"; then
  note "nvidia-smi failed (no driver loaded, or no device): reporting no GPU"
  emit_none
fi

cvd_set=0
cvd=""
if [ -n "${CUDA_VISIBLE_DEVICES+set}" ]; then
  cvd_set=1
  cvd="$CUDA_VISIBLE_DEVICES"
fi

# UUIDs are only needed to resolve UUID entries of CUDA_VISIBLE_DEVICES.
uuids=""
case "$cvd" in
  *[Gg][Pp][Uu]-*)
    if ! uuids="$(nvidia-smi --query-gpu=index,uuid --format=csv,noheader)"; then
      note "nvidia-smi could not list GPU UUIDs"
      uuids=""
    fi
    ;;
esac

ATTUNE_GPUS="$gpus" ATTUNE_UUIDS="$uuids" ATTUNE_CVD="$cvd" ATTUNE_CVD_SET="$cvd_set" \
ATTUNE_FORMAT="$format" ATTUNE_NAME="$name" ATTUNE_ORDER="${CUDA_DEVICE_ORDER:-}" awk '
function trim(s) { sub(/^[ \t\r]+/, "", s); sub(/[ \t\r]+$/, "", s); return s }
function note(s) { printf "getGpusResources.sh: %s\n", s > "/dev/stderr" }
# "00000000:3B:00.0" (nvidia-smi) -> "0000:3b:00.0" (the CUDA driver, and Attune)
function pci(s,    p, n, dom) {
  s = tolower(s)
  if (s !~ /^([0-9a-f]+:)?[0-9a-f][0-9a-f]?:[0-9a-f][0-9a-f]?\.[0-7]$/) return s
  n = split(s, p, ":")
  dom = (n == 3) ? p[1] : "0"
  sub(/^0+/, "", dom)
  while (length(dom) < 4) dom = "0" dom
  if (length(p[n - 1]) < 2) p[n - 1] = "0" p[n - 1]
  if (length(p[n]) < 4) p[n] = "0" p[n]
  return dom ":" p[n - 1] ":" p[n]
}
BEGIN {
  count = 0
  lines = split(ENVIRON["ATTUNE_GPUS"], line, "\n")
  for (i = 1; i <= lines; i++) {
    l = line[i]
    if (l ~ /^[ \t\r]*$/) continue
    c1 = index(l, ",")
    rest = substr(l, c1 + 1)
    c2 = index(rest, ",")
    idx = trim(substr(l, 1, c1 - 1))
    if (c1 == 0 || c2 == 0 || idx !~ /^[0-9]+$/) {
      note("ignoring unexpected nvidia-smi line: " l)
      continue
    }
    idx = idx + 0
    if (idx in bus) continue
    order[++count] = idx
    bus[idx] = trim(substr(rest, 1, c2 - 1))
    model[idx] = trim(substr(rest, c2 + 1))
  }
  if (count == 0) note("nvidia-smi lists no GPU")

  ulines = split(ENVIRON["ATTUNE_UUIDS"], uline, "\n")
  for (i = 1; i <= ulines; i++) {
    c1 = index(uline[i], ",")
    if (c1 == 0) continue
    k = trim(substr(uline[i], 1, c1 - 1))
    if (k ~ /^[0-9]+$/) uuid[k + 0] = tolower(trim(substr(uline[i], c1 + 1)))
  }

  chosen = 0
  if (ENVIRON["ATTUNE_CVD_SET"] == "1") {
    cvd = ENVIRON["ATTUNE_CVD"]
    if (cvd ~ /^[ \t]*$/) note("CUDA_VISIBLE_DEVICES is empty: it hides every GPU")
    else {
      entries = split(cvd, entry, ",")
      byIndex = 0
      for (i = 1; i <= entries; i++) {
        e = trim(entry[i])
        hit = ""
        if (e ~ /^[0-9]+$/ && ((e + 0) in bus)) { hit = e + 0; byIndex = 1 }
        else if (tolower(substr(e, 1, 4)) == "gpu-" && length(e) > 4) {
          matches = 0
          for (k in uuid) if (index(uuid[k], tolower(e)) == 1 && (k in bus)) { matches++; hit = k }
          if (matches != 1) hit = ""
        }
        if (hit == "") {
          note("CUDA_VISIBLE_DEVICES=\047" cvd "\047: the CUDA driver stops reading at \047" e "\047 (not a GPU index or UUID of this host)")
          break
        }
        if (!(hit in taken)) { taken[hit] = 1; pick[++chosen] = hit }
      }
      if (byIndex && ENVIRON["ATTUNE_ORDER"] != "PCI_BUS_ID") {
        for (k in model) if (model[k] != model[order[1]]) mixed = 1
        if (mixed) note("this host has different GPU models: CUDA_VISIBLE_DEVICES indices match nvidia-smi indices only with CUDA_DEVICE_ORDER=PCI_BUS_ID")
      }
    }
  } else {
    for (i = 1; i <= count; i++) pick[++chosen] = order[i]
  }

  out = ""
  for (i = 1; i <= chosen; i++) {
    a = (ENVIRON["ATTUNE_FORMAT"] == "pci") ? pci(bus[pick[i]]) : pick[i]
    out = out (i > 1 ? ", " : "") "\"" a "\""
  }
  printf "{\"name\": \"%s\", \"addresses\": [%s]}\n", ENVIRON["ATTUNE_NAME"], out
}'
