#!/usr/bin/env bash
# Builds the PTX modules Attune ships from the CUDA sources in this directory.
#
#   build-ptx.sh [OUTPUT_DIR]
#
# OUTPUT_DIR defaults to kernels/src/main/resources/dev/attune/kernels/ptx. For every module of
# modules.tsv it
#   1. compiles <source> with `nvcc -ptx -O3 -std=c++17 -arch=<arch>`,
#   2. rewrites the `.version` and `.target` lines down to the table's ISA version and target
#      (CUDA 13's nvcc writes ISA 9.0 and knows no target below sm_75; the kernels use nothing
#      newer than the table says, and step 3 proves it),
#   3. assembles the rewritten file with ptxas for every claimed target ptxas knows (sm_75 and
#      newer); older claimed targets are assembled by PtxAssemblyTest with nvPTXCompiler,
#   4. writes <module>.ptx and manifest.json (hashes, versions, targets, the oldest driver that
#      JIT-compiles the ISA, and every .entry with its .maxntid).
# Nothing is written to OUTPUT_DIR unless every module builds and assembles.
#
# The output is pinned to one toolchain, CUDA 13.0's nvcc: another nvcc writes different PTX, and
# PtxFreshnessTest / PtxRebuildTest compare the shipped files byte for byte. The build refuses any
# other nvcc unless ATTUNE_PTX_ANY_NVCC=1 (for experiments; do not commit what it writes).
#
# Output is deterministic and holds no absolute path: nvcc runs in this directory on the bare
# file name, without -lineinfo, and cicc is told the source's path relative to this directory
# (it otherwise hashes the absolute path into the names of internal-linkage symbols, such as
# anything in an anonymous namespace that survives into the PTX).
#
# Environment: NVCC and PTXAS name the tools (default: nvcc, ptxas on PATH).
set -euo pipefail
export LC_ALL=C

readonly PINNED_RELEASE="13.0"
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
readonly here
readonly table="$here/modules.tsv"
readonly script_name="build-ptx.sh"
out_dir="${1:-$here/../resources/dev/attune/kernels/ptx}"
nvcc="${NVCC:-nvcc}"
ptxas="${PTXAS:-ptxas}"

die() {
    printf 'build-ptx.sh: %s\n' "$*" >&2
    exit 1
}

# Oldest CUDA driver (cuDriverGetVersion form) whose JIT accepts a PTX ISA version: the CUDA
# release that introduced the ISA, from the PTX ISA release notes.
min_driver_for_isa() {
    case "$1" in
        5.0) echo 8000 ;;
        6.0) echo 9000 ;;  6.1) echo 9010 ;;  6.2) echo 9020 ;;  6.3) echo 10000 ;;
        6.4) echo 10010 ;; 6.5) echo 10020 ;;
        7.0) echo 11000 ;; 7.1) echo 11010 ;; 7.2) echo 11020 ;; 7.3) echo 11030 ;;
        7.4) echo 11040 ;; 7.5) echo 11050 ;; 7.6) echo 11060 ;; 7.7) echo 11070 ;; 7.8) echo 11080 ;;
        8.0) echo 12000 ;; 8.1) echo 12010 ;; 8.2) echo 12020 ;; 8.3) echo 12030 ;;
        8.4) echo 12040 ;; 8.5) echo 12050 ;; 8.6) echo 12070 ;; 8.7) echo 12080 ;; 8.8) echo 12090 ;;
        9.0) echo 13000 ;;
        *) return 1 ;;
    esac
}

# "sm_86" -> 86, "sm_90a" -> 90
sm_number() {
    local n="${1#sm_}"
    n="${n%%[!0-9]*}"
    [[ "$1" == sm_* && -n "$n" ]] || return 1
    echo "$n"
}

sha256_of() {
    sha256sum "$1" | cut -d' ' -f1
}

json_string() {
    local s="${1//\\/\\\\}"
    s="${s//\"/\\\"}"
    printf '"%s"' "$s"
}

# Local headers a source includes, directly or through other local headers, as paths relative to
# this directory, sorted. Only quoted includes count; a quoted include that is not a file here
# (a system header written with quotes) is not an input.
local_headers() {
    local -A seen=()
    local -a queue=("$1")
    while ((${#queue[@]})); do
        local file="${queue[0]}"
        queue=("${queue[@]:1}")
        local dir
        dir="$(dirname "$file")"
        local inc
        while IFS= read -r inc; do
            local rel
            if [[ "$dir" == "." ]]; then rel="$inc"; else rel="$dir/$inc"; fi
            if [[ -f "$here/$rel" && -z "${seen[$rel]:-}" ]]; then
                seen[$rel]=1
                queue+=("$rel")
            fi
        done < <(sed -n 's/^[[:space:]]*#[[:space:]]*include[[:space:]]*"\([^"]*\)".*/\1/p' "$here/$file")
    done
    if ((${#seen[@]})); then
        printf '%s\n' "${!seen[@]}" | sort
    fi
}

# Every .entry of a PTX file with its .maxntid: "name x,y,z" per line ("name -" without one).
# Performance directives sit between the parameter list and the opening brace of the body.
entries_of() {
    awk '
        /^[[:space:]]*\/\// { next }
        !inentry && match($0, /\.entry[[:space:]]+[A-Za-z_$%][A-Za-z0-9_$]*/) {
            name = substr($0, RSTART, RLENGTH); sub(/\.entry[[:space:]]+/, "", name)
            inentry = 1; ntid = "-"
        }
        inentry && /\.maxntid[[:space:]]/ {
            ntid = $0; sub(/.*\.maxntid[[:space:]]+/, "", ntid); sub(/[^0-9, \t].*/, "", ntid); gsub(/[[:space:]]/, "", ntid)
        }
        inentry && /\{/ { print name, ntid; inentry = 0 }
    ' "$1"
}

[[ -f "$table" ]] || die "module table $table not found"
command -v "$nvcc" >/dev/null || die "nvcc not found (set NVCC or put CUDA $PINNED_RELEASE's bin on PATH)"
command -v "$ptxas" >/dev/null || die "ptxas not found (set PTXAS or put CUDA $PINNED_RELEASE's bin on PATH)"

nvcc_line="$("$nvcc" --version | grep -m1 'Cuda compilation tools' || true)"
[[ -n "$nvcc_line" ]] || die "cannot read the version of $nvcc"
nvcc_release="$(sed -n 's/.*release \([0-9][0-9]*\.[0-9][0-9]*\).*/\1/p' <<<"$nvcc_line")"
if [[ "$nvcc_release" != "$PINNED_RELEASE" ]]; then
    if [[ "${ATTUNE_PTX_ANY_NVCC:-}" == "1" ]]; then
        printf 'build-ptx.sh: warning: %s is not CUDA %s; the PTX will not match the shipped files\n' \
            "$nvcc_line" "$PINNED_RELEASE" >&2
    else
        die "the shipped PTX is pinned to CUDA $PINNED_RELEASE's nvcc and this one is '$nvcc_line'." \
            "Another nvcc writes different PTX, which the freshness checks would reject." \
            "Use CUDA $PINNED_RELEASE, or set ATTUNE_PTX_ANY_NVCC=1 to build anyway (do not commit the result)."
    fi
fi

work="$(mktemp -d "${TMPDIR:-/tmp}/attune-ptx.XXXXXX")"
trap 'rm -rf "$work"' EXIT
script_sha="$(sha256_of "$here/$script_name")"
manifest="$work/manifest.json"
modules=()

{
    printf '{\n  "format": 1,\n  "modules": ['
    first_module=1
    while IFS= read -r line || [[ -n "$line" ]]; do
        [[ -z "${line//[[:space:]]/}" || "$line" == \#* ]] && continue
        IFS=$'\t' read -r -a col <<<"$line"
        ((${#col[@]} == 7)) || die "modules.tsv: expected 7 tab-separated columns, got ${#col[@]}: $line"
        module="${col[0]}" source="${col[1]}" arch="${col[2]}" isa="${col[3]}" target="${col[4]}"
        read -r -a claimed <<<"${col[5]}"
        [[ "$module" =~ ^[a-z0-9_]+$ ]] || die "modules.tsv: bad module name '$module'"
        for m in "${modules[@]}"; do [[ "$m" != "$module" ]] || die "modules.tsv: module $module listed twice"; done
        modules+=("$module")
        [[ -f "$here/$source" ]] || die "module $module: source $here/$source not found"
        driver="$(min_driver_for_isa "$isa")" || die "module $module: unknown PTX ISA version '$isa'"
        target_sm="$(sm_number "$target")" || die "module $module: bad target '$target'"
        ((${#claimed[@]})) || die "module $module: claims no target"

        printf 'build-ptx.sh: %s: nvcc -arch=%s, shipping .version %s / .target %s\n' \
            "$module" "$arch" "$isa" "$target" >&2
        raw="$work/$module.nvcc.ptx"
        ptx="$work/$module.ptx"
        (cd "$here" && "$nvcc" -ptx -O3 -std=c++17 -arch="$arch" \
            -Xcicc --orig_src_path_name -Xcicc "$source" "$source" -o "$raw") \
            || die "module $module: nvcc failed on $source"

        (($(grep -c '^\.version[[:space:]]' "$raw") == 1)) || die "module $module: expected one .version line"
        (($(grep -c '^\.target[[:space:]]' "$raw") == 1)) || die "module $module: expected one .target line"
        written_isa="$(sed -n 's/^\.version[[:space:]]*\([0-9.]*\).*/\1/p' "$raw")"
        sed -e "s/^\.version[[:space:]].*/.version $isa/" -e "s/^\.target[[:space:]].*/.target $target/" \
            "$raw" >"$ptx"
        if grep -q '^[[:space:]]*\.file[[:space:]]' "$ptx" || grep -qF "$here" "$ptx"; then
            die "module $module: the PTX names source files or an absolute path; it must not (no -lineinfo, no -G)"
        fi

        for t in "${claimed[@]}"; do
            sm="$(sm_number "$t")" || die "module $module: bad claimed target '$t'"
            ((sm >= target_sm)) || die "module $module: claims $t, older than its .target $target"
            if ((sm >= 75)); then
                if ! err="$("$ptxas" -arch="$t" "$ptx" -o /dev/null 2>&1)"; then
                    die "module $module, target $t: ptxas rejects the PTX lowered from .version $written_isa to" \
                        ".version $isa / .target $target:"$'\n'"$err"
                fi
            else
                printf 'build-ptx.sh: %s: %s is below what ptxas %s assembles; PtxAssemblyTest checks it\n' \
                    "$module" "$t" "$PINNED_RELEASE" >&2
            fi
        done

        # The source hash covers everything that determines the PTX: the module's table line, this
        # script, the source and every local header it includes. It is the SHA-256 of the
        # `sha256sum`-style lines "<sha256>  <name>" of those inputs, in this order.
        inputs="$work/$module.inputs"
        printf '%s  %s\n' "$(printf '%s' "$line" | sha256sum | cut -d' ' -f1)" "modules.tsv:$module" >"$inputs"
        printf '%s  %s\n' "$script_sha" "$script_name" >>"$inputs"
        printf '%s  %s\n' "$(sha256_of "$here/$source")" "$source" >>"$inputs"
        while IFS= read -r header; do
            [[ -n "$header" ]] && printf '%s  %s\n' "$(sha256_of "$here/$header")" "$header" >>"$inputs"
        done < <(local_headers "$source")

        ((first_module)) || printf ','
        first_module=0
        printf '\n    {\n'
        printf '      "module": %s,\n' "$(json_string "$module")"
        printf '      "file": %s,\n' "$(json_string "$module.ptx")"
        printf '      "ptxSha256": "%s",\n' "$(sha256_of "$ptx")"
        printf '      "sourceSha256": "%s",\n' "$(sha256_of "$inputs")"
        printf '      "inputs": ['
        sep=''
        while read -r hash name; do
            printf '%s\n        {"name": %s, "sha256": "%s"}' "$sep" "$(json_string "$name")" "$hash"
            sep=','
        done <"$inputs"
        printf '\n      ],\n'
        printf '      "nvcc": %s,\n' "$(json_string "$nvcc_line")"
        printf '      "nvccArch": %s,\n' "$(json_string "$arch")"
        printf '      "ptxVersion": "%s",\n' "$isa"
        printf '      "target": %s,\n' "$(json_string "$target")"
        printf '      "checkedFor": ['
        sep=''
        for t in "${claimed[@]}"; do printf '%s%s' "$sep" "$(json_string "$t")"; sep=', '; done
        printf '],\n'
        printf '      "minDriverVersion": %s,\n' "$driver"
        printf '      "entries": ['
        sep=''
        count=0
        while read -r name ntid; do
            if [[ "$ntid" == "-" ]]; then ntid=''; else ntid="${ntid//,/, }"; fi
            printf '%s\n        {"name": %s, "maxntid": [%s]}' "$sep" "$(json_string "$name")" "$ntid"
            sep=','
            count=$((count + 1))
        done < <(entries_of "$ptx")
        ((count)) || die "module $module: the PTX has no .entry (are the kernels extern \"C\" __global__?)"
        printf '\n      ]\n    }'
    done <"$table"
    printf '\n  ]\n}\n'
} >"$manifest"

((${#modules[@]})) || die "modules.tsv lists no module"

# Everything built and assembled: replace the output directory's PTX and manifest.
mkdir -p "$out_dir"
out_dir="$(cd "$out_dir" && pwd)"
rm -f "$out_dir"/*.ptx
for m in "${modules[@]}"; do
    cp "$work/$m.ptx" "$out_dir/$m.ptx"
done
cp "$manifest" "$out_dir/manifest.json"
printf 'build-ptx.sh: wrote %d modules and manifest.json to %s\n' "${#modules[@]}" "$out_dir" >&2
