"""llama.cpp's sampling speed on the GGUF dt-r1 uses, measured the way `dtr1 bench-policy`
measures dt-r1's: prefill of a 512-token prompt at batch 1, 64 greedy decode steps after it,
and 64 greedy steps of 8 sequences sharing a 320-token prompt (one prefill, the cache copied to
the other 7 sequences, then one batch of 8 tokens per step). One warm-up first, like dt-r1.

Run by scripts/bench_llamacpp.sh from its own venv (llama-cpp-python). Prints one JSON line:
{"version", "threads", "prefill_tok_s", "decode1_tok_s", "decode8_tok_s"}.

Usage: bench_llamacpp.py MODEL.gguf THREADS DECODE_TOKENS
"""

import ctypes
import json
import sys
import time

import llama_cpp as L
import numpy as np

TEXT = (
    "The digital twin lists every object with its label, colour, size, depth and position. "
    * 40
)


def first(*names):
    """The first binding that this llama-cpp-python version has (the C API was renamed)."""
    for n in names:
        f = getattr(L, n, None)
        if f is not None:
            return f
    raise SystemExit(f"llama-cpp-python has none of {names}")


def main():
    path, threads, steps = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    L.llama_backend_init()
    mp = L.llama_model_default_params()
    model = first("llama_model_load_from_file", "llama_load_model_from_file")(
        path.encode(), mp
    )
    if not model:
        raise SystemExit(f"cannot load {path}")
    cp = L.llama_context_default_params()
    # llama.cpp splits the context among the sequences: 1024 positions each.
    cp.n_ctx = 8 * 1024
    cp.n_batch = 512
    cp.n_ubatch = 512
    cp.n_seq_max = 8
    cp.n_threads = threads
    cp.n_threads_batch = threads
    ctx = first("llama_init_from_model", "llama_new_context_with_model")(model, cp)
    vocab = L.llama_model_get_vocab(model)
    n_vocab = first("llama_vocab_n_tokens", "llama_n_vocab")(vocab)

    buf = (L.llama_token * 4096)()
    raw = TEXT.encode()
    n = L.llama_tokenize(vocab, raw, len(raw), buf, 4096, False, False)
    prompt = list(buf[: min(n, 512)])

    mem = L.llama_get_memory(ctx) if hasattr(L, "llama_get_memory") else None

    def clear():
        if mem is not None:
            L.llama_memory_clear(mem, True)
        else:
            first("llama_kv_self_clear", "llama_kv_cache_clear")(ctx)

    def seq_cp(src, dst):
        if mem is not None:
            L.llama_memory_seq_cp(mem, src, dst, -1, -1)
        else:
            first("llama_kv_self_seq_cp", "llama_kv_cache_seq_cp")(ctx, src, dst, -1, -1)

    batch = L.llama_batch_init(512, 0, 8)

    def decode(tokens, pos0, seqs, logits_last_only):
        """Tokens of one sequence (`seqs` = [s]) or one token per sequence (`seqs` = ids)."""
        batch.n_tokens = len(tokens)
        for i, t in enumerate(tokens):
            batch.token[i] = t
            if len(seqs) == 1:
                batch.pos[i] = pos0 + i
                batch.seq_id[i][0] = seqs[0]
            else:
                batch.pos[i] = pos0
                batch.seq_id[i][0] = seqs[i]
            batch.n_seq_id[i] = 1
            batch.logits[i] = (i == len(tokens) - 1) if logits_last_only else True
        if L.llama_decode(ctx, batch) != 0:
            raise SystemExit("llama_decode failed")

    def argmax(i):
        p = L.llama_get_logits_ith(ctx, i)
        row = np.ctypeslib.as_array(ctypes.cast(p, ctypes.POINTER(ctypes.c_float)), (n_vocab,))
        return int(row.argmax())

    # Warm-up: the first pass pays for page faults and allocator growth.
    clear()
    decode(prompt[:64], 0, [0], True)

    clear()
    t = time.perf_counter()
    decode(prompt, 0, [0], True)
    prefill = len(prompt) / (time.perf_counter() - t)
    tok = argmax(-1)
    t = time.perf_counter()
    for s in range(steps):
        decode([tok], len(prompt) + s, [0], True)
        tok = argmax(-1)
    decode1 = steps / (time.perf_counter() - t)

    clear()
    short = prompt[:320]
    decode(short, 0, [0], True)
    for s in range(1, 8):
        seq_cp(0, s)
    toks = [argmax(-1)] * 8
    t = time.perf_counter()
    for s in range(steps):
        decode(toks, len(short) + s, list(range(8)), False)
        toks = [argmax(i) for i in range(8)]
    decode8 = 8 * steps / (time.perf_counter() - t)

    print(
        json.dumps(
            {
                "version": L.__version__,
                "threads": threads,
                "prefill_tok_s": prefill,
                "decode1_tok_s": decode1,
                "decode8_tok_s": decode8,
            }
        )
    )


if __name__ == "__main__":
    main()
