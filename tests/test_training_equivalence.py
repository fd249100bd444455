"""Training equivalence on real data: a network mixing grouped and padding-mode convolutions, batch norm,
ReLU, max pooling, a transposed convolution and linear layers, started from torch's weights and fed the
same mini-batches of scikit-learn's digits, follows torch's trajectory step by step under SGD (momentum,
Nesterov, dampening, weight decay, a StepLR schedule), Adam and AdamW: per-step losses, final weights and
batch-norm statistics agree (float64 to ~1e-9, float32 to ~1e-4 of each tensor's largest element).

The hyper-parameters keep float32 away from discrete events (a max-pool or ReLU decision flipped by
rounding), where torch's own float32 run leaves its float64 run."""

import numpy as np
import pytest
import torch
from sklearn.datasets import load_digits

import npconv
import npconv.nn.functional as F
from npconv import nn

STEPS = 16
BATCH_SIZE = 32


def build(framework):
    """The same architecture in torch or npconv (identical constructor calls)."""
    layers = framework.nn
    return layers.Sequential(
        layers.Conv2d(1, 8, 3, padding=1, padding_mode="reflect", bias=False),  # 8 × 8 × 8
        layers.BatchNorm2d(8),
        layers.ReLU(),
        layers.Conv2d(8, 12, 3, padding=1, groups=4, padding_mode="circular"),  # 12 × 8 × 8
        layers.ReLU(),
        layers.MaxPool2d(2),  # 12 × 4 × 4
        layers.ConvTranspose2d(12, 6, 2, stride=2, groups=3, bias=False),  # 6 × 8 × 8
        layers.BatchNorm2d(6),
        layers.ReLU(),
        layers.Conv2d(6, 8, 3, stride=2, padding=1, padding_mode="replicate"),  # 8 × 4 × 4
        layers.ReLU(),
        layers.Flatten(),
        layers.Linear(128, 32),
        layers.ReLU(),
        layers.Linear(32, 10),
    )


@pytest.fixture(scope="module")
def digits():
    data = load_digits()
    images = (data.images / 16.0)[:, None]
    order = np.random.default_rng(0).permutation(len(images))[: STEPS * BATCH_SIZE]
    return images[order], data.target[order].astype(np.int64)


def make_optimizers(name, ours_params, theirs_params):
    if name == "sgd-nesterov":
        kwargs = {"lr": 0.1, "momentum": 0.9, "nesterov": True, "weight_decay": 1e-3}
    elif name == "sgd-dampened":
        kwargs = {"lr": 0.25, "momentum": 0.8, "dampening": 0.2, "weight_decay": 5e-4}
    elif name == "adam":
        kwargs = {"lr": 3e-3, "weight_decay": 1e-4}
    else:
        kwargs = {"lr": 3e-3, "weight_decay": 0.05, "amsgrad": True}
    optimizer_class = {"adam": "Adam", "adamw": "AdamW"}.get(name, "SGD")
    ours = getattr(npconv.optim, optimizer_class)(ours_params, **kwargs)
    theirs = getattr(torch.optim, optimizer_class)(theirs_params, **kwargs)
    schedulers = []
    if name == "sgd-dampened":
        schedulers = [
            npconv.optim.lr_scheduler.StepLR(ours, step_size=5, gamma=0.5),
            torch.optim.lr_scheduler.StepLR(theirs, step_size=5, gamma=0.5),
        ]
    return ours, theirs, schedulers


@pytest.mark.parametrize("optimizer_name", ["sgd-nesterov", "sgd-dampened", "adam", "adamw"])
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_training_follows_torch(digits, optimizer_name, dtype):
    images, labels = digits
    images = images.astype(dtype)
    rtol, atol = (1e-9, 1e-12) if dtype == "float64" else (1e-4, 1e-6)
    torch.manual_seed(0)
    theirs_model = build(torch).to(getattr(torch, dtype))
    ours_model = build(npconv).to(getattr(npconv, dtype))
    ours_model.load_state_dict({key: value.detach().numpy().copy() for key, value in theirs_model.state_dict().items()})
    ours_optimizer, theirs_optimizer, schedulers = make_optimizers(
        optimizer_name, ours_model.parameters(), theirs_model.parameters()
    )
    ours_losses, theirs_losses = [], []
    for step in range(STEPS):
        batch = slice(step * BATCH_SIZE, (step + 1) * BATCH_SIZE)
        ours_optimizer.zero_grad()
        ours_loss = F.cross_entropy(ours_model(npconv.tensor(images[batch])), npconv.tensor(labels[batch]))
        ours_loss.backward()
        ours_optimizer.step()
        theirs_optimizer.zero_grad()
        theirs_loss = torch.nn.functional.cross_entropy(theirs_model(torch.tensor(images[batch])), torch.tensor(labels[batch]))
        theirs_loss.backward()
        theirs_optimizer.step()
        for scheduler in schedulers:
            scheduler.step()
        ours_losses.append(ours_loss.item())
        theirs_losses.append(theirs_loss.item())
    np.testing.assert_allclose(ours_losses, theirs_losses, rtol=rtol, atol=atol)
    assert np.mean(theirs_losses[-4:]) < np.mean(theirs_losses[:4]) - 0.05  # the network did learn
    ours_state, theirs_state = ours_model.state_dict(), theirs_model.state_dict()
    assert list(ours_state) == list(theirs_state)
    for key, value in theirs_state.items():
        # relative to the tensor's largest element: Adam's update of an element whose gradient is
        # all rounding noise is itself noise of the order of lr·1e-3 in float32
        scale = max(float(np.abs(value.numpy()).max()), 1.0 if value.dtype == torch.int64 else 0.0)
        np.testing.assert_allclose(ours_state[key].numpy(), value.numpy(), rtol=rtol, atol=rtol * scale, err_msg=key)
    with torch.no_grad(), npconv.no_grad():
        ours_model.eval()
        theirs_model.eval()
        held_out = images[:64]
        np.testing.assert_allclose(
            ours_model(npconv.tensor(held_out)).numpy(), theirs_model(torch.tensor(held_out)).numpy(), rtol=rtol, atol=atol * 10
        )
    assert isinstance(ours_model, nn.Module)
