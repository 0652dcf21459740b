"""SegFace in PyTorch, written from the official code's behaviour as docs/segface-model.md states it, as the reference for the engine.

The backbone is torchvision's Swin (V1 swin_t/s/b, V2 swinv2_t/s/b) exactly as the official code
uses it (``backbone.0`` = ``features``, ``backbone.1`` = the final norm, unused); the neck,
positional encoding, two-way transformer and head follow the spec. Parameter names equal the
official state_dict keys. Dimensions of the head are configurable so that tests can use a tiny
model; the official configs use 256/2048/8.
"""
from dataclasses import dataclass, field
import math

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from torchvision.models import swin_transformer as tv_swin

CELEB_TOKENS = ["background", "neck", "face", "cloth", "rightear", "leftear", "rightbro", "leftbro",
                "righteye", "lefteye", "nose", "innermouth", "lowerlip", "upperlip", "hair", "glass",
                "hat", "earring", "necklace"]
LAPA_TOKENS = ["background", "face", "leftbro", "rightbro", "lefteye", "righteye", "nose", "upperlip",
               "innermouth", "lowerlip", "hair"]


@dataclass
class Config:
    backbone: str = "swin_base"          # swin_t | swin_s | swin_base | swinv2_t | swinv2_s | swinv2_base | mini | tiny
    dataset: str = "celeb"               # celeb (19 classes) | lapa | helen (11)
    embed: int = 128
    depths: list = field(default_factory=lambda: [2, 2, 18, 2])
    heads: list = field(default_factory=lambda: [4, 8, 16, 32])
    window: int = 7
    v2: bool = False
    dim: int = 256                       # neck / decoder width
    mlp_dim: int = 2048
    decoder_heads: int = 8
    stochastic_depth: float = 0.5

    @property
    def tokens(self):
        return CELEB_TOKENS if self.dataset == "celeb" else LAPA_TOKENS

    @property
    def stage_dims(self):
        return [self.embed * 2 ** i for i in range(4)]


CONFIGS = {
    "swin_t": dict(embed=96, depths=[2, 2, 6, 2], heads=[3, 6, 12, 24], stochastic_depth=0.2),
    "swin_s": dict(embed=96, depths=[2, 2, 18, 2], heads=[3, 6, 12, 24], stochastic_depth=0.3),
    "swin_base": dict(embed=128, depths=[2, 2, 18, 2], heads=[4, 8, 16, 32], stochastic_depth=0.5),
    "swinv2_t": dict(embed=96, depths=[2, 2, 6, 2], heads=[3, 6, 12, 24], window=8, v2=True, stochastic_depth=0.2),
    "swinv2_s": dict(embed=96, depths=[2, 2, 18, 2], heads=[3, 6, 12, 24], window=8, v2=True, stochastic_depth=0.3),
    "swinv2_base": dict(embed=128, depths=[2, 2, 18, 2], heads=[4, 8, 16, 32], window=8, v2=True, stochastic_depth=0.5),
    # Test-only: every code path of swin_base (padding, shift on and off, four stages) at a size whose
    # weights and gradients fit in a small committed fixture.
    # The default synthetic-training recipe's backbone (src/train/presets.ts): twice tiny's widths, window 8.
    "mini": dict(embed=32, depths=[2, 2, 2, 2], heads=[1, 2, 4, 8], window=8, dim=128, mlp_dim=256, decoder_heads=4, stochastic_depth=0.1),
    "tiny": dict(embed=16, depths=[2, 2, 2, 2], heads=[1, 2, 4, 8], dim=32, mlp_dim=64, decoder_heads=2, stochastic_depth=0.2),
}


def make_config(backbone, dataset="celeb"):
    if backbone not in CONFIGS:
        raise SystemExit(f"unknown backbone {backbone}; known: {', '.join(CONFIGS)}")
    return Config(backbone=backbone, dataset=dataset, **CONFIGS[backbone])


# ---- head ----------------------------------------------------------------------------------------

class Attention(nn.Module):
    """out_proj(softmax(Q Kᵀ / sqrt(hd)) V) with Q, K, V projected to `internal` channels."""

    def __init__(self, dim, heads, internal):
        super().__init__()
        self.heads = heads
        self.q_proj = nn.Linear(dim, internal)
        self.k_proj = nn.Linear(dim, internal)
        self.v_proj = nn.Linear(dim, internal)
        self.out_proj = nn.Linear(internal, dim)

    def forward(self, q, k, v):
        b = q.shape[0]
        split = lambda t: t.reshape(b, t.shape[1], self.heads, -1).transpose(1, 2)
        q, k, v = split(self.q_proj(q)), split(self.k_proj(k)), split(self.v_proj(v))
        attn = torch.softmax(q @ k.transpose(2, 3) / math.sqrt(q.shape[-1]), dim=-1)
        out = (attn @ v).transpose(1, 2).reshape(b, q.shape[2], -1)
        return self.out_proj(out)


class MLPBlock(nn.Module):
    def __init__(self, dim, hidden):
        super().__init__()
        self.lin1 = nn.Linear(dim, hidden)
        self.lin2 = nn.Linear(hidden, dim)

    def forward(self, x):
        return self.lin2(F.relu(self.lin1(x)))


class TwoWayLayer(nn.Module):
    def __init__(self, cfg, first):
        super().__init__()
        d = cfg.dim
        self.first = first
        self.self_attn = Attention(d, cfg.decoder_heads, d)
        self.norm1 = nn.LayerNorm(d)
        self.cross_attn_token_to_image = Attention(d, cfg.decoder_heads, d // 2)
        self.norm2 = nn.LayerNorm(d)
        self.mlp = MLPBlock(d, cfg.mlp_dim)
        self.norm3 = nn.LayerNorm(d)
        self.norm4 = nn.LayerNorm(d)
        self.cross_attn_image_to_token = Attention(d, cfg.decoder_heads, d // 2)

    def forward(self, queries, keys, query_pe, key_pe):
        if self.first:
            queries = self.self_attn(queries, queries, queries)
        else:
            q = queries + query_pe
            queries = queries + self.self_attn(q, q, queries)
        queries = self.norm1(queries)
        queries = self.norm2(queries + self.cross_attn_token_to_image(queries + query_pe, keys + key_pe, keys))
        queries = self.norm3(queries + self.mlp(queries))
        keys = self.norm4(keys + self.cross_attn_image_to_token(keys + key_pe, queries + query_pe, queries))
        return queries, keys


class TwoWayTransformer(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.layers = nn.ModuleList([TwoWayLayer(cfg, i == 0) for i in range(2)])
        self.final_attn_token_to_image = Attention(cfg.dim, cfg.decoder_heads, cfg.dim // 2)
        self.norm_final_attn = nn.LayerNorm(cfg.dim)


class LayerNorm2d(nn.Module):
    def __init__(self, c, eps=1e-6):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(c))
        self.bias = nn.Parameter(torch.zeros(c))
        self.eps = eps

    def forward(self, x):
        u = x.mean(1, keepdim=True)
        s = (x - u).pow(2).mean(1, keepdim=True)
        return self.weight[:, None, None] * ((x - u) / torch.sqrt(s + self.eps)) + self.bias[:, None, None]


class HyperMLP(nn.Module):
    def __init__(self, d, out):
        super().__init__()
        self.layers = nn.ModuleList([nn.Linear(d, d), nn.Linear(d, d), nn.Linear(d, out)])

    def forward(self, x):
        for i, layer in enumerate(self.layers):
            x = layer(x)
            if i < 2:
                x = F.relu(x)
        return x


class FaceDecoder(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        d = cfg.dim
        self.transformer = TwoWayTransformer(cfg)
        for name in cfg.tokens:
            setattr(self, f"{name}_token", nn.Embedding(1, d))
        self.token_names = cfg.tokens
        self.output_upscaling = nn.Sequential(
            nn.ConvTranspose2d(d, d // 4, 2, 2), LayerNorm2d(d // 4), nn.GELU(),
            nn.ConvTranspose2d(d // 4, d // 8, 2, 2), nn.GELU())
        self.output_hypernetwork_mlps = HyperMLP(d, d // 8)


class PositionEmbeddingRandom(nn.Module):
    def __init__(self, feats):
        super().__init__()
        self.register_buffer("positional_encoding_gaussian_matrix", torch.randn(2, feats))

    def forward(self, h, w):
        grid = torch.ones(h, w, dtype=self.positional_encoding_gaussian_matrix.dtype)
        y = (grid.cumsum(0) - 0.5) / h
        x = (grid.cumsum(1) - 0.5) / w
        c = (2 * torch.stack([x, y], -1) - 1) @ self.positional_encoding_gaussian_matrix * (2 * math.pi)
        return torch.cat([torch.sin(c), torch.cos(c)], -1).permute(2, 0, 1)  # (C, h, w)


class NeckMLP(nn.Module):
    def __init__(self, cin, d):
        super().__init__()
        self.proj = nn.Linear(cin, d)


def make_backbone(cfg):
    block = tv_swin.SwinTransformerBlockV2 if cfg.v2 else tv_swin.SwinTransformerBlock
    merge = tv_swin.PatchMergingV2 if cfg.v2 else tv_swin.PatchMerging
    swin = tv_swin.SwinTransformer(patch_size=[4, 4], embed_dim=cfg.embed, depths=cfg.depths, num_heads=cfg.heads,
                                   window_size=[cfg.window, cfg.window], stochastic_depth_prob=cfg.stochastic_depth,
                                   block=block, downsample_layer=merge)
    return nn.Sequential(swin.features, swin.norm)


class SegFace(nn.Module):
    """Activations are recorded in ``self.acts`` (name -> tensor) when ``record`` is set."""

    def __init__(self, cfg):
        super().__init__()
        self.cfg = cfg
        self.backbone = make_backbone(cfg)
        self.pe_layer = PositionEmbeddingRandom(cfg.dim // 2)
        self.face_decoder = FaceDecoder(cfg)
        self.linear_c = nn.ModuleList([NeckMLP(c, cfg.dim) for c in cfg.stage_dims])
        self.linear_fuse = nn.Conv2d(4 * cfg.dim, cfg.dim, 1, bias=False)
        self.acts = {}
        self.record = False

    def keep(self, name, t):
        if self.record:
            self.acts[name] = t.detach().clone()

    def forward(self, x, landmarks=None):
        """x (B,3,H,W); landmarks (B,5,2) float64 pixel (x, y): LaPa's warped forward (SegFaceLapa)."""
        if landmarks is None:
            return self.net(x)
        if self.cfg.dataset != "lapa":
            raise ValueError(f"landmarks given to a {self.cfg.dataset} model; only LaPa warps")
        b, _, hgt, wid = x.shape
        grid, inv = lapa_warp_grids(landmarks, hgt, hgt, wid)
        self.keep("warp.grid", grid)
        self.keep("warp.inv_grid", inv)
        x = F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
        self.keep("warp.image", x)
        logits = F.grid_sample(self.net(x), inv, mode="bilinear", padding_mode="zeros", align_corners=False)
        self.keep("warp.logits", logits)
        return logits

    def net(self, x):
        features = self.backbone[0]
        stages = []
        h = x
        for i, layer in enumerate(features):
            if i % 2 == 1:  # a stage: its blocks one by one
                for j, blk in enumerate(layer):
                    h = blk(h)
                    self.keep(f"backbone.0.{i}.{j}", h)
                stages.append(h)
            else:
                h = layer(h)
                self.keep(f"backbone.0.{i}", h)
        self.backbone[1](h)  # the official forward runs the final norm and discards it
        b = x.shape[0]
        h1, w1 = stages[0].shape[1:3]
        maps = []
        for i, (s, mlp) in enumerate(zip(stages, self.linear_c)):
            hi, wi = s.shape[1:3]
            t = mlp.proj(s.reshape(b, hi * wi, -1)).permute(0, 2, 1).reshape(b, -1, hi, wi)
            t = F.interpolate(t, size=(h1, w1), mode="bilinear", align_corners=False)
            self.keep(f"neck.{i}", t)
            maps.append(t)
        fused = self.linear_fuse(torch.cat(maps[::-1], 1))
        self.keep("neck.fused", fused)
        pe = self.pe_layer(h1, w1).unsqueeze(0)
        self.keep("pe", pe)
        return self.decode(fused, pe)

    def decode(self, fused, pe):
        dec = self.face_decoder
        b, c, h, w = fused.shape
        tokens = torch.cat([getattr(dec, f"{n}_token").weight for n in dec.token_names], 0)
        tokens = tokens.unsqueeze(0).expand(b, -1, -1)
        keys = fused.flatten(2).permute(0, 2, 1)
        kpe = pe.flatten(2).permute(0, 2, 1)
        queries = tokens
        tr = dec.transformer
        for i, layer in enumerate(tr.layers):
            queries, keys = layer(queries, keys, tokens, kpe)
            self.keep(f"decoder.layers.{i}.queries", queries)
            self.keep(f"decoder.layers.{i}.keys", keys)
        attn = tr.final_attn_token_to_image(queries + tokens, keys + kpe, keys)
        hs = tr.norm_final_attn(queries + attn)
        self.keep("decoder.hs", hs)
        src = keys.transpose(1, 2).reshape(b, c, h, w)
        up = dec.output_upscaling(src)
        self.keep("decoder.upscaled", up)
        hyper = dec.output_hypernetwork_mlps(hs)
        self.keep("decoder.hyper", hyper)
        bu, cu, hu, wu = up.shape
        logits = (hyper @ up.reshape(bu, cu, hu * wu)).reshape(bu, -1, hu, wu)
        self.keep("logits", logits)
        return logits


# ---- LaPa: RoI tanh warp onto the 5-point template ----------------------------------------------

LAPA_TEMPLATE_512 = np.array([[196, 226], [316, 226], [256, 286], [220, 360.4], [292, 360.4]], dtype=np.float64)


def similarity_to_template(src, res):
    """Least-squares similarity (3x3, float64) mapping src (5,2) onto T = P*(res-1)/512."""
    dst = LAPA_TEMPLATE_512 * (res - 1) / 512
    src = np.asarray(src, dtype=np.float64)
    ms, md = src.mean(0), dst.mean(0)
    s, d = src - ms, dst - md
    norm = (s ** 2).sum()
    a = (d * s).sum() / norm
    b = (d[:, 0] * s[:, 1] - d[:, 1] * s[:, 0]).sum() / norm
    tx = md[0] - a * ms[0] - b * ms[1]
    ty = md[1] + b * ms[0] - a * ms[1]
    return np.array([[a, b, tx], [-b, a, ty], [0, 0, 1]], dtype=np.float64)


def _roi(c, expand):
    """RoI tanh warping of normalised coordinates: |c| <= 0.2 unchanged, beyond that expanded with
    atanh (the warp grid) or compressed with tanh (the inverse grid)."""
    if expand:
        hi = torch.atanh(torch.clamp((c - 0.2) / 0.8, -0.999, 0.999)) * 0.8 + 0.2
        lo = torch.atanh(torch.clamp((c + 0.2) / 0.8, -0.999, 0.999)) * 0.8 - 0.2
    else:
        hi = torch.tanh((c - 0.2) / 0.8) * 0.8 + 0.2
        lo = torch.tanh((c + 0.2) / 0.8) * 0.8 - 0.2
    return torch.where(c > 0.2, hi, torch.where(c < -0.2, lo, c))


def _pixels(h, w):
    """(h, w, 3) homogeneous integer pixel coordinates (x, y, 1), float64."""
    ys, xs = torch.meshgrid(torch.arange(h, dtype=torch.float64), torch.arange(w, dtype=torch.float64), indexing="ij")
    return torch.stack([xs, ys, torch.ones_like(xs)], -1)


def lapa_warp_grids(landmarks, res, h, w):
    """Warp grids (B,res,res,2) and inverse grids (B,h,w,2), float32, for (B,5,2) landmarks.

    Built in float64 (then rounded once) with the spec's formulas: warp: c = pixel/res*2-1, RoI
    atanh, p = (c+1)/2*res, q = M^-1 p, grid = q/(w,h)*2-1; inverse: p = M pixel, c = p/res*2-1, RoI
    tanh, grid = ((c+1)/2*res)/res*2-1 (the official round trip).
    """
    grids, invs = [], []
    for lm in np.asarray(landmarks, dtype=np.float64):
        m = torch.from_numpy(similarity_to_template(lm, res))
        c = _roi(_pixels(res, res)[..., :2] / res * 2 - 1, expand=True)
        p = torch.cat([(c + 1) / 2 * res, torch.ones(res, res, 1, dtype=torch.float64)], -1)
        q = p @ torch.linalg.inv(m).T
        q = q[..., :2] / q[..., 2:]
        grids.append(q / torch.tensor([w, h], dtype=torch.float64) * 2 - 1)
        p = _pixels(h, w) @ m.T
        c = _roi(p[..., :2] / p[..., 2:] / res * 2 - 1, expand=False)
        invs.append(((c + 1) / 2 * res) / res * 2 - 1)
    return torch.stack(grids).float(), torch.stack(invs).float()


def seg_losses(logits, labels):
    """0.5·CE + 0.5·Dice as train.py computes them."""
    ce = F.cross_entropy(logits, labels.long())
    p = torch.softmax(logits, 1)
    k = logits.shape[1]
    dice = 0.0
    for i in range(k):
        t = (labels == i).to(logits.dtype)
        inter = torch.sum(p[:, i] * t)
        y = torch.sum(t * t)
        z = torch.sum(p[:, i] * p[:, i])
        dice = dice + (1 - (2 * inter + 1e-5) / (z + y + 1e-5))
    dice = dice / k
    return 0.5 * ce + 0.5 * dice, ce, dice
