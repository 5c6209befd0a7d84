"""Train the toy model's tokenizer: byte-level BPE (GPT-2 style pre-tokenizer
regex, no prefix space), vocabulary 2048 with one special token
"<|endoftext|>" (id 0) used as BOS, EOS and chapter separator.

Usage: python3 train_tokenizer.py CORPUS OUTDIR
Writes OUTDIR/tokenizer.json and OUTDIR/tokenizer_config.json.
Trained on the training chapters only (see kjv_data.split)."""
import json, os, sys
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
import kjv_data

VOCAB = 2048
SPECIAL = "<|endoftext|>"


def main():
    corpus, out = sys.argv[1], sys.argv[2]
    os.makedirs(out, exist_ok=True)
    train, _ = kjv_data.split(kjv_data.chapters(corpus))
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=VOCAB, min_frequency=2, special_tokens=[SPECIAL],
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
                                  show_progress=False)
    tok.train_from_iterator(train, trainer=trainer, length=len(train))
    assert tok.token_to_id(SPECIAL) == 0 and tok.get_vocab_size() == VOCAB, tok.get_vocab_size()
    # BOS in front of every encoded text (add_special_tokens=True), as in training.
    tok.post_processor = processors.TemplateProcessing(
        single=f"{SPECIAL} $A", pair=f"{SPECIAL} $A {SPECIAL} $B", special_tokens=[(SPECIAL, 0)])
    tok.save(os.path.join(out, "tokenizer.json"))
    cfg = {"tokenizer_class": "PreTrainedTokenizerFast", "bos_token": SPECIAL, "eos_token": SPECIAL,
           "add_bos_token": True, "add_eos_token": False, "clean_up_tokenization_spaces": False,
           "model_max_length": 512}
    with open(os.path.join(out, "tokenizer_config.json"), "w") as f:
        json.dump(cfg, f, indent=2)
    n_tok = sum(len(e.ids) for e in tok.encode_batch(train, add_special_tokens=False))
    n_bytes = sum(len(c.encode()) for c in train)
    enc = tok.encode("In the beginning God created the heaven and the earth.\n")
    print(f"tokenizer: vocab {tok.get_vocab_size()}, train chapters {len(train)}, "
          f"{n_tok} tokens, {n_bytes / n_tok:.2f} bytes/token")
    print("tokenizer: sample", enc.tokens, enc.ids)


if __name__ == "__main__":
    main()
