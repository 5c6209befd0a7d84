"""Train the toy Llama model on the KJV corpus (one GPU, PyTorch).

Usage: python3 train.py --corpus kjv.txt --tok TOKDIR --out OUTDIR [settings]

Model: LlamaForCausalLM, hidden 256, 6 layers, 8 query heads, 2 KV heads
(head_dim 32), SwiGLU 512, vocabulary 2048, tied embeddings, RoPE theta 1e4,
max positions 512; 3,869,952 parameters, 7.74 MB in bfloat16.
Data: each chapter is "<|endoftext|>" + its text; a training sample is a
random window of SEQ tokens of that stream with a BOS in front (the inputs are
[BOS, w0 .. w_{SEQ-2}], the targets w0 .. w_{SEQ-1}), so position 0 is always
BOS, as at inference. Validation: non-overlapping windows of the held-out
chapters, built the same way.
Training: fp32 master weights, bf16 autocast, AdamW (0.9, 0.95), weight decay
on matrices, linear warm-up then cosine to 10% of the peak rate, gradient
clipping at 1.0, optional residual/embedding dropout (forward hooks, training
only: the saved model is a plain LlamaForCausalLM).
Writes OUTDIR/hf (the weights rounded to bfloat16, config dtype bfloat16, and
the tokenizer files) and OUTDIR/metrics.json (settings, loss curve, losses)."""
import argparse, json, math, os, shutil, time
import torch
import torch.nn.functional as F
from tokenizers import Tokenizer
from transformers import GenerationConfig, LlamaConfig, LlamaForCausalLM
import kjv_data

BOS = 0


def model_config(vocab):
    return LlamaConfig(vocab_size=vocab, hidden_size=256, intermediate_size=512,
                       num_hidden_layers=6, num_attention_heads=8, num_key_value_heads=2,
                       max_position_embeddings=512, rope_theta=10000.0, rms_norm_eps=1e-5,
                       tie_word_embeddings=True, bos_token_id=BOS, eos_token_id=BOS,
                       attention_bias=False, mlp_bias=False, hidden_act="silu")


def stream(tok, chs):
    ids = []
    for e in tok.encode_batch(chs, add_special_tokens=False):
        ids.append(BOS)
        ids.extend(e.ids)
    return torch.tensor(ids, dtype=torch.long)


def with_bos(windows):
    """windows [B, S] -> inputs [BOS, w0..w_{S-2}], targets w0..w_{S-1}."""
    bos = torch.full_like(windows[:, :1], BOS)
    return torch.cat([bos, windows[:, :-1]], 1), windows


def add_dropout(model, p):
    if p <= 0:
        return
    def hook(mod, inp, out):
        return F.dropout(out, p, mod.training)
    model.model.embed_tokens.register_forward_hook(hook)
    for layer in model.model.layers:
        layer.self_attn.o_proj.register_forward_hook(hook)
        layer.mlp.down_proj.register_forward_hook(hook)


def loss_of(model, x, y):
    with torch.autocast("cuda", dtype=torch.bfloat16):
        logits = model(input_ids=x).logits
    return F.cross_entropy(logits.float().reshape(-1, logits.shape[-1]), y.reshape(-1))


@torch.no_grad()
def evaluate(model, windows, batch=64):
    """Mean loss (nats/token) over windows [N, S]."""
    was = model.training
    model.eval()
    tot, n = 0.0, 0
    for i in range(0, windows.shape[0], batch):
        x, y = with_bos(windows[i:i + batch])
        tot += loss_of(model, x, y).item() * y.numel()
        n += y.numel()
    model.train(was)
    return tot / n


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--corpus", required=True)
    ap.add_argument("--tok", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--steps", type=int, default=3000)
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--seq", type=int, default=256)
    ap.add_argument("--lr", type=float, default=3e-3)
    ap.add_argument("--min-lr-frac", type=float, default=0.1)
    ap.add_argument("--warmup", type=int, default=200)
    ap.add_argument("--wd", type=float, default=0.1)
    ap.add_argument("--dropout", type=float, default=0.1)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--eval-every", type=int, default=250)
    ap.add_argument("--time-limit", type=float, default=1e9,
                    help="seconds; fewer steps are run (and logged) if the measured speed needs it")
    a = ap.parse_args()
    os.makedirs(a.out, exist_ok=True)
    t_start = time.time()
    torch.manual_seed(a.seed)
    torch.backends.cuda.matmul.allow_tf32 = True
    dev = "cuda"
    tag = os.path.basename(a.out.rstrip("/"))

    tok = Tokenizer.from_file(os.path.join(a.tok, "tokenizer.json"))
    train_chs, val_chs = kjv_data.split(kjv_data.chapters(a.corpus))
    tr, va = stream(tok, train_chs).to(dev), stream(tok, val_chs)
    nva = (va.numel() // a.seq) * a.seq
    val_windows = va[:nva].view(-1, a.seq).to(dev)
    g = torch.Generator(device="cpu").manual_seed(1)
    offs = torch.randint(0, tr.numel() - a.seq, (val_windows.shape[0],), generator=g).to(dev)
    ar = torch.arange(a.seq, device=dev)
    train_eval_windows = tr[offs[:, None] + ar]
    print(f"[{tag}] data: train {tr.numel()} tokens ({len(train_chs)} chapters), "
          f"val {va.numel()} tokens ({len(val_chs)} chapters)", flush=True)

    cfg = model_config(tok.get_vocab_size())
    cfg._attn_implementation = "sdpa"
    model = LlamaForCausalLM(cfg).to(dev)
    n_params = sum(p.numel() for p in model.parameters())
    add_dropout(model, a.dropout)
    decay = [p for p in model.parameters() if p.dim() >= 2]
    no_decay = [p for p in model.parameters() if p.dim() < 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": a.wd},
                             {"params": no_decay, "weight_decay": 0.0}],
                            lr=a.lr, betas=(0.9, 0.95), eps=1e-8, fused=True)
    print(f"[{tag}] params {n_params}, settings {vars(a)}", flush=True)

    steps = a.steps
    def lr_at(s):
        if s < a.warmup:
            return a.lr * (s + 1) / a.warmup
        t = min(1.0, (s - a.warmup) / max(1, steps - a.warmup))
        return a.lr * (a.min_lr_frac + (1 - a.min_lr_frac) * 0.5 * (1 + math.cos(math.pi * t)))

    gen = torch.Generator(device=dev).manual_seed(a.seed)
    curve, losses = [], []
    model.train()
    t0 = time.time()
    t10 = None
    s = 0
    while s < steps:
        for grp in opt.param_groups:
            grp["lr"] = lr_at(s)
        o = torch.randint(0, tr.numel() - a.seq, (a.batch,), device=dev, generator=gen)
        x, y = with_bos(tr[o[:, None] + ar])
        loss = loss_of(model, x, y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        losses.append(loss.detach())
        s += 1
        if s == 10:
            torch.cuda.synchronize(); t10 = time.time()
        if s == 60:
            torch.cuda.synchronize()
            dt = (time.time() - t10) / 50
            left = a.time_limit - (time.time() - t_start) - 30  # 30 s for evals and saving
            if (steps - s) * dt > left:
                new = s + max(0, int(left / dt))
                print(f"[{tag}] {dt * 1e3:.1f} ms/step: cutting steps {steps} -> {new} "
                      f"to fit --time-limit", flush=True)
                steps = max(new, a.warmup + 1)
        if s % 50 == 0 or s == steps:
            tl = torch.stack(losses).mean().item()
            losses = []
            rec = {"step": s, "tokens": s * a.batch * a.seq, "train_loss": round(tl, 4),
                   "lr": lr_at(s - 1), "elapsed_s": round(time.time() - t0, 1)}
            if s % a.eval_every == 0 or s == steps:
                rec["val_loss"] = round(evaluate(model, val_windows), 4)
            curve.append(rec)
            print(f"[{tag}] step {s:5d} tok {rec['tokens'] / 1e6:7.1f}M loss {tl:.4f} "
                  f"lr {rec['lr']:.2e} " + (f"val {rec['val_loss']:.4f} " if "val_loss" in rec else "")
                  + f"{rec['elapsed_s']:.0f}s", flush=True)
    torch.cuda.synchronize()
    train_time = time.time() - t0

    final = {"train_loss_fp32": evaluate(model, train_eval_windows),
             "val_loss_fp32": evaluate(model, val_windows)}
    model = model.to(torch.bfloat16)           # the shipped weights: rounded to bf16
    model.float()
    final["train_loss_bf16_weights"] = evaluate(model, train_eval_windows)
    final["val_loss_bf16_weights"] = evaluate(model, val_windows)
    model = model.to(torch.bfloat16).cpu()
    model.generation_config = GenerationConfig(bos_token_id=BOS, eos_token_id=BOS,
                                               pad_token_id=BOS, do_sample=False)
    hf = os.path.join(a.out, "hf")
    model.save_pretrained(hf, safe_serialization=True)
    for f in ("tokenizer.json", "tokenizer_config.json"):
        shutil.copy(os.path.join(a.tok, f), os.path.join(hf, f))
    m = {"tag": tag, "settings": vars(a), "steps_run": steps, "params": n_params,
         "tokens_seen": steps * a.batch * a.seq, "train_tokens": tr.numel(),
         "val_tokens": va.numel(), "epochs": steps * a.batch * a.seq / tr.numel(),
         "train_time_s": round(train_time, 1), "total_time_s": round(time.time() - t_start, 1),
         "gpu": torch.cuda.get_device_name(), "torch": torch.__version__,
         **{k: round(v, 4) for k, v in final.items()}, "curve": curve}
    with open(os.path.join(a.out, "metrics.json"), "w") as f:
        json.dump(m, f, indent=1)
    print(f"[{tag}] done: {steps} steps, {m['epochs']:.1f} epochs, {train_time:.0f}s; "
          + " ".join(f"{k} {v:.4f}" for k, v in final.items()), flush=True)


if __name__ == "__main__":
    main()
