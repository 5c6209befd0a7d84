"""Record the reference output of the toy checkpoint with transformers.

Usage: python3 make_reference.py HFDIR OUTDIR
Loads HFDIR (bfloat16 weights), upcasts to float32, eager attention, on the
CPU, and for each prompt records the greedy continuation of N_NEW tokens
(argmax of the full-sequence logits at each step, no EOS stop, no logits
processors), the top-1 minus top-2 logit margin of each step (how far each
choice is from a tie), and the decoded text. Writes OUTDIR/reference.json and
OUTDIR/logits0.f32: float32 logits of every position of the first prompt,
row-major [prompt_len, vocab]. This is what genrt (bf16 weights, f32 math)
must reproduce. Prompts with a greedy step whose margin is below MIN_MARGIN
are left out of reference.json (listed in its margin_rule), so that f32
rounding differences between implementations cannot flip a greedy choice;
the first prompt (the one of logits0.f32) is always kept."""
import json, os, sys

PROMPTS = [
    "In the beginning",
    "And the LORD said unto Moses,",
    "Blessed are the",
    "The LORD is my shepherd;",
    "And it came to pass, when",
    "For God so loved the world,",
    "Thou shalt not",
    "And Jesus answered and said unto them,",
    "Hear, O Israel:",
    "In my Father's house",
    "The heavens declare",
    "And God said, Let there be",
]
N_NEW = 40
MIN_MARGIN = 0.005


def keep_robust(recs):
    keep = [r for i, r in enumerate(recs) if i == 0 or r["min_margin"] >= MIN_MARGIN]
    dropped = [r["prompt"] for r in recs if r not in keep]
    rule = (f"candidates whose greedy steps had a top-1/top-2 logit margin below {MIN_MARGIN} were "
            "left out, so f32 rounding differences cannot flip a greedy choice: " + json.dumps(dropped))
    return keep, rule


def main():
    import torch, tokenizers, transformers
    from transformers import AutoModelForCausalLM, AutoTokenizer
    hf, out = sys.argv[1], sys.argv[2]
    os.makedirs(out, exist_ok=True)
    torch.set_num_threads(8)
    tok = AutoTokenizer.from_pretrained(hf)
    raw = tokenizers.Tokenizer.from_file(os.path.join(hf, "tokenizer.json"))
    model = AutoModelForCausalLM.from_pretrained(hf, dtype=torch.bfloat16,
                                                 attn_implementation="eager")
    model = model.float().eval()
    assert next(model.parameters()).dtype == torch.float32
    recs = []
    for pi, prompt in enumerate(PROMPTS):
        ids = tok(prompt)["input_ids"]
        assert ids == raw.encode(prompt).ids and ids[0] == 0 and ids[1] != 0, (ids, raw.encode(prompt).ids)
        seq, margins = list(ids), []
        with torch.no_grad():
            if pi == 0:
                lg = model(torch.tensor([ids])).logits[0].float().contiguous()
                with open(os.path.join(out, "logits0.f32"), "wb") as f:
                    f.write(lg.numpy().astype("<f4").tobytes())
                logits_shape = list(lg.shape)
            for _ in range(N_NEW):
                last = model(torch.tensor([seq])).logits[0, -1].float()
                top = torch.topk(last, 2)
                margins.append(round((top.values[0] - top.values[1]).item(), 5))
                seq.append(int(top.indices[0]))
            hf_gen = model.generate(torch.tensor([ids]), attention_mask=torch.ones(1, len(ids), dtype=torch.long),
                                    max_new_tokens=N_NEW, min_new_tokens=N_NEW, do_sample=False,
                                    eos_token_id=None, pad_token_id=0)[0, len(ids):].tolist()
        new = seq[len(ids):]
        rec = {"prompt": prompt, "input_ids": ids, "greedy_new_ids": new,
               "new_text": tok.decode(new, skip_special_tokens=False),
               "full_text": tok.decode(seq, skip_special_tokens=True),
               "min_margin": min(margins), "margins": margins,
               "contains_special": 0 in new, "hf_generate_agrees": hf_gen == new}
        recs.append(rec)
        print(f"--- {prompt!r} (min margin {rec['min_margin']:.4f}, generate agrees "
              f"{rec['hf_generate_agrees']}, special {rec['contains_special']})\n{rec['full_text']}", flush=True)
    recs, rule = keep_robust(recs)
    ref = {"model": "models/toy/hf (LlamaForCausalLM, bfloat16 weights; run d03_s2000)",
           "compute": "weights upcast to float32, CPU, eager attention, torch " + torch.__version__,
           "transformers": transformers.__version__, "tokenizers": tokenizers.__version__,
           "add_bos": True, "bos_id": 0, "n_new": N_NEW,
           "greedy": "argmax of full-sequence forward logits at each step; no EOS stop, no processors",
           "logits_file": "logits0.f32: float32, row-major [len(prompts[0].input_ids), vocab], prompt 0",
           "logits_shape": logits_shape, "prompts": recs,
           "margin_rule": rule}
    with open(os.path.join(out, "reference.json"), "w") as f:
        json.dump(ref, f, indent=1)


if __name__ == "__main__":
    main()
