#!/usr/bin/env bash
# Regenerates the reference token embeddings in this folder with llama.cpp 2026 (see llama-embed.cpp).
# Usage: make.sh [LLAMA_REF_DIR] (default /tmp/llama-ref; built first by ../shared/llama-ref/setup.sh if missing).
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd); SHARED=$(cd "$HERE/../../../../shared" && pwd)
REF=${1:-/tmp/llama-ref}; LIB=$REF/package/bins/linux-x64
[ -f "$LIB/libllama.v0.5.0.so" ] || bash "$SHARED/llama-ref/setup.sh" "$REF"
g++ -O2 -std=c++17 "$HERE/llama-embed.cpp" -L"$LIB" -l:libllama.v0.5.0.so -l:libggml.v0.5.0.so -Wl,-rpath,"$LIB" -o "$REF/llama-embed"
PROMPT="The quick brown fox jumps over the lazy dog. It barks."
for m in llama-tiny-q8_0 qwen3-tiny-q8_0 gemma3-tiny-q8_0 llama-tiny-f32; do
  "$REF/llama-embed" "$LIB" "$SHARED/models/$m.gguf" "$HERE/$m" "$PROMPT" 2>/dev/null
done
