"""Independent check of models/toy/reference.json and logits0.f32 against the
shipped checkpoint: a plain NumPy Llama forward pass (float64 math on the
bfloat16 weights), written from the architecture, not from transformers.
Usage: /usr/bin/python3 scripts/toy/check_reference.py [models/toy]
Needs only NumPy (Debian python3-numpy). Exit status 0 when every greedy id
matches and the logits agree to 1e-3."""
import json, os, struct, sys
import numpy as np


def load_safetensors(path):
    with open(path, "rb") as f:
        data = f.read()
    n = struct.unpack("<Q", data[:8])[0]
    head = json.loads(data[8:8 + n])
    out = {}
    for name, t in head.items():
        if name == "__metadata__":
            continue
        a, b = t["data_offsets"]
        raw = data[8 + n + a:8 + n + b]
        assert t["dtype"] == "BF16", (name, t["dtype"])
        u16 = np.frombuffer(raw, dtype="<u2").astype(np.uint32) << 16
        out[name] = u16.view(np.float32).astype(np.float64).reshape(t["shape"])
    return out


class Llama:
    def __init__(self, d):
        c = json.load(open(os.path.join(d, "config.json")))
        self.w = load_safetensors(os.path.join(d, "model.safetensors"))
        self.L, self.H, self.KV = c["num_hidden_layers"], c["num_attention_heads"], c["num_key_value_heads"]
        self.hd = c.get("head_dim") or c["hidden_size"] // self.H
        self.eps = c["rms_norm_eps"]
        theta = c.get("rope_theta") or c["rope_parameters"]["rope_theta"]
        self.inv_freq = 1.0 / theta ** (np.arange(0, self.hd, 2) / self.hd)
        assert c["tie_word_embeddings"] and "lm_head.weight" not in self.w

    def norm(self, x, w):
        return x / np.sqrt((x * x).mean(-1, keepdims=True) + self.eps) * w

    def rope(self, x, pos):  # x [T, heads, hd]; pairs (i, i + hd/2)
        ang = pos[:, None] * self.inv_freq[None, :]
        cos, sin = np.cos(ang)[:, None, :], np.sin(ang)[:, None, :]
        h = self.hd // 2
        x1, x2 = x[..., :h], x[..., h:]
        return np.concatenate([x1 * cos - x2 * sin, x2 * cos + x1 * sin], -1)

    def logits(self, ids):
        w, T = self.w, len(ids)
        x = w["model.embed_tokens.weight"][ids]
        pos = np.arange(T, dtype=np.float64)
        mask = np.triu(np.full((T, T), -np.inf), 1)
        for l in range(self.L):
            p = f"model.layers.{l}."
            h = self.norm(x, w[p + "input_layernorm.weight"])
            q = (h @ w[p + "self_attn.q_proj.weight"].T).reshape(T, self.H, self.hd)
            k = (h @ w[p + "self_attn.k_proj.weight"].T).reshape(T, self.KV, self.hd)
            v = (h @ w[p + "self_attn.v_proj.weight"].T).reshape(T, self.KV, self.hd)
            q, k = self.rope(q, pos), self.rope(k, pos)
            rep = self.H // self.KV
            k, v = np.repeat(k, rep, 1), np.repeat(v, rep, 1)
            s = np.einsum("thd,shd->hts", q, k) / np.sqrt(self.hd) + mask
            s = np.exp(s - s.max(-1, keepdims=True))
            s /= s.sum(-1, keepdims=True)
            o = np.einsum("hts,shd->thd", s, v).reshape(T, -1)
            x = x + o @ w[p + "self_attn.o_proj.weight"].T
            h = self.norm(x, w[p + "post_attention_layernorm.weight"])
            g = h @ w[p + "mlp.gate_proj.weight"].T
            u = h @ w[p + "mlp.up_proj.weight"].T
            x = x + (g / (1 + np.exp(-g)) * u) @ w[p + "mlp.down_proj.weight"].T
        x = self.norm(x, w["model.norm.weight"])
        return x @ w["model.embed_tokens.weight"].T


def main():
    d = sys.argv[1] if len(sys.argv) > 1 else "models/toy"
    m = Llama(os.path.join(d, "hf"))
    ref = json.load(open(os.path.join(d, "reference.json")))
    ok = True
    p0 = ref["prompts"][0]
    want = np.fromfile(os.path.join(d, "logits0.f32"), dtype="<f4").reshape(ref["logits_shape"])
    err = np.abs(m.logits(p0["input_ids"]) - want).max()
    print(f"logits0: max |numpy - transformers| = {err:.2e}")
    ok &= bool(err < 1e-3)
    for p in ref["prompts"]:
        seq = list(p["input_ids"])
        for _ in range(len(p["greedy_new_ids"])):
            seq.append(int(np.argmax(m.logits(seq)[-1])))
        same = seq[len(p["input_ids"]):] == p["greedy_new_ids"]
        ok &= same
        print(f"{'ok  ' if same else 'DIFF'} {p['prompt']!r}")
    print("check_reference:", "all match" if ok else "MISMATCH")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
