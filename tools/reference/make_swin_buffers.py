"""Writes torchvision's derived Swin buffers (relative_position_index for ws 7 and 8, V2's
relative_coords_table for ws 8) to tests/fixtures/swin_buffers.safetensors, for the engine's test."""
import os
import sys

import numpy as np
from torchvision.models import swin_transformer as tv

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from safetensors_io import write_safetensors  # noqa: E402

v1 = tv.ShiftedWindowAttention(32, [7, 7], [3, 3], 1)
v2 = tv.ShiftedWindowAttentionV2(32, [8, 8], [4, 4], 1)
out = os.path.join(os.path.dirname(__file__), "..", "..", "tests", "fixtures", "swin_buffers.safetensors")
write_safetensors(out, {
    "v1.relative_position_index": v1.relative_position_index.numpy().astype(np.int32),
    "v2.relative_position_index": v2.relative_position_index.numpy().astype(np.int32),
    "v2.relative_coords_table": v2.relative_coords_table.numpy(),
})
print("wrote", os.path.normpath(out))
