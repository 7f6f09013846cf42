"""Reference vectors for ROUGE-L (rouge-score), BLEU (sacrebleu), CIDEr-D (pycocoevalcap)
and VQA accuracy.

Usage: python textmetrics_vectors.py OUTFILE

ROUGE-L, BLEU and CIDEr-D come from the installed reference packages. VQA accuracy has no
installable reference, so it is computed here by an independent implementation of the
official evaluation procedure as of GT-Vision-Lab/VQA commit a013f00 (2021, "Fixed
processing answers bug"), reading the normalisation tables from
crates/metrics/data/vqa_tables.json. The official code is Python 2, so its string rules
are Python 2.7's (ASCII \d, Unicode 5.2 whitespace); these cases stay within ASCII, where
Python 3 agrees. crates/metrics/data/vqa_official_vectors.json holds vectors produced by
running the official code itself, including non-ASCII cases.
"""
import json
import os
import re
import sys

import numpy as np
from pycocoevalcap.cider.cider import Cider
from rouge_score import rouge_scorer
import sacrebleu

rng = np.random.default_rng(11)
HERE = os.path.dirname(os.path.abspath(__file__))
TABLES = json.load(open(os.path.join(HERE, "../../crates/metrics/data/vqa_tables.json")))

VOCAB = ("the a an red blue green ball balls cube cubes rolls rolled rolling stops stopped collides "
         "collided with after before left right of on near behind in front bigger smaller two three "
         "one 2 3 4.5 10,000 caresses ponies flies running generalization relational agreed sized "
         "hopping dying lying skies happily conditional dont can't it's isnt yall twas "
         "Blue RED Cube. ball, hit! (then) [moved] x-ray 3-4 & < > \" ; : / ? it’s naïve").split()
PUNCT = [".", ",", "!", "?", ";", ":", "-", "(", ")", "\"", "'", "&quot;", "&amp;", "\n", "\t", "  "]


def sentence(lo=0, hi=14):
    n = int(rng.integers(lo, hi))
    words = [VOCAB[rng.integers(len(VOCAB))] for _ in range(n)]
    out = []
    for w in words:
        out.append(w)
        if rng.random() < 0.15:
            out.append(PUNCT[rng.integers(len(PUNCT))])
    sep = " " if rng.random() < 0.8 else ""
    return sep.join(out) if rng.random() < 0.9 else " ".join(out)


def near(s):
    words = s.split()
    if words and rng.random() < 0.7:
        k = int(rng.integers(len(words)))
        words = words[:k] + [VOCAB[rng.integers(len(VOCAB))]] + words[k + 1:]
    if rng.random() < 0.3:
        words = words[::-1]
    return " ".join(words)


# --- VQA, independent implementation of the official procedure -------------------------
# re.ASCII: the official code runs on Python 2, where \d without re.UNICODE is [0-9].
COMMA_STRIP = re.compile(r"(\d)(\,)(\d)", re.ASCII)
PERIOD_STRIP = re.compile(r"(?!<=\d)(\.)(?!\d)", re.ASCII)


def vqa_punct(text):
    out = text
    for p in TABLES["punctuation"]:
        if (p + " " in text or " " + p in text) or COMMA_STRIP.search(text) is not None:
            out = out.replace(p, "")
        else:
            out = out.replace(p, " ")
    return PERIOD_STRIP.sub("", out, count=32)


def vqa_digit_article(text):
    words = []
    for w in text.lower().split():
        w = TABLES["number_words"].get(w, w)
        if w not in TABLES["articles"]:
            words.append(w)
    return " ".join(TABLES["contractions"].get(w, w) for w in words)


def vqa_clean(text):
    return text.replace("\n", " ").replace("\t", " ").strip()


def vqa_normalize(text):
    return vqa_digit_article(vqa_punct(vqa_clean(text)))


def vqa_soft(pred, answers):
    # Both sides are cleaned; only when the cleaned answers disagree are both sides
    # punctuation- and digit/article-processed (the 2021 official fix).
    res = vqa_clean(pred)
    gts = [vqa_clean(g) for g in answers]
    if len(set(gts)) > 1:
        gts = [vqa_digit_article(vqa_punct(g)) for g in gts]
        res = vqa_digit_article(vqa_punct(res))
    accs = []
    for i in range(len(gts)):
        others = gts[:i] + gts[i + 1:]
        accs.append(min(1.0, sum(1 for g in others if g == res) / 3.0))
    return sum(accs) / len(accs)


VQA_WORDS = ["2", "two", "Two.", "two ", "yes", "Yes", "no", "the red ball", "red ball", "a red ball!",
             "dont know", "don't know", "10,000", "10000", "3.5", "3.", "none", "0", "left", "left.",
             "x-ray", "x ray", "xray", "(blue)", "blue", "it's", "its", "the cube; maybe", "Ten", "10"]


def vqa_cases():
    cases = []
    for k in range(400):
        if k % 5 == 0:
            answers = [VQA_WORDS[rng.integers(len(VQA_WORDS))]] * 10
        else:
            pool = [VQA_WORDS[rng.integers(len(VQA_WORDS))] for _ in range(int(rng.integers(1, 4)))]
            answers = [pool[rng.integers(len(pool))] for _ in range(10)]
        pred = VQA_WORDS[rng.integers(len(VQA_WORDS))] if k % 3 else answers[0]
        if k % 11 == 0:
            pred = "\t" + pred + "\n"
        cases.append({"pred": pred, "answers": answers, "soft": vqa_soft(pred, answers),
                      "norm_pred": vqa_normalize(pred), "norm_first": vqa_normalize(answers[0])})
    # Punctuation edge cases.
    for text in ["a,b", "1,000 items", "what? yes!", "x - y", "end.", "3.14.", "....a", "a. b. c." * 20,
                 "can't", "cant", "Im", "hes here", "yall'll", "the the a an", "(1)", "a/b", "a /b"]:
        cases.append({"pred": text, "answers": [text] * 10, "soft": vqa_soft(text, [text] * 10),
                      "norm_pred": vqa_normalize(text), "norm_first": vqa_normalize(text)})
        # The same text against disagreeing answers, so that both sides are processed.
        answers = [text] * 4 + [vqa_normalize(text)] * 3 + ["x"] * 3
        cases.append({"pred": text, "answers": answers, "soft": vqa_soft(text, answers),
                      "norm_pred": vqa_normalize(text), "norm_first": vqa_normalize(text)})
    return cases


STEM_ROOTS = ("run hop fil siz agre relat gener condit happ cat tie die lie sky news inn out cann how proc exc succ "
              "cri tri pony caress flie formal sensib ration valen hesit digit radic rational hope feud "
              "activ adjust depend effect allow bow troubl plaster motor contrib control roll electr "
              "fall toll feed bled bleed sing spring crisi lyri analog anthropo geo theo "
              "a b y ay oy by ey xy zz ss sky spy ply gh ax ox fizz buzz tell").split()
STEM_SUFFIXES = ("", "s", "es", "sses", "ies", "ied", "ing", "ings", "ed", "eed", "y", "ly", "ational", "tional",
                 "enci", "anci", "izer", "bli", "abli", "alli", "entli", "eli", "ousli", "ization", "ation", "ator",
                 "alism", "iveness", "fulness", "ousness", "aliti", "iviti", "biliti", "fulli", "logi", "icate",
                 "ative", "alize", "iciti", "ical", "ful", "ness", "al", "ance", "ence", "er", "ic", "able",
                 "ible", "ant", "ement", "ment", "ent", "ion", "sion", "tion", "ou", "ism", "ate", "iti", "ous",
                 "ive", "ize", "e", "ll", "le", "ble", "at", "bl", "iz")


def stem_cases():
    from nltk.stem import porter
    p = porter.PorterStemmer()
    words = sorted({r + s for r in STEM_ROOTS for s in STEM_SUFFIXES})
    words += ["dying", "lying", "tying", "skies", "innings", "outings", "cannings", "howe", "proceed",
              "exceed", "succeed", "generalizations", "oscillators", "triplicate", "electriciti"]
    return [[w, p.stem(w)] for w in words]


def main(out):
    rouge_plain = rouge_scorer.RougeScorer(["rougeL"], use_stemmer=False)
    rouge_stem = rouge_scorer.RougeScorer(["rougeL"], use_stemmer=True)
    rouge = []
    for k in range(400):
        target = sentence()
        pred = near(target) if k % 4 else sentence()
        refs = [target] + [near(target) for _ in range(int(rng.integers(0, 3)))]
        row = {"target": target, "pred": pred, "refs": refs}
        for name, sc in (("plain", rouge_plain), ("stem", rouge_stem)):
            s = sc.score(target, pred)["rougeL"]
            m = sc.score_multi(refs, pred)["rougeL"]
            row[name] = [s.precision, s.recall, s.fmeasure]
            row[name + "_multi"] = m.fmeasure
        rouge.append(row)

    bleu_segments = []
    for k in range(300):
        ref = sentence(1, 20)
        refs = [ref] + [near(ref) for _ in range(int(rng.integers(0, 3)))]
        hyp = near(ref) if k % 5 else sentence(0, 20)
        s = sacrebleu.sentence_bleu(hyp, refs)
        bleu_segments.append({"hyp": hyp, "refs": refs, "sentence_bleu": s.score})
    corpora = []
    for c in range(10):
        segs = bleu_segments[c * 30:(c + 1) * 30]
        nref = max(len(s["refs"]) for s in segs)
        # sacrebleu wants one stream per reference position; pad missing ones with None.
        streams = [[s["refs"][i] if i < len(s["refs"]) else None for s in segs] for i in range(nref)]
        score = sacrebleu.corpus_bleu([s["hyp"] for s in segs], streams).score
        corpora.append({"first": c * 30, "n": 30, "bleu": score})
    tokenize_13a = sacrebleu.tokenizers.tokenizer_13a.Tokenizer13a()
    tok = [{"text": s["hyp"], "tokens": tokenize_13a(s["hyp"]).split()} for s in bleu_segments[:100]]

    cider_sets = []
    for c in range(8):
        n_img = int(rng.integers(1, 12))
        gts, res = {}, {}
        for i in range(n_img):
            ref = sentence(1, 15)
            refs = [ref] + [near(ref) for _ in range(int(rng.integers(1, 5)))]
            cand = near(ref) if rng.random() < 0.8 else sentence(1, 15)
            # pycocoevalcap expects tokenised text; dt-r1's tokenisation is applied on both sides.
            norm = lambda t: " ".join(re.sub(r"[^\w']|_", " ", t.lower()).split())
            gts[i] = [norm(r) for r in refs]
            res[i] = [norm(cand)]
        mean, per = Cider().compute_score(gts, res)
        cider_sets.append({"cands": [res[i][0] for i in range(n_img)], "refs": [gts[i] for i in range(n_img)],
                           "mean": float(mean), "per_image": [float(x) for x in per]})

    with open(out, "w") as f:
        json.dump({"rouge": rouge, "bleu_segments": bleu_segments, "bleu_corpora": corpora,
                   "tokenize_13a": tok, "cider": cider_sets, "vqa": vqa_cases(), "stems": stem_cases()}, f)


if __name__ == "__main__":
    main(sys.argv[1])
