"""Writes the small torch.save fixtures of tests/torch_checkpoint.test.ts to tests/fixtures/torch/.

Each .pt is written by torch.save itself (here Debian's python3-torch); the tensors it holds are
also written, contiguous and widened where numpy lacks the dtype, to <name>.expected.safetensors,
keyed by their dotted path in the checkpoint, so the test compares values without Python.
manifest.json records {version, torch, files: {name: {path: {dtype, shape}}}}: the stored dtype,
and the true shape (the safetensors helper turns a 0-d tensor into shape [1]).

  state_dict.pt   an nn.Module state_dict (OrderedDict with _metadata) plus float16, bfloat16,
                  float64, int64, int32, uint8, bool tensors, a Parameter, a 0-d tensor, a
                  transposed (non-contiguous) view and an offset view of one shared storage
  checkpoint.pt   shaped like SegFace's model_299.pt: {epoch, iteration, state_dict_backbone,
                  optimizer (AdamW state_dict after 2 steps), scheduler (MultiStepLR, whose
                  milestones are a collections.Counter), args (argparse.Namespace), device}
  cuda.pt         a tensor whose storage location is 'cuda:0'. There is no GPU here, so a
                  location tagger registered with torch.serialization.register_package (checked
                  before torch's own cpu/cuda taggers) names the storage 'cuda:0' while it stays in
                  host memory; the archive is byte-for-byte what a CUDA tensor would produce
                  apart from the location string. It loads in torch with map_location='cpu'.
  deflate.pt      cuda.pt's entries re-zipped with deflate (torch never compresses; zip readers must
                  still cope)
  big_endian.pt   cuda.pt plus archive/byteorder = 'big' (the reader must refuse it)
  no_pickle.zip   a zip with archive/version only

Run: /usr/bin/python3 tools/reference/make_torch_fixtures.py
"""
import argparse
import collections
import json
import os
import sys
import zipfile

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from safetensors_io import write_safetensors  # noqa: E402

OUT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "tests", "fixtures", "torch"))
os.makedirs(OUT, exist_ok=True)


def expected(t):
    """The values as the TS reader returns them: float32 or int64 (read back as int32), contiguous."""
    t = t.detach()
    if t.dtype in (torch.float16, torch.bfloat16, torch.float64, torch.float32):
        return t.to(torch.float32).contiguous().numpy()
    return t.to(torch.int64).contiguous().numpy()


def flatten(v, prefix, out, meta=None):
    if isinstance(v, torch.Tensor):
        out[prefix] = expected(v)
        if meta is not None:
            meta[prefix] = {"dtype": str(v.dtype).replace("torch.", ""), "shape": list(v.shape)}
    elif isinstance(v, dict):
        for k, x in v.items():
            flatten(x, f"{prefix}.{k}" if prefix else str(k), out, meta)
    elif isinstance(v, (list, tuple)):
        for i, x in enumerate(v):
            flatten(x, f"{prefix}.{i}" if prefix else str(i), out, meta)
    return out


MANIFEST = {"version": 1, "torch": torch.__version__, "files": {}}


def save(name, obj):
    path = os.path.join(OUT, name + ".pt")
    torch.save(obj, path)
    meta = MANIFEST["files"][name] = {}
    write_safetensors(os.path.join(OUT, name + ".expected.safetensors"), flatten(obj, "", {}, meta))
    back = torch.load(path, map_location="cpu")
    assert flatten(back, "", {}).keys() == flatten(obj, "", {}).keys()
    return path


class Block(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.proj = torch.nn.Linear(3, 2)
        self.norm = torch.nn.LayerNorm(2)
        coords = torch.stack(torch.meshgrid(torch.arange(2), torch.arange(2), indexing="ij")).flatten(1)
        rel = (coords[:, :, None] - coords[:, None, :]).permute(1, 2, 0) + 1
        self.register_buffer("relative_position_index", rel[..., 0] * 3 + rel[..., 1])  # int64 (4, 4)


def formula(n, scale=0.25, shift=-1.0):
    return torch.arange(n, dtype=torch.float32) * scale + shift


torch.manual_seed(0)

# ---- state_dict.pt
m = Block()
with torch.no_grad():
    m.proj.weight.copy_(formula(6).reshape(2, 3))
    m.proj.bias.copy_(torch.tensor([0.5, -0.5]))
sd = m.state_dict()
base = formula(12, 0.5, -3.0).reshape(3, 4)
sd["half"] = torch.tensor([1.0, -2.0, 0.333251953125, 65504.0, 6e-8], dtype=torch.float16)
sd["bf16"] = torch.tensor([1.0, -3.0, 0.1, 3.0e38], dtype=torch.bfloat16)
sd["f64"] = torch.tensor([[0.1, -1e-300], [1e10, 2.5]], dtype=torch.float64)
sd["i32"] = torch.tensor([-7, 0, 2147483647], dtype=torch.int32)
sd["u8"] = torch.tensor([0, 7, 255], dtype=torch.uint8)
sd["mask"] = torch.tensor([[True, False], [False, True]])
sd["scalar"] = torch.tensor(3.5)
sd["param"] = torch.nn.Parameter(formula(4, 1.0, 1.0))
sd["base"] = base
sd["transposed"] = base.t()  # (4, 3), stride (1, 4): non-contiguous, shares base's storage
sd["row1"] = base[1]  # storage offset 4
save("state_dict", sd)

# ---- checkpoint.pt (model_299.pt's layout, tiny)
model = Block()
opt = torch.optim.AdamW(model.parameters(), lr=1e-3, betas=(0.9, 0.999), weight_decay=0.05)
sched = torch.optim.lr_scheduler.MultiStepLR(opt, milestones=[100, 200, 200], gamma=0.1)
x = formula(6).reshape(2, 3)
for _ in range(2):
    opt.zero_grad()
    model.norm(model.proj(x)).pow(2).sum().backward()
    opt.step()
    sched.step()
ckpt = {
    "epoch": 299,
    "iteration": 123456789012,
    "state_dict_backbone": model.state_dict(),
    "optimizer": opt.state_dict(),
    "scheduler": sched.state_dict(),
    "args": argparse.Namespace(model="swin_base", lr=1e-4, dataset="lapa"),
    "device": torch.device("cuda", 0),
}
assert isinstance(ckpt["scheduler"]["milestones"], collections.Counter)
save("checkpoint", ckpt)

# ---- cuda.pt
FAKE_CUDA = set()


def fake_cuda_tag(obj):
    return "cuda:0" if obj.data_ptr() in FAKE_CUDA else None


def never_restore(obj, location):
    return None  # fall through to torch's own restorers (cpu with map_location='cpu')


torch.serialization.register_package(5, fake_cuda_tag, never_restore)
on_gpu = formula(6, 2.0, 0.0).reshape(2, 3)
FAKE_CUDA.add(on_gpu.data_ptr())
cuda_path = save("cuda", {"w": on_gpu, "note": "saved with location cuda:0"})
FAKE_CUDA.clear()
with zipfile.ZipFile(cuda_path) as z:
    pkl = z.read(next(n for n in z.namelist() if n.endswith("/data.pkl")))
    assert b"cuda:0" in pkl, "the location tagger did not take effect"
    entries = [(i.filename, z.read(i.filename)) for i in z.infolist()]

# ---- deflate.pt, big_endian.pt, no_pickle.zip (fixed timestamps, so reruns give the same bytes)
def info(name, method=zipfile.ZIP_STORED):
    i = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
    i.compress_type = method
    return i


with zipfile.ZipFile(os.path.join(OUT, "deflate.pt"), "w") as z:
    for n, b in entries:
        z.writestr(info(n, zipfile.ZIP_DEFLATED), b)
assert torch.load(os.path.join(OUT, "deflate.pt"), map_location="cpu")["w"].equal(on_gpu)
folder = entries[0][0].split("/")[0]
with zipfile.ZipFile(os.path.join(OUT, "big_endian.pt"), "w") as z:
    for n, b in entries:
        z.writestr(info(n), b)
    z.writestr(info(folder + "/byteorder"), "big")
with zipfile.ZipFile(os.path.join(OUT, "no_pickle.zip"), "w") as z:
    z.writestr(info("archive/version"), "3\n")

with open(os.path.join(OUT, "manifest.json"), "w") as f:
    # one line per file, so a diff after regeneration names the fixture
    f.write(json.dumps({k: v for k, v in MANIFEST.items() if k != "files"})[:-1] + ', "files": {\n')
    f.write(",\n".join(f"  {json.dumps(k)}: {json.dumps(v, separators=(',', ':'))}" for k, v in MANIFEST["files"].items()))
    f.write("\n}}\n")

total = sum(os.path.getsize(os.path.join(OUT, f)) for f in os.listdir(OUT))
print(f"wrote {len(os.listdir(OUT))} files, {total} bytes, to {OUT} (torch {torch.__version__}, numpy {np.__version__})")
