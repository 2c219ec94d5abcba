#!/usr/bin/env python3
"""Independent reference tokenizer: a transcription of llama2.c run.c `encode(text, bos=1, eos=0)`.

Reads the original llama2.c tokenizer file (tok512.bin), not tokenizer.json, so it shares no
code or data path with the Hugging Face `tokenizers` pipeline it is used to check.

Usage: python3 llama2c_tokenizer.py [path/to/tok512.bin] < strings.json > ids.json
stdin: a JSON list of strings; stdout: a JSON list of id lists (BOS id 1 first, no EOS).
Standard library only.
"""
import json
import os
import struct
import sys

DEFAULT_TOKENIZER = os.path.join(
    os.path.dirname(os.path.abspath(__file__)),
    '..', '..', '..', 'shared', 'fixtures', 'models', 'stories260k', 'tok512.bin',
)  # test-fixtures/reference/ -> ../shared/fixtures beside the checkout
BOS_ID = 1


def load_tokenizer(path):
    """tok512.bin: int32 max_token_length, then per id: float32 score, int32 len, piece bytes."""
    with open(path, 'rb') as f:
        data = f.read()
    (_max_token_length,) = struct.unpack_from('<i', data, 0)
    pos = 4
    pieces, scores = [], []
    while pos < len(data):
        score, length = struct.unpack_from('<fi', data, pos)
        pos += 8
        pieces.append(data[pos:pos + length])
        pos += length
        scores.append(score)
    # run.c looks pieces up by bsearch over a sorted copy; pieces are unique, so a dict is equivalent.
    lookup = {}
    for i, piece in enumerate(pieces):
        lookup.setdefault(piece, i)
    return pieces, scores, lookup


def encode(text, pieces, scores, lookup, bos=True):
    raw = text.encode('utf-8')
    nul = raw.find(b'\0')
    if nul >= 0:  # C strings end at NUL
        raw = raw[:nul]
    tokens = []
    if bos:
        tokens.append(BOS_ID)
    if raw:  # add_dummy_prefix
        tokens.append(lookup[b' '])

    # One UTF-8 code point at a time (at most 4 bytes); unknown code points fall back to bytes.
    buf = bytearray()
    n = len(raw)
    for i in range(n):
        c = raw[i]
        if (c & 0xC0) != 0x80:
            buf = bytearray()
        buf.append(c)
        nxt = raw[i + 1] if i + 1 < n else 0
        if (nxt & 0xC0) == 0x80 and len(buf) < 4:
            continue
        tid = lookup.get(bytes(buf))
        if tid is not None:
            tokens.append(tid)
        else:
            tokens.extend(b + 3 for b in buf)
        buf = bytearray()

    # Merge the best-scoring adjacent pair until none is in the vocabulary, leftmost on ties (run.c's
    # strict '>'). Same algorithm as run.c; the pair scores are cached and only the two pairs next
    # to a merge are recomputed, which keeps 4,000-token texts fast in Python.
    def pair(i):
        tid = lookup.get(pieces[tokens[i]] + pieces[tokens[i + 1]])
        return (float('-inf'), -1) if tid is None else (scores[tid], tid)

    cached = [pair(i) for i in range(len(tokens) - 1)]
    pair_scores = [c[0] for c in cached]
    pair_ids = [c[1] for c in cached]
    while pair_scores:
        best_score = max(pair_scores)
        if not best_score > -1e10:
            break
        best_idx = pair_scores.index(best_score)  # the leftmost best pair
        tokens[best_idx:best_idx + 2] = [pair_ids[best_idx]]
        del pair_scores[best_idx], pair_ids[best_idx]
        for i in (best_idx - 1, best_idx):
            if 0 <= i < len(pair_scores):
                pair_scores[i], pair_ids[i] = pair(i)
    return tokens


def main():
    path = sys.argv[1] if len(sys.argv) > 1 else DEFAULT_TOKENIZER
    pieces, scores, lookup = load_tokenizer(path)
    texts = json.load(sys.stdin)
    out = [encode(t, pieces, scores, lookup) for t in texts]
    json.dump(out, sys.stdout)
    sys.stdout.write('\n')


if __name__ == '__main__':
    main()
