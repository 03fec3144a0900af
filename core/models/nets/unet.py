"""Seed 002's B-Cir U-Net: skip connections through separable-convolution blocks.

The encoder is timm's `features_only` EfficientNet-Lite0 (ImageNet) up to stride 16,
which keeps the weights small; each skip passes through three separable 3x3 conv +
batch-norm + ReLU layers before it meets the transposed-convolution decoder; dropout 0.1,
a 1x1 convolution and a sigmoid give the lesion probability of every pixel.
"""

from __future__ import annotations

import torch
from torch import nn


class SeparableBlock(nn.Module):
    def __init__(self, channels: int, depth: int = 3) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        for _ in range(depth):
            layers += [nn.Conv2d(channels, channels, 3, padding=1, groups=channels, bias=False), nn.Conv2d(channels, channels, 1, bias=False), nn.BatchNorm2d(channels), nn.ReLU(inplace=True)]
        self.body = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)


class UpBlock(nn.Module):
    def __init__(self, in_ch: int, skip_ch: int, out_ch: int, dropout: float) -> None:
        super().__init__()
        self.up = nn.ConvTranspose2d(in_ch, out_ch, 2, stride=2)
        self.skip = SeparableBlock(skip_ch)
        self.drop = nn.Dropout2d(dropout)
        self.conv = nn.Sequential(nn.Conv2d(out_ch + skip_ch, out_ch, 3, padding=1, bias=False), nn.BatchNorm2d(out_ch), nn.ReLU(inplace=True))

    def forward(self, x: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
        return self.conv(self.drop(torch.cat([self.up(x), self.skip(skip)], 1)))


class BCirUNet(nn.Module):
    def __init__(self, backbone: str = "tf_efficientnet_lite0", out_indices: tuple[int, ...] = (0, 1, 2, 3), dropout: float = 0.1, width: int = 32) -> None:
        super().__init__()
        import timm

        self.encoder = timm.create_model(backbone, pretrained=False, features_only=True, out_indices=out_indices)
        chs = self.encoder.feature_info.channels()  # strides 2, 4, 8, 16
        last_stage = max(self.encoder.feature_info.module_name(i).count("blocks") and int(self.encoder.feature_info.module_name(i).split(".")[1]) for i in range(len(chs)))
        self.encoder.blocks = self.encoder.blocks[: last_stage + 1]  # stages past the deepest skip are never used
        self.bottleneck = nn.Sequential(nn.Conv2d(chs[-1], width * 4, 3, padding=1, bias=False), nn.BatchNorm2d(width * 4), nn.ReLU(inplace=True))
        ups, c = [], width * 4
        for skip_ch in reversed(chs[:-1]):
            out = max(width, c // 2)
            ups.append(UpBlock(c, skip_ch, out, dropout))
            c = out
        self.ups = nn.ModuleList(ups)
        self.final_up = nn.ConvTranspose2d(c, width // 2, 2, stride=2)
        self.out = nn.Conv2d(width // 2, 1, 1)
        nn.init.constant_(self.out.bias, -3.0)  # lesions cover ~1 % of pixels: start near that prior, not at 0.5

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits (B x 1 x H x W); the sigmoid is applied by the loss and at inference."""
        feats = self.encoder(x)
        h = self.bottleneck(feats[-1])
        for up, skip in zip(self.ups, reversed(feats[:-1])):
            h = up(h, skip)
        return self.out(torch.relu(self.final_up(h)))


def load_encoder_imagenet(net: BCirUNet) -> None:
    """ImageNet Lite0 weights into the features_only encoder (same key names as timm's model)."""
    from core.models.backends.pretrained import efficientnet_lite0_state_dict, find_lite0_weights

    path = find_lite0_weights()
    if path is None:
        raise FileNotFoundError("EfficientNet-Lite0 ImageNet weights not found")
    state = efficientnet_lite0_state_dict(path)
    own = net.encoder.state_dict()
    usable = {k: v for k, v in state.items() if k in own and own[k].shape == v.shape}
    missing = [k for k in own if k not in usable and not k.endswith("num_batches_tracked")]
    if missing:
        raise ValueError(f"ImageNet weights miss encoder keys: {missing[:5]}")
    net.encoder.load_state_dict(usable, strict=False)
