#!/bin/sh
# Tests conf/getGpusResources.sh against a fake nvidia-smi that describes a host with two T4s and
# two A100s (one on PCI domain 1). Runs anywhere, GPU or not: the real nvidia-smi is never called.
#
#   sh conf/test-getGpusResources.sh        # prints one line per case, exits 1 if any failed
#
# The same cases run from Maven in spark-plugin's GpuDiscoveryScriptTest.
set -eu

here="$(cd "$(dirname "$0")" && pwd)"
script="$here/getGpusResources.sh"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT INT TERM

# The fake nvidia-smi. FAKE_NVSMI=fail makes it fail as it does without a loaded driver,
# FAKE_NVSMI=none as it does on a host without GPUs.
mkdir "$work/fake"
cat >"$work/fake/nvidia-smi" <<'EOF'
#!/bin/sh
case "${FAKE_NVSMI:-ok}" in
  fail) echo "NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver." ; exit 9 ;;
  none) echo "No devices were found" ; exit 6 ;;
esac
case "$*" in
  *--query-gpu=index,pci.bus_id,name*)
    echo "0, 00000000:3B:00.0, Tesla T4"
    echo "1, 00000000:5E:00.0, Tesla T4"
    echo "2, 00000000:86:00.0, NVIDIA A100-SXM4-40GB"
    echo "3, 00000001:AF:00.0, NVIDIA A100-SXM4-80GB"
    ;;
  *--query-gpu=index,uuid*)
    echo "0, GPU-0a1b2c3d-0000-1111-2222-333344445555"
    echo "1, GPU-0a1b2c3d-9999-1111-2222-333344445555"
    echo "2, GPU-8932f937-d72c-4106-c12f-20bd9faed9f6"
    echo "3, GPU-b4e6a1f0-1234-5678-9abc-def012345678"
    ;;
  *) echo "fake nvidia-smi: unexpected arguments: $*" >&2 ; exit 2 ;;
esac
EOF
chmod +x "$work/fake/nvidia-smi"

# A PATH with awk but no nvidia-smi, whatever the host has.
mkdir "$work/bare"
ln -s "$(command -v awk)" "$work/bare/awk"

failures=0

# check NAME EXPECTED_STDOUT [VAR=VALUE ...]: runs the script with a clean environment plus the
# given variables and PATH=fake:$PATH (or the bare PATH when PATH=bare is given).
check() {
  label="$1"
  want="$2"
  shift 2
  path="$work/fake:$PATH"
  for kv in "$@"; do
    [ "$kv" = "PATH=bare" ] && path="$work/bare"
  done
  filtered=""
  for kv in "$@"; do
    [ "$kv" = "PATH=bare" ] || filtered="$filtered $kv"
  done
  # shellcheck disable=SC2086
  got="$(env -u CUDA_VISIBLE_DEVICES -u ATTUNE_GPU_ADDRESS_FORMAT -u ATTUNE_GPU_RESOURCE_NAME \
      -u CUDA_DEVICE_ORDER -u FAKE_NVSMI PATH="$path" $filtered "$(command -v sh)" "$script" 2>"$work/stderr")" \
    || got="exit status $?"
  if [ "$got" = "$want" ]; then
    echo "ok   $label"
  else
    echo "FAIL $label"
    echo "     want: $want"
    echo "     got:  $got"
    sed 's/^/     stderr: /' "$work/stderr"
    failures=$((failures + 1))
  fi
}

check "every GPU of a mixed T4/A100 host, by index" \
  '{"name": "gpu", "addresses": ["0", "1", "2", "3"]}'
check "CUDA_VISIBLE_DEVICES keeps only the listed GPUs, in its order" \
  '{"name": "gpu", "addresses": ["3", "1"]}' CUDA_VISIBLE_DEVICES=3,1
check "a repeated CUDA_VISIBLE_DEVICES entry counts once" \
  '{"name": "gpu", "addresses": ["2", "0"]}' CUDA_VISIBLE_DEVICES=2,0,2
check "empty CUDA_VISIBLE_DEVICES hides every GPU" \
  '{"name": "gpu", "addresses": []}' CUDA_VISIBLE_DEVICES=
check "the list ends at a negative index, as in the CUDA driver" \
  '{"name": "gpu", "addresses": ["1"]}' CUDA_VISIBLE_DEVICES=1,-1,3
check "the list ends at an index the host does not have" \
  '{"name": "gpu", "addresses": ["0"]}' CUDA_VISIBLE_DEVICES=0,7,1
check "the list ends at a PCI bus id, which the CUDA driver does not accept" \
  '{"name": "gpu", "addresses": []}' CUDA_VISIBLE_DEVICES=0000:3b:00.0,0
check "an abbreviated GPU UUID names its GPU" \
  '{"name": "gpu", "addresses": ["2", "3"]}' CUDA_VISIBLE_DEVICES=GPU-8932f937,gpu-B4E6A1F0-1234
check "an ambiguous UUID prefix ends the list" \
  '{"name": "gpu", "addresses": ["3"]}' CUDA_VISIBLE_DEVICES=3,GPU-0a1b2c3d
check "PCI bus ids in the driver's form" \
  '{"name": "gpu", "addresses": ["0000:3b:00.0", "0000:5e:00.0", "0000:86:00.0", "0001:af:00.0"]}' \
  ATTUNE_GPU_ADDRESS_FORMAT=pci
check "PCI bus ids with CUDA_VISIBLE_DEVICES" \
  '{"name": "gpu", "addresses": ["0001:af:00.0", "0000:3b:00.0"]}' ATTUNE_GPU_ADDRESS_FORMAT=pci CUDA_VISIBLE_DEVICES=3,0
check "another resource name" \
  '{"name": "nvgpu", "addresses": ["0", "1", "2", "3"]}' ATTUNE_GPU_RESOURCE_NAME=nvgpu
check "no nvidia-smi on PATH" \
  '{"name": "gpu", "addresses": []}' PATH=bare
check "nvidia-smi fails (no driver)" \
  '{"name": "gpu", "addresses": []}' FAKE_NVSMI=fail
check "nvidia-smi finds no device" \
  '{"name": "gpu", "addresses": []}' FAKE_NVSMI=none
check "an unknown address format is an error" \
  'exit status 2' ATTUNE_GPU_ADDRESS_FORMAT=uuid

if [ "$failures" -gt 0 ]; then
  echo "$failures case(s) failed"
  exit 1
fi
echo "all cases passed"
