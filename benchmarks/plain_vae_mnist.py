"""A plain-PyTorch VAE loop with the PyTorch examples' MNIST set-up, for a side-by-side timing.

    python benchmarks/plain_vae_mnist.py [--data-root DIR] [--epochs 10]

MLP 784-400-20, Bernoulli decoder (binary cross-entropy on grey pixels in [0, 1]), Adam 1e-3,
batch 128, all 60,000 training images preloaded as one float tensor and shuffled each epoch,
fp32. Nothing of genlab's trainer is used: this is the baseline that `genlab bench vae-mnist`
is compared with on the same machine. Prints one JSON line.
"""

import argparse
import json
import time

import torch
import torch.nn.functional as F
from torch import nn

from genlab.data import load_dataset


class PlainVAE(nn.Module):
    def __init__(self):
        super().__init__()
        self.enc = nn.Linear(784, 400)
        self.mu = nn.Linear(400, 20)
        self.logvar = nn.Linear(400, 20)
        self.dec1 = nn.Linear(20, 400)
        self.dec2 = nn.Linear(400, 784)

    def forward(self, x):
        h = F.relu(self.enc(x))
        mu, logvar = self.mu(h), self.logvar(h)
        z = mu + torch.randn_like(mu) * torch.exp(0.5 * logvar)
        return self.dec2(F.relu(self.dec1(z))), mu, logvar


def loss_fn(logits, x, mu, logvar):
    bce = F.binary_cross_entropy_with_logits(logits, x, reduction="sum")
    kld = -0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar.exp())
    return bce + kld


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--data-root")
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args()
    data = load_dataset("mnist", root=args.data_root, val_size=0)
    train = data.train.images.float().div(255).view(-1, 784)
    test = data.test.images.float().div(255).view(-1, 784)
    torch.manual_seed(args.seed)
    model = PlainVAE()
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    start = time.perf_counter()
    for _ in range(args.epochs):
        for idx in torch.randperm(len(train)).split(128):
            x = train[idx]
            logits, mu, logvar = model(x)
            loss = loss_fn(logits, x, mu, logvar) / len(x)
            opt.zero_grad()
            loss.backward()
            opt.step()
    wall = time.perf_counter() - start
    with torch.no_grad():
        logits, mu, logvar = model(test)
        test_loss = float(loss_fn(logits, test, mu, logvar)) / len(test)
    print(json.dumps({"name": "plain-vae-mnist", "test_neg_elbo_nats": round(test_loss, 3),
                      "s_per_epoch": round(wall / args.epochs, 3), "epochs": args.epochs}))


if __name__ == "__main__":
    main()
