"""Extra tokenizer references for genrt, made with Hugging Face `tokenizers`
(the oracle) on the GPU machine, which has it installed.

usage: make_extra_refs.py OUTDIR corpus.json name=path/to/tokenizer.json[.gz] ...

Writes OUTDIR/extra_refs.json:
  corpus: the strings; tokenizers[name]: per string {ids, ids_special,
  decoded (of ids), decoded_special (of ids_special)}; decode_cases[name]:
  random id sequences (vocab, special and byte-fallback ids mixed) and their
  decode with skip_special_tokens=False.
It also trains three small tokenizers on the corpus, saves them as
OUTDIR/toy_*.json and references them the same way:
  toy_bl   ByteLevel(use_regex=True) pre-tokenizer, BOS+EOS template
  toy_blp  ByteLevel(add_prefix_space=True), ByteLevel post-processor
  toy_ms   Metaspace(prepend_scheme=first) with byte_fallback, Metaspace decoder
"""
import gzip, json, os, random, sys
from tokenizers import AddedToken, Tokenizer, models, pre_tokenizers, decoders, trainers, processors

out_dir, corpus_path = sys.argv[1], sys.argv[2]
corpus = json.load(open(corpus_path))

def load(path):
    if path.endswith(".gz"):
        return Tokenizer.from_str(gzip.open(path, "rt", encoding="utf-8").read())
    return Tokenizer.from_file(path)

def train_toys():
    text = corpus * 20
    toys = {}
    tk = Tokenizer(models.BPE())
    tk.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    tk.decoder = decoders.ByteLevel()
    tr = trainers.BpeTrainer(vocab_size=800, special_tokens=["<|bos|>", "<|eos|>", "<|pad|>"],
                             initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    tk.train_from_iterator(text, tr)
    tk.post_processor = processors.TemplateProcessing(
        single="<|bos|> $A <|eos|>", pair="<|bos|> $A <|eos|> $B:1 <|eos|>:1",
        special_tokens=[("<|bos|>", tk.token_to_id("<|bos|>")), ("<|eos|>", tk.token_to_id("<|eos|>"))])
    toys["toy_bl"] = tk
    tk = Tokenizer(models.BPE())
    tk.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=True, use_regex=True)
    tk.decoder = decoders.ByteLevel()
    tk.post_processor = processors.ByteLevel(trim_offsets=True)
    tr = trainers.BpeTrainer(vocab_size=700, special_tokens=["<|endoftext|>"],
                             initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    tk.train_from_iterator(text, tr)
    tk.add_tokens([AddedToken("hello world"), AddedToken("word", single_word=True), AddedToken(" lstrip")])
    tk.add_special_tokens([AddedToken("<mask>", lstrip=True, rstrip=True)])
    toys["toy_blp"] = tk
    tk = Tokenizer(models.BPE(byte_fallback=True, unk_token="<unk>", fuse_unk=True))
    tk.pre_tokenizer = pre_tokenizers.Metaspace(replacement="\u2581", prepend_scheme="first")
    tk.decoder = decoders.Sequence([decoders.ByteFallback(), decoders.Metaspace(replacement="\u2581", prepend_scheme="first")])
    bytes_tokens = ["<0x%02X>" % b for b in range(256)]
    tr = trainers.BpeTrainer(vocab_size=900, special_tokens=["<unk>", "<s>", "</s>"] + bytes_tokens,
                             limit_alphabet=60, show_progress=False)
    tk.train_from_iterator(text, tr)
    tk.post_processor = processors.TemplateProcessing(
        single="<s> $A", pair="<s> $A $B:1", special_tokens=[("<s>", tk.token_to_id("<s>"))])
    toys["toy_ms"] = tk
    for name, t in toys.items():
        t.save(os.path.join(out_dir, name + ".json"))
    return toys

toks = {}
for arg in sys.argv[3:]:
    name, path = arg.split("=", 1)
    toks[name] = load(path)
toks.update(train_toys())

out = {"corpus": corpus, "tokenizers": {}, "decode_cases": {}}
for name, tk in toks.items():
    rec = []
    for s in corpus:
        e = tk.encode(s, add_special_tokens=False).ids
        e2 = tk.encode(s, add_special_tokens=True).ids
        rec.append({"ids": e, "ids_special": e2,
                    "decoded": tk.decode(e, skip_special_tokens=False),
                    "decoded_special": tk.decode(e2, skip_special_tokens=False)})
    out["tokenizers"][name] = rec
    rng = random.Random(1234)
    n = tk.get_vocab_size(with_added_tokens=True)
    vocab = tk.get_vocab(with_added_tokens=True)
    byte_ids = [vocab[k] for k in vocab if len(k) == 6 and k.startswith("<0x") and k.endswith(">")]
    added = [t for t in tk.get_added_tokens_decoder().keys()]
    cases = []
    for i in range(60):
        seq = []
        for j in range(rng.randint(1, 12)):
            r = rng.random()
            if r < 0.15 and added: seq.append(rng.choice(added))
            elif r < 0.45 and byte_ids: seq.append(rng.choice(byte_ids))
            else: seq.append(rng.randrange(n))
        cases.append({"ids": seq, "decoded": tk.decode(seq, skip_special_tokens=False)})
    out["decode_cases"][name] = cases
    print(name, "ok", len(rec), flush=True)
json.dump(out, open(os.path.join(out_dir, "extra_refs.json"), "w"), ensure_ascii=False, indent=0)
