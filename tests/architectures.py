"""Classic architectures written once and built with either framework: ``build(npconv, "resnet18")`` and
``build(torch, "resnet18")`` give the same layers with the same names (torchvision's), so shapes and
parameter counts can be compared layer by layer.

Also the same stacks as ``npconv shape`` SPEC strings (``ALEXNET_FEATURES_SPEC``, ``VGG11_SPEC``).
"""

from __future__ import annotations

from types import ModuleType
from typing import Any

from npconv.benchmark import resnet18  # the benchmark's network, built with either library

VGG11_CONFIG = [64, "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"]

# torchvision's documented parameter counts (independent of both implementations)
RESNET18_PARAMS = 11_689_512
VGG11_PARAMS = 132_863_336
ALEXNET_FEATURES_PARAMS = 2_469_696

ALEXNET_FEATURES_SPEC = (
    "Conv2d(3, 64, kernel_size=11, stride=4, padding=2); ReLU(); MaxPool2d(kernel_size=3, stride=2); "
    "Conv2d(64, 192, kernel_size=5, padding=2); ReLU(); MaxPool2d(kernel_size=3, stride=2); "
    "Conv2d(192, 384, kernel_size=3, padding=1); ReLU(); Conv2d(384, 256, kernel_size=3, padding=1); ReLU(); "
    "Conv2d(256, 256, kernel_size=3, padding=1); ReLU(); MaxPool2d(kernel_size=3, stride=2)"
)


def _vgg_feature_calls(config: list[Any]) -> list[str]:
    calls, channels = [], 3
    for item in config:
        if item == "M":
            calls.append("MaxPool2d(kernel_size=2, stride=2)")
        else:
            calls += [f"Conv2d({channels}, {item}, kernel_size=3, padding=1)", "ReLU(inplace=True)"]
            channels = item
    return calls


VGG11_SPEC = "; ".join(
    _vgg_feature_calls(VGG11_CONFIG)
    + [
        "AdaptiveAvgPool2d((7, 7))",
        "Flatten()",
        "Linear(25088, 4096)",
        "ReLU(True)",
        "Dropout()",
        "Linear(4096, 4096)",
        "ReLU(True)",
        "Dropout()",
        "Linear(4096, 1000)",
    ]
)


def build(lib: ModuleType, name: str, **options: Any) -> Any:
    """``lib`` is ``npconv`` or ``torch``; ``name`` one of resnet18, vgg11, vgg11_cifar, unet, alexnet_features."""
    nn = lib.nn

    class DoubleConv(nn.Sequential):
        def __init__(self, in_channels: int, out_channels: int) -> None:
            super().__init__(
                nn.Conv2d(in_channels, out_channels, 3, padding=1, bias=False),
                nn.BatchNorm2d(out_channels),
                nn.ReLU(inplace=True),
                nn.Conv2d(out_channels, out_channels, 3, padding=1, bias=False),
                nn.BatchNorm2d(out_channels),
                nn.ReLU(inplace=True),
            )

    class UNet(nn.Module):
        """A U-Net (Ronneberger et al.) with 'same' 3×3 convs: depth 3, widths base·(1, 2, 4, 8)."""

        def __init__(self, in_channels: int = 1, classes: int = 2, base: int = 8) -> None:
            super().__init__()
            widths = [base, base * 2, base * 4, base * 8]
            self.inc = DoubleConv(in_channels, widths[0])
            self.down1, self.down2, self.down3 = (DoubleConv(widths[i], widths[i + 1]) for i in range(3))
            self.pool = nn.MaxPool2d(2)
            self.up3 = nn.ConvTranspose2d(widths[3], widths[2], 2, stride=2)
            self.dec3 = DoubleConv(widths[3], widths[2])
            self.up2 = nn.ConvTranspose2d(widths[2], widths[1], 2, stride=2)
            self.dec2 = DoubleConv(widths[2], widths[1])
            self.up1 = nn.ConvTranspose2d(widths[1], widths[0], 2, stride=2)
            self.dec1 = DoubleConv(widths[1], widths[0])
            self.head = nn.Conv2d(widths[0], classes, 1)

        def forward(self, x: Any) -> Any:
            x1 = self.inc(x)
            x2 = self.down1(self.pool(x1))
            x3 = self.down2(self.pool(x2))
            x4 = self.down3(self.pool(x3))
            y = self.dec3(lib.cat([self.up3(x4), x3], 1))
            y = self.dec2(lib.cat([self.up2(y), x2], 1))
            y = self.dec1(lib.cat([self.up1(y), x1], 1))
            return self.head(y)

    def vgg11_features() -> Any:
        layers: list[Any] = []
        channels = 3
        for item in VGG11_CONFIG:
            if item == "M":
                layers.append(nn.MaxPool2d(kernel_size=2, stride=2))
            else:
                layers += [nn.Conv2d(channels, item, kernel_size=3, padding=1), nn.ReLU(inplace=True)]
                channels = item
        return nn.Sequential(*layers)

    def vgg11(num_classes: int = 1000) -> Any:
        """torchvision's VGG-11: features, AdaptiveAvgPool2d((7, 7)), a 4096-4096 classifier."""
        classifier = nn.Sequential(
            nn.Linear(512 * 7 * 7, 4096),
            nn.ReLU(True),
            nn.Dropout(),
            nn.Linear(4096, 4096),
            nn.ReLU(True),
            nn.Dropout(),
            nn.Linear(4096, num_classes),
        )
        return nn.Sequential(vgg11_features(), nn.AdaptiveAvgPool2d((7, 7)), nn.Flatten(), classifier)

    def vgg11_cifar(num_classes: int = 10) -> Any:
        """VGG-11's features with the CIFAR classifier (one Linear on the 512×1×1 map of a 32×32 input)."""
        return nn.Sequential(vgg11_features(), nn.Flatten(), nn.Linear(512, num_classes))

    def alexnet_features() -> Any:
        return nn.Sequential(
            nn.Conv2d(3, 64, kernel_size=11, stride=4, padding=2),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(kernel_size=3, stride=2),
            nn.Conv2d(64, 192, kernel_size=5, padding=2),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(kernel_size=3, stride=2),
            nn.Conv2d(192, 384, kernel_size=3, padding=1),
            nn.ReLU(inplace=True),
            nn.Conv2d(384, 256, kernel_size=3, padding=1),
            nn.ReLU(inplace=True),
            nn.Conv2d(256, 256, kernel_size=3, padding=1),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(kernel_size=3, stride=2),
        )

    builders = {
        "resnet18": lambda **kwargs: resnet18(lib, **kwargs),
        "unet": UNet,
        "vgg11": vgg11,
        "vgg11_cifar": vgg11_cifar,
        "alexnet_features": alexnet_features,
    }
    return builders[name](**options)
