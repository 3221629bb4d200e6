#!/usr/bin/env bash
# Builds the VIP perks Function the way `shopify app deploy` does (the build
# command of shopify.extension.toml), prints the module's size and fails if
# it is over Shopify's 256 kB limit (counted as 256,000 bytes, the stricter
# reading), if it does not export every target's `export` of
# shopify.extension.toml, or if it imports from anything but WASI
# (`wasi_snapshot_preview1`): a module importing `shopify_function_v1` or
# `shopify_function_v2` would make the Shopify CLI download a trampoline
# from GitHub, which offline builds and CI cannot reach. When node is
# present, it then runs every fixture through the module (tests/wasm_fixtures.mjs).
#
#   extensions/vip-perks/build.sh        from anywhere
set -euo pipefail
cd "$(dirname "$0")"

TARGET=wasm32-wasip1
WASM="target/$TARGET/release/vip-perks.wasm"
LIMIT=256000

if command -v rustup >/dev/null 2>&1 && ! rustup target list --installed | grep -qx "$TARGET"; then
    rustup target add "$TARGET"
fi

cargo build --locked --target="$TARGET" --release

size=$(wc -c <"$WASM" | tr -d ' ')
echo "vip-perks: $WASM is $size bytes (limit $LIMIT)"
if [ "$size" -gt "$LIMIT" ]; then
    echo "vip-perks: the module is over Shopify's 256 kB limit" >&2
    exit 1
fi

if ! command -v python3 >/dev/null 2>&1; then
    echo "vip-perks: python3 not found, exports and imports not checked"
else
python3 - "$WASM" shopify.extension.toml <<'PY'
import re, sys

wasm = open(sys.argv[1], "rb").read()
toml = open(sys.argv[2], encoding="utf-8").read()
wanted = set(re.findall(r'^\s*export\s*=\s*"([^"]+)"', toml, re.M))

def leb(i):
    result = shift = 0
    while True:
        byte = wasm[i]
        i += 1
        result |= (byte & 0x7F) << shift
        shift += 7
        if byte < 0x80:
            return result, i

def name(i):
    n, i = leb(i)
    return wasm[i:i + n].decode(), i + n

def limits(i):
    flags = wasm[i]
    _, i = leb(i + 1)
    return leb(i)[1] if flags & 1 else i

assert wasm[:4] == b"\0asm", "not a wasm module"
exports, imports, i = set(), set(), 8
while i < len(wasm):
    section = wasm[i]
    size, i = leb(i + 1)
    end, j = i + size, i
    if section == 2:
        count, j = leb(j)
        for _ in range(count):
            module, j = name(j)
            field, j = name(j)
            kind, j = wasm[j], j + 1
            imports.add(module)
            if kind == 0:
                _, j = leb(j)
            elif kind == 1:
                j = limits(j + 1)
            elif kind == 2:
                j = limits(j)
            elif kind == 3:
                j += 2
    elif section == 7:
        count, j = leb(j)
        for _ in range(count):
            field, j = name(j)
            kind, j = wasm[j], j + 1
            _, j = leb(j)
            if kind == 0:
                exports.add(field)
    i = end

problems = []
if not wanted:
    problems.append("shopify.extension.toml names no export")
if wanted - exports:
    problems.append(f"not exported: {sorted(wanted - exports)}")
trampolined = imports & {"shopify_function_v1", "shopify_function_v2"}
if trampolined:
    problems.append(
        f"imports {sorted(trampolined)}: the Shopify CLI would download a trampoline"
    )
if imports - {"wasi_snapshot_preview1"} - trampolined:
    problems.append(
        f"unexpected imports: {sorted(imports - {'wasi_snapshot_preview1'} - trampolined)}"
    )
if problems:
    sys.exit("vip-perks: " + "; ".join(problems))
print(
    f"vip-perks: exports {sorted(wanted)}, imports only from {sorted(imports)}"
    " (no trampoline needed)"
)
PY
fi

if command -v node >/dev/null 2>&1; then
    node --no-warnings tests/wasm_fixtures.mjs "$WASM"
else
    echo "vip-perks: node not found, fixtures not run through the module"
fi
