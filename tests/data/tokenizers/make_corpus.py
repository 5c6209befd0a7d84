"""Builds corpus_extra.json (strings for make_extra_refs.py) and
invalid_utf8.json (raw byte strings whose lossy UTF-8 decoding is in the
corpus, so the C tests can feed the invalid bytes and expect the ids of the
decoded string). Python's errors="replace" substitutes one U+FFFD per maximal
invalid subpart, as Rust's String::from_utf8_lossy does."""
import json
C = [
 # added / special tokens inside text, for every tokenizer
 "<|im_start|>user\nHello<|im_end|>\n<|im_start|>assistant\n",
 "<think>\nreason here\n</think>\n\nanswer", "x<|endoftext|>y", "<|endoftext|><|endoftext|>",
 "<s>Hello</s>", " <s> spaced </s> ", "<s><s>", "<unk> text",
 "<|begin_of_text|>Hi<|eot_id|>", "<|start_header_id|>user<|end_header_id|>\n\nhi",
 "<bos>text<eos>", "<start_of_turn>user\nhi<end_of_turn>\n<start_of_turn>model\n",
 "<|bos|>toy<|eos|> <|pad|>", "say hello world and hello worlds", "an lstrip and  lstrip x", "word words sword word. (word)", "a <mask> b  <mask>  c<mask>d",
 "<mask> <pad>", "<|im_start|", "<|im_start|><|im_end|", "<<s>>",
 # byte fallback: characters rare in or absent from SentencePiece vocabularies
 "𝔘𝔫𝔦𝔠𝔬𝔡𝔢 𝕄𝕒𝕥𝕙 𝒮𝒸𝓇𝒾𝓅𝓉", "🧬🫠🪿 🦩🛼", "𐀀𐀁𐀂 Linear B", "ᏣᎳᎩ ᎦᏬᏂᎯᏍᏗ", "བོད་ཡིག", "ግዕዝ ፊደል",
 "ᠮᠣᠩᠭᠣᠯ", "ꙮ ꚙ ꚛ", "\ue000\uf8ff private", "𠀀𠀁𪚥𰻞", "\U0010fffd\U000e0041",
 "ᚠᛇᚻ᛫ᛒᛦᚦ", "ⴰⵣⵓⵍ", "ꦗꦮ", "𓀀𓁐𓃰", "a\u0300\u0301\u0302\u0303\u0304b",
 # normalization (Qwen's NFC) and Unicode whitespace / digits
 "A\u030a \u212b \u1100\u1161\u11a8 e\u0301\u0323", "\ufb01le \u2126 \u00c5", "ｶﾀｶﾅ ＡＢＣ",
 "a\u3000b\u2028c\u2029d\u0085e", "x\u00a0\u00a0 y\u202f\u205fz", "\r\n\r\nline\r\n", " \n \n \n",
 "１２３ ½ ² ³ ⅷ ٣٤٥ ۱۲ १२३", "123456789012345678901234567890", "3.14e+10 -0.5 1_000",
 "IT'S DON'T WE'LL THEY'RE I'D", "it'ſ 'S 'T", "'s's's", "don't\n'll",
 # whitespace runs and mixed scripts
 "a" + " " * 40 + "b", "\t\t\t\tx", "end with spaces   ", "   ", "\n\n\n\n\n",
 "mixed日本語and English混合テキスト", "emoji🙂🙂🙂🙂🙂🙂🙂🙂", "👩🏽‍💻 🏳️‍🌈 🧑‍🤝‍🧑", "Zürich ÆØÅ ß ẞ",
 "<|im_start|>system\nYou are 🤖.<|im_end|>", "tab\tsep\tvalues\n1\t2\t3",
 "a" * 300, "ab" * 150, "🙂" * 40, "▁leading metaspace▁char", "Ġ weird Ċ chars",
]
INVALID = [b"abc\xffdef", b"\xe6\x97\xa5\xe6\x97", b"\xed\xa0\x80 surrogate", b"\xc0\x80 overlong",
           b"\xf0\x9f\x99 broken emoji \xf0\x9f\x99\x82", b"\x80\x80\x80", b"tail\xe2\x82",
           b"\xf4\x90\x80\x80 above max", b"\xc3", b"mix\xe2\x28\xa1end"]
import os
ref = os.path.join(os.path.dirname(os.path.abspath(__file__)), "../../../../shared/testdata/tokenizers/reference_encodings.json")
for x in json.load(open(ref))["corpus"]:
    if x not in C: C.append(x)
inv = []
for b in INVALID:
    s = b.decode("utf-8", errors="replace")
    if s not in C: C.append(s)
    inv.append({"hex": b.hex(), "index": C.index(s)})
json.dump(C, open("corpus_extra.json", "w"), ensure_ascii=False, indent=0)
json.dump(inv, open("invalid_utf8.json", "w"), indent=0)
print(len(C), "strings")
